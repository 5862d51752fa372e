/**
 * The overview charts' minute buckets (ui/src/series.ts): counting finished runs per queue
 * and minute inside a 15-minute window, pruning, the series with the failure rate, and the
 * backfill start revision.
 */
import { describe, expect, it } from "vitest";
import { addOutcome, backfillStart, type Buckets, minuteOf, prune, series, totals, WINDOW_MINUTES, windowStart } from "../../../ui/src/series.js";

const MIN = 60_000;
const NOW = 1_700_000_000_000 + 30_000; // half a minute into a minute

describe("minute buckets", () => {
  it("counts completions and failures per queue and minute", () => {
    const b: Buckets = new Map();
    expect(addOutcome(b, "a", "completed", NOW - 1000, NOW)).toBe(true);
    expect(addOutcome(b, "a", "completed", NOW - 2000, NOW)).toBe(true);
    expect(addOutcome(b, "a", "failed", NOW - 3 * MIN, NOW)).toBe(true);
    expect(addOutcome(b, "b", "failed", NOW, NOW)).toBe(true);
    expect(b.get("a")?.get(minuteOf(NOW))).toEqual({ completed: 2, failed: 0 });
    expect(b.get("a")?.get(minuteOf(NOW - 3 * MIN))).toEqual({ completed: 0, failed: 1 });
    expect(b.get("b")?.get(minuteOf(NOW))).toEqual({ completed: 0, failed: 1 });
  });

  it("ignores events older than the window or far in the future", () => {
    const b: Buckets = new Map();
    expect(addOutcome(b, "a", "completed", NOW - WINDOW_MINUTES * MIN, NOW)).toBe(false);
    expect(addOutcome(b, "a", "completed", NOW + 5 * MIN, NOW)).toBe(false);
    expect(addOutcome(b, "a", "completed", (windowStart(NOW) + 0) * MIN, NOW)).toBe(true);
    expect(b.get("a")?.size).toBe(1);
  });

  it("prunes minutes that left the window and queues left empty", () => {
    const b: Buckets = new Map();
    addOutcome(b, "a", "completed", NOW - 10 * MIN, NOW);
    addOutcome(b, "b", "completed", NOW, NOW);
    prune(b, NOW + 6 * MIN);
    expect(b.has("a")).toBe(false);
    expect(b.get("b")?.size).toBe(1);
  });
});

describe("series", () => {
  it("has one point per minute of the window, oldest first, zeros where nothing happened", () => {
    const s = series(new Map(), "none", NOW);
    expect(s.minutes).toHaveLength(WINDOW_MINUTES);
    expect(s.minutes[WINDOW_MINUTES - 1]).toBe(minuteOf(NOW) * 60);
    expect(s.minutes[0]).toBe((minuteOf(NOW) - WINDOW_MINUTES + 1) * 60);
    expect(s.completed.every((c) => c === 0)).toBe(true);
    expect(s.failureRate.every((r) => r === null)).toBe(true);
  });

  it("computes the failure rate as FAILED / (COMPLETED + FAILED) per minute", () => {
    const b: Buckets = new Map();
    for (let i = 0; i < 3; i++) addOutcome(b, "a", "completed", NOW, NOW);
    addOutcome(b, "a", "failed", NOW, NOW);
    addOutcome(b, "a", "failed", NOW - MIN, NOW);
    const s = series(b, "a", NOW);
    expect(s.completed.at(-1)).toBe(3);
    expect(s.failed.at(-1)).toBe(1);
    expect(s.failureRate.at(-1)).toBe(25);
    expect(s.failureRate.at(-2)).toBe(100);
    expect(s.failureRate.at(-3)).toBeNull();
    expect(totals(s)).toEqual({ completed: 3, failed: 2, failureRate: 40 });
    expect(totals(series(b, "other", NOW))).toEqual({ completed: 0, failed: 0, failureRate: null });
  });
});

describe("backfill start", () => {
  it("starts 50,000 revisions back, or at the oldest retained revision, never below 1", () => {
    expect(backfillStart(1n, 200_000n)).toBe(150_000n);
    expect(backfillStart(180_000n, 200_000n)).toBe(180_000n);
    expect(backfillStart(1n, 10n)).toBe(1n);
    expect(backfillStart(0n, 0n)).toBe(1n);
    expect(backfillStart(5n, 100n, 10n)).toBe(90n);
  });
});
