/**
 * Storage quota: past it, submissions fail with STORAGE_QUOTA while leases, heartbeats,
 * completions, cancels, reads and purges keep working, so the system drains itself back.
 */
import { afterEach, describe, expect, it } from "vitest";
import { EngineError } from "../../../src/engine/errors.js";
import { openTestEngine, spec, type TestEngine } from "../../support/engine.js";

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

describe("storage quota", () => {
  it("refuses submissions past the quota but lets work drain, then accepts again after a purge", async () => {
    t = await openTestEngine({ storageQuotaBytes: 600_000, retentionMs: 1_000 });
    const { engine, clock } = t;
    const payload = { data: new Uint8Array(20_000).fill(1), contentType: "application/octet-stream" };
    let accepted = 0;
    let refusal: EngineError | undefined;
    for (let i = 0; i < 200 && !refusal; i++) {
      try {
        await engine.submitTask({ taskId: null, spec: spec({ payload }) });
        accepted++;
      } catch (e) {
        if (!EngineError.is(e)) throw e;
        refusal = e;
      }
      clock.advance(1_100); // the engine re-measures usage at most once a second
    }
    expect(refusal?.reason).toBe("STORAGE_QUOTA");
    expect(Number(refusal?.metadata.used_bytes)).toBeGreaterThanOrEqual(600_000);
    expect(accepted).toBeGreaterThan(5);
    // Everything but submissions still works: lease, heartbeat, complete, cancel, read.
    const leased = await engine.leaseRuns({ queues: ["default"], workerId: "w", capabilities: [], maxRuns: 1_000, leaseDurationMs: 30_000, waitMs: 0, startAttempt: true });
    expect(leased.grants.length).toBe(accepted);
    const [hb] = await engine.heartbeat([{ runId: leased.grants[0]?.run.id as never, token: leased.grants[0]?.lease.token as never, extendByMs: null }]);
    expect(hb?.ok).toBe(true);
    const [g0, ...rest] = leased.grants;
    if (!g0) throw new Error("no grants");
    await engine.cancelRun(g0.run.id);
    const done = await engine.completeAttempts(
      rest.map((g) => ({ runId: g.run.id, token: g.lease.token, attemptId: g.attempt?.id as never, outcome: "SUCCESS" as const, output: new Uint8Array(0), error: "" })),
    );
    expect(done.every((d) => d.ok)).toBe(true);
    expect(engine.reader.counts("default").COMPLETED).toBe(accepted - 1);
    // Purge the finished work; usage falls under the quota and submissions are accepted again.
    clock.advance(10_000);
    const purged = await engine.purge();
    expect(purged.runs).toBe(accepted);
    expect(purged.tasks).toBe(accepted);
    clock.advance(1_100);
    await expect(engine.submitTask({ taskId: null, spec: spec({ payload }) })).resolves.toMatchObject({ created: true });
  });
});
