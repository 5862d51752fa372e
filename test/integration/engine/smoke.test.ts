import { afterEach, describe, expect, it } from "vitest";
import { openTestEngine, spec, submission, type TestEngine } from "../../support/engine.js";

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

describe("engine smoke", () => {
  it("submits, leases, starts and completes a run", async () => {
    t = await openTestEngine();
    const { engine } = t;
    const r = await engine.submitTask(submission(spec()));
    expect(r.created).toBe(true);
    expect(r.runs).toHaveLength(1);
    expect(r.runs[0]?.state).toBe("READY");
    const lease = await engine.leaseRuns({ queues: ["default"], workerId: "w1", capabilities: [], maxRuns: 5, leaseDurationMs: 30_000, waitMs: 0, startAttempt: false });
    expect(lease.grants).toHaveLength(1);
    const g = lease.grants[0]!;
    const started = await engine.startAttempt(g.run.id, g.lease.token);
    expect(started.run.state).toBe("RUNNING");
    const [done] = await engine.completeAttempts([
      { runId: g.run.id, token: g.lease.token, attemptId: started.attempt.id, outcome: "SUCCESS", output: new Uint8Array([1, 2]), error: "" },
    ]);
    expect(done?.ok).toBe(true);
    if (done?.ok) expect(done.value.run.state).toBe("COMPLETED");
    const task = engine.reader.getTask(r.task.id);
    expect(task?.status).toBe("COMPLETED");
    // CREATED (directly READY), LEASED, RUNNING, COMPLETED.
    expect(engine.revision).toBe(4);
  });
});
