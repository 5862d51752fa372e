import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { parseCron } from "../../../src/cron/croner-schedule.js";
import {
  type CronSchedule,
  deriveOnce,
  deriveRepeat,
  firstCronCursor,
  planMisfire,
  refillCronWindow,
} from "../../../src/domain/derive.js";
import { MAX_TIME_MS } from "../../../src/domain/time.js";

/** Fires every `step` ms from 0: a schedule simple enough to reason about in tests. */
function every(step: number): CronSchedule {
  return { nextAfter: (after) => (Math.floor(after / step) + 1) * step };
}

const H = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

describe("once", () => {
  it("derives exactly one run at start_at", () => {
    expect(deriveOnce(5_000)).toEqual({ ok: true, value: [5_000] });
  });
  it("rejects an instant out of range", () => {
    expect(deriveOnce(MAX_TIME_MS + 1).ok).toBe(false);
    expect(deriveOnce(-1).ok).toBe(false);
  });
});

describe("repeat", () => {
  it("derives count runs at start + i * interval", () => {
    expect(deriveRepeat(3, 1_000, 10_000, 10_000)).toEqual({ ok: true, value: [10_000, 11_000, 12_000] });
  });

  it("derives count runs at the same instant with interval 0", () => {
    expect(deriveRepeat(4, 0, 7, 10)).toEqual({ ok: true, value: [7, 7, 7, 7] });
  });

  it("rejects a schedule whose last run would overflow, before deriving anything", () => {
    expect(deriveRepeat(2, MAX_TIME_MS, 1, 10)).toMatchObject({ ok: false, error: { reason: "SCHEDULE_OVERFLOW" } });
    expect(deriveRepeat(10_000, Number.MAX_SAFE_INTEGER, 0, 10_000)).toMatchObject({ ok: false, error: { reason: "SCHEDULE_OVERFLOW" } });
  });

  it("accepts a last run exactly at the maximum instant", () => {
    const r = deriveRepeat(2, MAX_TIME_MS - 1, 1, 10);
    expect(r.ok && r.value).toEqual([1, MAX_TIME_MS]);
  });

  it("rejects counts outside [1, max] and negative or fractional intervals", () => {
    expect(deriveRepeat(0, 1, 0, 10)).toMatchObject({ ok: false, error: { reason: "REPEAT_COUNT_OUT_OF_RANGE" } });
    expect(deriveRepeat(11, 1, 0, 10)).toMatchObject({ ok: false, error: { reason: "REPEAT_COUNT_OUT_OF_RANGE" } });
    expect(deriveRepeat(-5, 1, 0, 10)).toMatchObject({ ok: false, error: { reason: "REPEAT_COUNT_OUT_OF_RANGE" } });
    expect(deriveRepeat(2, -1, 0, 10)).toMatchObject({ ok: false, error: { reason: "INVALID_INTERVAL" } });
    expect(deriveRepeat(2, 0.5, 0, 10)).toMatchObject({ ok: false, error: { reason: "INVALID_INTERVAL" } });
  });

  fcTest.prop([fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 0, max: 10 * 365 * 86_400_000 }), fc.integer({ min: 0, max: MAX_TIME_MS })])(
    "yields exactly count strictly spaced runs, or a refusal with nothing derived",
    (count, interval, start) => {
      const r = deriveRepeat(count, interval, start, 10_000);
      if (r.ok) {
        expect(r.value).toHaveLength(count);
        r.value.forEach((t, i) => expect(t).toBe(start + i * interval));
        expect(r.value.at(-1)).toBeLessThanOrEqual(MAX_TIME_MS);
      } else {
        expect(r.error.reason).toBe("SCHEDULE_OVERFLOW");
        expect(start + (count - 1) * interval).toBeGreaterThan(MAX_TIME_MS);
      }
    },
  );
});

describe("cron (croner adapter)", () => {
  it("reads the expression in the task's time zone", () => {
    const paris = parseCron("0 9 * * *", "Europe/Paris");
    if (!paris.ok) throw new Error(paris.error);
    // 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer.
    expect(iso(paris.value.nextAfter(Date.UTC(2026, 0, 10)) as number)).toBe("2026-01-10T08:00:00.000Z");
    expect(iso(paris.value.nextAfter(Date.UTC(2026, 6, 10)) as number)).toBe("2026-07-10T07:00:00.000Z");
  });

  it("skips the missing hour of a spring-forward DST change for interval jobs", () => {
    const s = parseCron("30 * * * *", "Europe/Paris");
    if (!s.ok) throw new Error(s.error);
    // 2026-03-29 02:00 local does not exist in Paris: 01:30 local (00:30Z) is followed by 03:30 local (01:30Z).
    expect(iso(s.value.nextAfter(Date.UTC(2026, 2, 29, 0, 30)) as number)).toBe("2026-03-29T01:30:00.000Z");
  });

  it("accepts 6-field expressions with seconds and nicknames", () => {
    const s = parseCron("*/15 * * * * *", "UTC");
    expect(s.ok && iso(s.value.nextAfter(Date.UTC(2026, 0, 1, 0, 0, 1)) as number)).toBe("2026-01-01T00:00:15.000Z");
    const d = parseCron("@hourly", "UTC");
    expect(d.ok && iso(d.value.nextAfter(Date.UTC(2026, 0, 1, 0, 5)) as number)).toBe("2026-01-01T01:00:00.000Z");
  });

  it.each([
    ["61 * * * *", "UTC", /minute/],
    ["* * * *", "UTC", /five, six/],
    ["0 0 * * *", "Mars/Olympus", /time zone/],
    ["0 0 30 2 *", "UTC", /never/],
    ["", "UTC", /empty/],
    ["not a cron", "UTC", /./],
  ])("rejects %j in %s with the parser's message", (expr, tz, message) => {
    const r = parseCron(expr, tz);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });
});

describe("cron window", () => {
  it("starts at the first occurrence at or after start_at", () => {
    expect(firstCronCursor(every(H), 2 * H)).toEqual({ nextAt: 2 * H, derived: 0 });
    expect(firstCronCursor(every(H), 2 * H + 1)).toEqual({ nextAt: 3 * H, derived: 0 });
  });

  it("derives up to the window size and no more", () => {
    const r = refillCronWindow(every(H), { nextAt: H, derived: 0 }, 0, 3, 0);
    expect(r.times).toEqual([H, 2 * H, 3 * H]);
    expect(r.cursor).toEqual({ nextAt: 4 * H, derived: 3 });
  });

  it("tops the window up as runs leave it", () => {
    const r = refillCronWindow(every(H), { nextAt: 4 * H, derived: 3 }, 2, 3, 0);
    expect(r.times).toEqual([4 * H]);
    expect(refillCronWindow(every(H), r.cursor, 3, 3, 0).times).toEqual([]);
  });

  it("stops at max_occurrences", () => {
    let c = { nextAt: H, derived: 0 } as ReturnType<typeof firstCronCursor>;
    const all: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = refillCronWindow(every(H), c, 0, 2, 5);
      all.push(...r.times);
      c = r.cursor;
    }
    expect(all).toEqual([H, 2 * H, 3 * H, 4 * H, 5 * H]);
  });

  it("stops when the schedule ends", () => {
    const twice: CronSchedule = { nextAfter: (a) => (a < 10 ? 10 : a < 20 ? 20 : null) };
    const r = refillCronWindow(twice, firstCronCursor(twice, 0), 0, 5, 0);
    expect(r.times).toEqual([10, 20]);
    expect(r.cursor.nextAt).toBeNull();
  });
});

describe("misfire policies after an outage", () => {
  // Hourly task; runs at 1h, 2h, 3h were derived (window 3); the service was down until 6.5h.
  const overdue = [
    { runId: "r1", scheduledAt: H },
    { runId: "r2", scheduledAt: 2 * H },
    { runId: "r3", scheduledAt: 3 * H },
  ];
  const cursor = { nextAt: 4 * H, derived: 3 };
  const now = 6.5 * H;

  it("CATCH_UP keeps every overdue run and derives the missed occurrences", () => {
    expect(planMisfire("CATCH_UP", every(H), overdue, cursor, now, 0, 1_000)).toEqual({
      keep: ["r1", "r2", "r3"],
      cancel: [],
      derive: [4 * H, 5 * H, 6 * H],
      cursor: { nextAt: 7 * H, derived: 6 },
      skipped: 0,
    });
  });

  it("CATCH_UP derives at most the catch-up limit and counts the rest as skipped", () => {
    const p = planMisfire("CATCH_UP", every(H), overdue, cursor, now, 0, 2);
    expect(p.derive).toEqual([4 * H, 5 * H]);
    expect(p.skipped).toBe(1);
    expect(p.cursor).toEqual({ nextAt: 7 * H, derived: 5 });
  });

  it("SKIP cancels every overdue run and derives none of the missed ones", () => {
    expect(planMisfire("SKIP", every(H), overdue, cursor, now, 0, 1_000)).toEqual({
      keep: [],
      cancel: ["r1", "r2", "r3"],
      derive: [],
      cursor: { nextAt: 7 * H, derived: 3 },
      skipped: 3,
    });
  });

  it("COALESCE keeps one run for the window: the latest missed occurrence", () => {
    expect(planMisfire("COALESCE", every(H), overdue, cursor, now, 0, 1_000)).toEqual({
      keep: [],
      cancel: ["r1", "r2", "r3"],
      derive: [6 * H],
      cursor: { nextAt: 7 * H, derived: 4 },
      skipped: 2,
    });
  });

  it("COALESCE keeps the latest overdue run when nothing underived was missed", () => {
    const p = planMisfire("COALESCE", every(H), overdue, cursor, 3.5 * H, 0, 1_000);
    expect(p).toEqual({ keep: ["r3"], cancel: ["r1", "r2"], derive: [], cursor, skipped: 0 });
  });

  it("respects max_occurrences while catching up", () => {
    const p = planMisfire("CATCH_UP", every(H), overdue, cursor, now, 4, 1_000);
    expect(p.derive).toEqual([4 * H]);
    expect(p.cursor.derived).toBe(4);
  });

  it("does nothing when nothing is overdue", () => {
    for (const policy of ["CATCH_UP", "SKIP", "COALESCE"] as const) {
      expect(planMisfire(policy, every(H), [], cursor, 3.9 * H, 0, 1_000)).toEqual({
        keep: [],
        cancel: [],
        derive: [],
        cursor,
        skipped: 0,
      });
    }
  });
});
