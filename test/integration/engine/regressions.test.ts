/** Regressions found while testing the engine; each names the rule it protects. */
import { afterEach, describe, expect, it } from "vitest";
import { openTestEngine, spec, submission, type TestEngine } from "../../support/engine.js";

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const lease2 = { queues: ["default"], workerId: "w1", capabilities: [], maxRuns: 2, leaseDurationMs: 30_000, waitMs: 0, startAttempt: true };

describe("engine regressions", () => {
  it("keeps a cron task's window rolling when its upcoming runs are canceled one by one (SPEC §3)", async () => {
    t = await openTestEngine();
    const { engine, clock } = t;
    clock.set(Date.UTC(2026, 0, 1, 0, 0, 30));
    const s = await engine.submitTask(
      submission(spec({ policy: { kind: "CRON", expression: "* * * * *", timeZone: "UTC", maxOccurrences: 0, misfire: "CATCH_UP", startAt: null } })),
    );
    for (const id of engine.reader.runIdsOfTask(s.task.id)) await engine.cancelRun(id);
    // Each cancel refilled the window: 3 canceled + 3 upcoming.
    const runs = engine.reader.runIdsOfTask(s.task.id).map((id) => engine.reader.getRun(id));
    expect(runs.filter((r) => r?.state === "SCHEDULED")).toHaveLength(3);
    expect(engine.reader.nextDue()).toBeDefined();
    for (let m = 1; m <= 10; m++) {
      clock.set(Date.UTC(2026, 0, 1, 0, m));
      await engine.tick();
    }
    expect(engine.reader.runIdsOfTask(s.task.id).length).toBeGreaterThan(6);
  });

  it("treats a lease as lost once it expired, even before the expiry timer fired", async () => {
    t = await openTestEngine();
    const { engine, clock } = t;
    await engine.submitTasks([submission(spec({ constraints: { maxAttempts: 2 } })), submission(spec({ constraints: { maxAttempts: 2 } }))]);
    const [a, b] = (await engine.leaseRuns(lease2)).grants;
    if (!a?.attempt || !b) throw new Error("no grants");
    clock.advance(30_001); // expired; no tick yet
    const [c] = await engine.completeAttempts([
      { runId: a.run.id, token: a.lease.token, attemptId: a.attempt.id, outcome: "SUCCESS", output: new Uint8Array(0), error: "" },
    ]);
    expect(c?.ok === false && c.error.reason).toBe("LEASE_LOST");
    const [h] = await engine.heartbeat([{ runId: b.run.id, token: b.lease.token, extendByMs: null }]);
    expect(h?.ok === false && h.error.reason).toBe("LEASE_LOST");
    await expect(engine.releaseLease(b.run.id, b.lease.token)).rejects.toMatchObject({ reason: "LEASE_LOST" });
    await engine.tick();
    expect(engine.reader.getRun(a.run.id)?.state).toBe("RETRY_WAIT");
  });

  it.each([Number.NaN, 1e20, -5, 999, 3_600_001])("refuses a heartbeat extension of %s ms with INVALID_ARGUMENT on extend_by", async (ms) => {
    t = await openTestEngine();
    const { engine } = t;
    await engine.submitTask(submission(spec()));
    const g = (await engine.leaseRuns(lease2)).grants[0];
    if (!g) throw new Error("no grant");
    const [h] = await engine.heartbeat([{ runId: g.run.id, token: g.lease.token, extendByMs: ms }]);
    expect(h?.ok).toBe(false);
    if (h && !h.ok) {
      expect(h.error.reason).toBe("INVALID_ARGUMENT");
      expect(h.error.violations[0]?.field).toBe("extend_by");
    }
    expect(engine.reader.getLease(g.run.id)?.expiresAt).toBe(g.lease.expiresAt);
  });
});
