/**
 * The engine's observer port (src/engine/metrics.ts), on a real engine and store with a manual
 * clock: every flushed commit is reported once with its size, every creation and transition
 * with its queue, the lease wait measured from the run's entry into READY, each attempt's
 * duration with its outcome — and nothing of a command that failed.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { EngineObserver } from "../../../src/engine/engine.js";
import { leaseRequest, openTestEngine, spec, submission, type TestEngine } from "../../support/engine.js";

interface Seen {
  commits: Array<{ commands: number; verbs: number; ms: number }>;
  created: string[];
  transitions: string[];
  leased: Array<[string, number]>;
  attempts: Array<[string, string, number]>;
}

function recorder(): { seen: Seen; observer: EngineObserver } {
  const seen: Seen = { commits: [], created: [], transitions: [], leased: [], attempts: [] };
  return {
    seen,
    observer: {
      commit: (commands, verbs, ms) => seen.commits.push({ commands, verbs, ms }),
      created: (queue, state) => seen.created.push(`${queue}:${state}`),
      transition: (queue, from, to) => seen.transitions.push(`${queue}:${from}->${to}`),
      leased: (queue, ms) => seen.leased.push([queue, ms]),
      attemptEnded: (queue, outcome, ms) => seen.attempts.push([queue, outcome, ms]),
    },
  };
}

let t: TestEngine | null = null;
afterEach(async () => {
  await t?.cleanup();
  t = null;
});

describe("engine observer", () => {
  it("reports creations, transitions, lease waits and attempt durations of committed work", async () => {
    const { seen, observer } = recorder();
    t = await openTestEngine({ observer });
    const e = t.engine;
    await e.submitTasks([submission(spec({ queue: "emails" })), submission(spec({ queue: "emails" })), submission(spec({ queue: "billing" }))], { batch: true });
    expect(seen.created.sort()).toEqual(["billing:READY", "emails:READY", "emails:READY"]);
    expect(seen.commits).toHaveLength(1);
    expect(seen.commits[0]?.commands).toBe(1);
    expect(seen.commits[0]?.verbs).toBeGreaterThanOrEqual(6); // 3 tasks + 3 runs at least

    t.clock.advance(250);
    const lease = await e.leaseRuns(leaseRequest({ queues: ["emails"], startAttempt: true }));
    expect(lease.grants).toHaveLength(2);
    expect(seen.leased).toEqual([
      ["emails", 250],
      ["emails", 250],
    ]);
    t.clock.advance(1_500);
    const [a, b] = lease.grants;
    const done = (g: typeof a, outcome: "SUCCESS" | "TERMINAL_FAILURE") => ({ runId: g!.run.id, token: g!.lease.token, attemptId: g!.attempt!.id, outcome, output: new Uint8Array(), error: outcome === "SUCCESS" ? "" : "no" });
    await e.completeAttempts([done(a, "SUCCESS"), done(b, "TERMINAL_FAILURE")]);
    expect(seen.attempts.sort()).toEqual([
      ["emails", "SUCCESS", 1_500],
      ["emails", "TERMINAL_FAILURE", 1_500],
    ]);
    expect(seen.transitions.sort()).toEqual(["emails:LEASED->RUNNING", "emails:LEASED->RUNNING", "emails:READY->LEASED", "emails:READY->LEASED", "emails:RUNNING->COMPLETED", "emails:RUNNING->FAILED"]);
    // Every report matches the engine's own counts.
    const counts = e.stats(["emails"]).queues[0]?.counts;
    expect(counts).toMatchObject({ READY: 0, LEASED: 0, RUNNING: 0, COMPLETED: 1, FAILED: 1 });
  });

  it("reports nothing of a command that failed, and a commit only when something was written", async () => {
    const { seen, observer } = recorder();
    t = await openTestEngine({ observer });
    await expect(t.engine.cancelRun("0190b6a4-0000-7000-8000-000000000001" as never)).rejects.toMatchObject({ reason: "RUN_NOT_FOUND" });
    const empty = await t.engine.leaseRuns(leaseRequest({ queues: ["nothing-here"] }));
    expect(empty.grants).toHaveLength(0);
    expect(seen).toEqual({ commits: [], created: [], transitions: [], leased: [], attempts: [] });
  });

  it("measures the lease wait from the run's last entry into READY (a released lease starts it again)", async () => {
    const { seen, observer } = recorder();
    t = await openTestEngine({ observer });
    const e = t.engine;
    await e.submitTasks([submission(spec({ queue: "q" }))]);
    t.clock.advance(100);
    const [g] = (await e.leaseRuns(leaseRequest({ queues: ["q"] }))).grants;
    t.clock.advance(5_000);
    await e.releaseLease(g!.run.id, g!.lease.token);
    t.clock.advance(40);
    await e.leaseRuns(leaseRequest({ queues: ["q"] }));
    expect(seen.leased).toEqual([
      ["q", 100],
      ["q", 40],
    ]);
    expect(seen.transitions).toEqual(["q:READY->LEASED", "q:LEASED->READY", "q:READY->LEASED"]);
  });

  it("keeps the engine working when the observer throws", async () => {
    t = await openTestEngine({
      observer: {
        commit: () => {
          throw new Error("exporter broke");
        },
        created() {},
        transition() {},
        leased() {},
        attemptEnded() {},
      },
    });
    const [r] = await t.engine.submitTasks([submission(spec({ queue: "q" }))]);
    expect(r?.task.id).toBeTruthy();
    expect(t.engine.stats(["q"]).queues[0]?.counts.READY).toBe(1);
  });
});
