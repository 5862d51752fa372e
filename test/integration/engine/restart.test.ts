/**
 * Restart equivalence: random command sequences (fast-check) applied to a real engine, then
 * close and reopen: the same tasks, runs, attempts, key holders, leases and revision, the
 * same in-memory ready index, and a consistent store.
 */
import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import type { LeaseToken } from "../../../src/domain/ids.js";
import type { Engine } from "../../../src/engine/engine.js";
import { EngineError } from "../../../src/engine/errors.js";
import { LmdbStore } from "../../../src/storage/lmdb/store.js";
import { openTestEngine, spec } from "../../support/engine.js";
import { checkStore, snapshot } from "../../support/invariants.js";

type Cmd =
  | { op: "submit"; key: string | null; slots: number; hold: boolean; repeat: number; maxAttempts: number; priority: number }
  | { op: "lease"; max: number; start: boolean }
  | { op: "start"; i: number }
  | { op: "complete"; i: number; outcome: "SUCCESS" | "TERMINAL_FAILURE" | "RETRYABLE_FAILURE" | "TIMEOUT" | "SUSPENDED" }
  | { op: "cancelRun"; i: number }
  | { op: "cancelTask"; i: number }
  | { op: "resume"; i: number }
  | { op: "release"; i: number }
  | { op: "advance"; ms: number }
  | { op: "pauseQueue" | "resumeQueue" };

const arbCmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    op: fc.constant("submit" as const),
    key: fc.option(fc.constantFrom("a", "b"), { nil: null }),
    slots: fc.integer({ min: 1, max: 2 }),
    hold: fc.boolean(),
    repeat: fc.integer({ min: 1, max: 3 }),
    maxAttempts: fc.integer({ min: 1, max: 3 }),
    priority: fc.integer({ min: -2, max: 2 }),
  }),
  fc.record({ op: fc.constant("lease" as const), max: fc.integer({ min: 1, max: 4 }), start: fc.boolean() }),
  fc.record({ op: fc.constant("start" as const), i: fc.nat() }),
  fc.record({
    op: fc.constant("complete" as const),
    i: fc.nat(),
    outcome: fc.constantFrom("SUCCESS", "TERMINAL_FAILURE", "RETRYABLE_FAILURE", "TIMEOUT", "SUSPENDED" as const),
  }),
  fc.record({ op: fc.constant("cancelRun" as const), i: fc.nat() }),
  fc.record({ op: fc.constant("cancelTask" as const), i: fc.nat() }),
  fc.record({ op: fc.constant("resume" as const), i: fc.nat() }),
  fc.record({ op: fc.constant("release" as const), i: fc.nat() }),
  fc.record({ op: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
  fc.record({ op: fc.constantFrom("pauseQueue" as const, "resumeQueue" as const) }),
);

interface Held {
  runId: string;
  token: string;
  attemptId: string | null;
}

async function apply(engine: Engine, clockAdvance: (ms: number) => void, cmds: readonly Cmd[]): Promise<void> {
  const held: Held[] = [];
  const at = <T>(xs: T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);
  const ignore = (e: unknown) => {
    if (!EngineError.is(e)) throw e;
  };
  for (const c of cmds) {
    switch (c.op) {
      case "submit":
        await engine
          .submitTask({
            taskId: null,
            spec: spec({
              policy: { kind: "REPEAT", count: c.repeat, intervalMs: 5_000, startAt: null },
              metadata: { priority: c.priority, tags: [], description: "" },
              constraints: {
                maxAttempts: c.maxAttempts,
                backoff: { kind: "FIXED", intervalMs: 10_000 },
                concurrency: c.key ? { key: c.key, slots: c.slots, holdPolicy: c.hold ? "HOLD_DURING_RETRY" : "RELEASE_ON_RETRY" } : null,
              },
            }),
          })
          .catch(ignore);
        break;
      case "lease": {
        const r = await engine
          .leaseRuns({ queues: ["default"], workerId: "w", capabilities: [], maxRuns: c.max, leaseDurationMs: 30_000, waitMs: 0, startAttempt: c.start })
          .catch((e) => (ignore(e), null));
        for (const g of r?.grants ?? []) held.push({ runId: g.run.id, token: g.lease.token, attemptId: g.attempt?.id ?? null });
        break;
      }
      case "start": {
        const h = at(held, c.i);
        if (h && !h.attemptId) {
          const s = await engine.startAttempt(h.runId as never, h.token as LeaseToken).catch((e) => (ignore(e), null));
          if (s) h.attemptId = s.attempt.id;
        }
        break;
      }
      case "complete": {
        const h = at(held, c.i);
        if (h?.attemptId) {
          await engine.completeAttempts([
            { runId: h.runId as never, token: h.token as LeaseToken, attemptId: h.attemptId as never, outcome: c.outcome, output: new Uint8Array(0), error: "x" },
          ]);
        }
        break;
      }
      case "cancelRun": {
        const ids = engine.reader.runIds();
        const id = at(ids, c.i);
        if (id) await engine.cancelRun(id).catch(ignore);
        break;
      }
      case "cancelTask": {
        const ids = engine.reader.taskIds({});
        const id = at(ids, c.i);
        if (id) await engine.cancelTask(id).catch(ignore);
        break;
      }
      case "resume": {
        const ids = engine.reader.runIdsByState("default", "SUSPENDED");
        const id = at(ids, c.i);
        if (id) await engine.resumeRun(id).catch(ignore);
        break;
      }
      case "release": {
        const h = at(held, c.i);
        if (h) await engine.releaseLease(h.runId as never, h.token as LeaseToken).catch(ignore);
        break;
      }
      case "advance":
        clockAdvance(c.ms);
        await engine.tick();
        break;
      case "pauseQueue":
        await engine.pauseQueue("default");
        break;
      case "resumeQueue":
        await engine.resumeQueue("default");
        break;
    }
  }
}

const stats = { events: 0 };

describe("restart equivalence", () => {
  fcTest.prop([fc.array(arbCmd, { minLength: 20, maxLength: 80, size: "max" })], { numRuns: 25 })(
    "a reopened engine has the same tasks, runs, attempts, key holders, leases, revision and ready index",
    async (cmds) => {
      let t = await openTestEngine();
      try {
        await apply(t.engine, (ms) => t.clock.advance(ms), cmds);
        stats.events += t.engine.revision;
        const before = { revision: t.engine.revision, ready: t.engine.readyIndexed, stats: t.engine.stats() };
        await t.engine.close();
        const raw = await LmdbStore.open({ path: t.dir });
        const snapBefore = snapshot(raw);
        expect(checkStore(raw)).toEqual([]);
        await raw.close();
        t = await openTestEngine({ dir: t.dir, clock: t.clock });
        expect(t.engine.revision).toBe(before.revision);
        expect(t.engine.readyIndexed).toBe(before.ready);
        expect(t.engine.stats().queues).toEqual(before.stats.queues);
        await t.engine.close();
        const raw2 = await LmdbStore.open({ path: t.dir });
        expect(snapshot(raw2)).toEqual(snapBefore);
        await raw2.close();
        t = await openTestEngine({ dir: t.dir, clock: t.clock });
        // And the reopened engine keeps working from there.
        await apply(t.engine, (ms) => t.clock.advance(ms), cmds.slice(0, 10));
      } finally {
        await t.cleanup();
      }
    },
  );

  it("the random sequences above did real work", () => {
    // 25 sequences of 20-80 commands: far more than a few events in total.
    expect(stats.events).toBeGreaterThan(200);
  });

  it("the consistency checker detects a partial write (it can fail)", async () => {
    const t = await openTestEngine();
    try {
      const r = await t.engine.submitTask({ taskId: null, spec: spec() });
      await t.engine.close();
      const raw = await LmdbStore.open({ path: t.dir });
      const run = r.runs[0];
      if (!run) throw new Error("no run");
      // A run record changed without its state index: what a torn commit would leave.
      await raw.dbs.runs.put(run.id, { ...run, state: "LEASED" });
      expect(checkStore(raw).length).toBeGreaterThan(0);
      await raw.close();
    } finally {
      await t.cleanup().catch(() => {});
    }
  });
});
