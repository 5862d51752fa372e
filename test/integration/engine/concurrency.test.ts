/**
 * Concurrent workers: many lease calls at once never hand one run to two workers and never
 * exceed a key's slots; a zombie worker's completion after its lease was re-granted is
 * rejected with LEASE_LOST.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { EngineError } from "../../../src/engine/errors.js";
import { openTestEngine, spec, type TestEngine } from "../../support/engine.js";
import { checkStore } from "../../support/invariants.js";
import { LmdbStore } from "../../../src/storage/lmdb/store.js";

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

/** Bounds waits for something that must happen; only a hang reaches it, never a slow machine. */
const HANG_MS = 30_000;

const lease = (worker: string, maxRuns: number, durationMs = 30_000) => ({
  queues: ["default"],
  workerId: worker,
  capabilities: [],
  maxRuns,
  leaseDurationMs: durationMs,
  waitMs: 0,
  startAttempt: true,
});

describe("concurrent leasing", () => {
  it("never hands one run to two workers and never exceeds a key's slots", async () => {
    t = await openTestEngine();
    const { engine } = t;
    const keys = [
      { key: "single", slots: 1 },
      { key: "pair", slots: 2 },
      { key: "five", slots: 5 },
    ];
    const items = Array.from({ length: 300 }, (_, i) => {
      const k = i % 4 === 3 ? null : keys[i % 3];
      return {
        taskId: null,
        spec: spec({ constraints: { concurrency: k ? { ...k, holdPolicy: "HOLD_DURING_RETRY" as const } : null } }),
      };
    });
    for (let i = 0; i < items.length; i += 100) await engine.submitTasks(items.slice(i, i + 100));
    // 60 workers ask at once, several times over.
    const seen = new Map<string, string>();
    for (let wave = 0; wave < 3; wave++) {
      const results = await Promise.all(Array.from({ length: 60 }, (_, w) => engine.leaseRuns(lease(`w${wave}-${w}`, 1 + (w % 7)))));
      results.forEach((r, w) => {
        for (const g of r.grants) {
          expect(seen.has(g.run.id), `run ${g.run.id} handed out twice`).toBe(false);
          seen.set(g.run.id, `w${wave}-${w}`);
        }
      });
      for (const k of keys) {
        const holders = engine.reader.keyHolders(k.key);
        expect(holders.length).toBeLessThanOrEqual(k.slots);
      }
    }
    // Keyless runs all went out (75), plus exactly one slot-full of each key.
    expect(seen.size).toBe(75 + 1 + 2 + 5);
    expect(engine.reader.counts("default").RUNNING).toBe(seen.size);
    await engine.close();
    const raw = await LmdbStore.open({ path: t.dir });
    expect(checkStore(raw)).toEqual([]);
    await raw.close();
  });

  it("keeps other keys flowing while one key is full (no starvation)", async () => {
    t = await openTestEngine();
    const { engine } = t;
    // 50 high-priority runs of a single-flight key, then 5 low-priority runs of other keys.
    for (let i = 0; i < 50; i++) {
      await engine.submitTask({
        taskId: null,
        spec: spec({ metadata: { priority: 10, tags: [], description: "" }, constraints: { concurrency: { key: "hot", slots: 1, holdPolicy: "HOLD_DURING_RETRY" } } }),
      });
    }
    for (let i = 0; i < 5; i++) {
      await engine.submitTask({ taskId: null, spec: spec({ constraints: { concurrency: { key: `cold-${i}`, slots: 1, holdPolicy: "HOLD_DURING_RETRY" } } }) });
    }
    const r = await engine.leaseRuns(lease("w", 100));
    const keysOut = r.grants.map((g) => g.task.spec.constraints.concurrency?.key);
    expect(keysOut).toEqual(["hot", "cold-0", "cold-1", "cold-2", "cold-3", "cold-4"]);
  });

  it("rejects a zombie worker's completion after its lease expired and was re-granted", async () => {
    t = await openTestEngine();
    const { engine, clock } = t;
    await engine.submitTask({ taskId: null, spec: spec({ constraints: { maxAttempts: 3, backoff: { kind: "FIXED", intervalMs: 0 } } }) });
    const first = (await engine.leaseRuns(lease("zombie", 1, 5_000))).grants[0];
    if (!first?.attempt) throw new Error("no grant");
    clock.advance(6_000);
    await engine.tick(); // lease expired: attempt 1 TIMEOUT, RETRY_WAIT with 0 delay
    await engine.tick(); // retry due: READY
    const second = (await engine.leaseRuns(lease("fresh", 1))).grants[0];
    if (!second?.attempt) throw new Error("no second grant");
    expect(second.run.id).toBe(first.run.id);
    const [late] = await engine.completeAttempts([
      { runId: first.run.id, token: first.lease.token, attemptId: first.attempt.id, outcome: "SUCCESS", output: new Uint8Array(0), error: "" },
    ]);
    expect(late?.ok).toBe(false);
    if (late && !late.ok) {
      expect(late.error.reason).toBe("LEASE_LOST");
      expect(late.error.metadata.run_id).toBe(first.run.id);
    }
    await expect(engine.heartbeat([{ runId: first.run.id, token: first.lease.token, extendByMs: null }])).resolves.toMatchObject([
      { ok: false, error: { reason: "LEASE_LOST" } },
    ]);
    const [good] = await engine.completeAttempts([
      { runId: second.run.id, token: second.lease.token, attemptId: second.attempt.id, outcome: "SUCCESS", output: new Uint8Array(0), error: "" },
    ]);
    expect(good?.ok && good.value.run.state).toBe("COMPLETED");
    const attempts = engine.reader.attempts(first.run.id, 0, 10);
    expect(attempts.map((a) => [a.workerId, a.outcome])).toEqual([
      ["zombie", "TIMEOUT"],
      ["fresh", "SUCCESS"],
    ]);
  });

  it("serves concurrent commands of every kind without losing one", async () => {
    t = await openTestEngine();
    const { engine } = t;
    const submitted = await Promise.all(Array.from({ length: 100 }, () => engine.submitTask({ taskId: null, spec: spec() })));
    expect(new Set(submitted.map((s) => s.task.id)).size).toBe(100);
    const leases = await Promise.all(Array.from({ length: 20 }, (_, i) => engine.leaseRuns(lease(`w${i}`, 5))));
    const grants = leases.flatMap((l) => l.grants);
    expect(grants).toHaveLength(100);
    const done = await Promise.all(
      grants.map((g) =>
        engine.completeAttempts([
          { runId: g.run.id, token: g.lease.token, attemptId: g.attempt?.id as never, outcome: "SUCCESS", output: new Uint8Array(0), error: "" },
        ]),
      ),
    );
    expect(done.every(([d]) => d?.ok)).toBe(true);
    expect(engine.reader.counts("default").COMPLETED).toBe(100);
    expect(EngineError.is(new Error("x"))).toBe(false);
  });

  it("forgets a long poll as soon as its caller goes away (nothing leaks, nothing is leased to it)", async () => {
    t = await openTestEngine();
    const { engine } = t;
    const controllers = Array.from({ length: 50 }, () => new AbortController());
    const polls = controllers.map((ac, i) => engine.leaseRuns({ ...lease(`gone-${i}`, 1), waitMs: 60_000, signal: ac.signal }));
    await vi.waitFor(() => expect(engine.waitingWorkers).toBe(50), { timeout: HANG_MS, interval: 5 });
    for (const ac of controllers) ac.abort();
    const results = await Promise.all(polls);
    expect(results.every((r) => r.grants.length === 0)).toBe(true);
    expect(engine.waitingWorkers).toBe(0);
    await engine.submitTask({ taskId: null, spec: spec() });
    expect(engine.reader.counts("default").READY).toBe(1);
  });

  it("gives back at once a run leased for a caller that went away before the answer reached it", async () => {
    t = await openTestEngine();
    const { engine } = t;
    await engine.submitTask({ taskId: null, spec: spec() });
    const ac = new AbortController();
    const pending = engine.leaseRuns({ ...lease("leaving", 1), signal: ac.signal });
    ac.abort(); // gone while the lease is being committed
    expect((await pending).grants).toEqual([]);
    // The give-back is its own command; wait for it to land (however long that takes).
    await vi.waitFor(() => expect(engine.reader.counts("default").READY).toBe(1), { timeout: HANG_MS, interval: 5 });
    const next = await engine.leaseRuns(lease("stayer", 1));
    expect(next.grants).toHaveLength(1);
    // The given-back attempt does not count.
    expect(next.grants[0]?.run.countedAttempts).toBe(1);
  });
});
