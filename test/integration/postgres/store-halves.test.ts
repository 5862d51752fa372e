/**
 * The PostgreSQL store halves (src/storage/postgres/writer.ts, reader.ts) on a real cluster:
 * - differential: the engine runs a varied scenario over a MemoryStore whose every commit is
 *   also applied to PostgreSQL (differential.ts); at several points every StoreReader query
 *   answered by the memory reader must equal PgReader's answer (usedBytes excepted);
 * - direct: a stale `prev` is refused with StaleWriteError and leaves nothing; a failing verb
 *   mid-list leaves nothing of the list; commitVerbs while the server is down rejects with
 *   STORAGE_IO and works again after.
 * Skipped, saying why, only when PostgreSQL is not installed.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunId, TaskId } from "../../../src/domain/ids.js";
import { Engine, type LeaseGrant } from "../../../src/engine/engine.js";
import { EngineError } from "../../../src/engine/errors.js";
import type { StoreVerb } from "../../../src/engine/ports.js";
import { MemoryStore } from "../../../src/storage/memory/memory-store.js";
import { poolConfig } from "../../../src/storage/postgres/codec.js";
import { migrate } from "../../../src/storage/postgres/migrate.js";
import { PgReader } from "../../../src/storage/postgres/reader.js";
import { StaleWriteError, commitVerbs } from "../../../src/storage/postgres/writer.js";
import { ManualClock } from "../../support/clock.js";
import { leaseRequest, seededRandom, spec, submission } from "../../support/engine.js";
import { sequentialIds } from "../../support/ids.js";
import { HAVE_POSTGRES, type PostgresCluster, startPostgres, warnWithoutPostgres } from "../../support/postgres.js";
import { createRun, createTask, dropTimer, eventRec, runRec, taskRec, updateRun } from "../../contract/records.js";
import { MirrorStore, compareReaders } from "./differential.js";

warnWithoutPostgres("store-halves.test.ts");

const MIN = 60_000;
const HOUR = 60 * MIN;

let cluster: PostgresCluster;
const pools: pg.Pool[] = [];

async function freshPool(name: string): Promise<pg.Pool> {
  const url = await cluster.createDatabase(name);
  const pool = new pg.Pool(poolConfig({ connectionString: url, max: 4 }));
  pool.on("error", () => undefined); // idle clients dropped by a restart: the next query reconnects
  pools.push(pool);
  await migrate(pool);
  return pool;
}

beforeAll(async () => {
  if (HAVE_POSTGRES) cluster = await startPostgres();
}, 180_000);

afterAll(async () => {
  for (const p of pools) await p.end().catch(() => undefined);
  await cluster?.stop();
});

describe.skipIf(!HAVE_POSTGRES)("store halves: engine traffic, memory vs PostgreSQL", () => {
  it("answers every StoreReader query as the memory store does, throughout a varied scenario", async () => {
    const pool = await freshPool("differential");
    const store = new MirrorStore(MemoryStore.open(), pool);
    const pgr = new PgReader(pool);
    const clock = new ManualClock();
    const engine = await Engine.open({
      store,
      clock,
      ids: sequentialIds(),
      random: seededRandom(7),
      autoTimers: false,
      retentionMs: HOUR,
      dedupWindowMs: 2 * HOUR,
    });
    const compare = async (when: string) => {
      const bad = await compareReaders(store.memory.reader, pgr, store.seen, clock.now());
      expect(bad, `${when}: ${bad.length} answers differ`).toEqual([]);
      expect(store.failures).toEqual([]);
    };
    try {
      // Queue settings, then tasks of every kind.
      await engine.setQueueRateLimit("rated", 5, 10);
      await engine.pauseQueue("paused");
      const key = (k: string, slots = 1) => ({ key: k, slots, holdPolicy: "HOLD_DURING_RETRY" as const });
      const sub = async (s: Parameters<typeof spec>[0]) => (await engine.submitTask(submission(spec(s)))).task.id;
      const a = await sub({ metadata: { priority: 5, tags: ["x"], description: "a" } });
      const k1 = await sub({ constraints: { concurrency: key("k1") } });
      const k2 = await sub({ constraints: { concurrency: key("k1") } });
      const k3 = await sub({ constraints: { concurrency: { ...key("k2", 2), holdPolicy: "RELEASE_ON_RETRY" } } });
      await sub({ policy: { kind: "REPEAT", count: 3, intervalMs: MIN, startAt: null } });
      await sub({ policy: { kind: "CRON", expression: "*/5 * * * *", timeZone: "UTC", maxOccurrences: 0, misfire: "SKIP", startAt: null } });
      const dep = await sub({ dependsOn: [a] });
      const parent = await sub({ metadata: { priority: 1, tags: [], description: "parent" } });
      await sub({ parentTaskId: parent });
      await sub({ parentTaskId: parent, policy: { kind: "ONCE", startAt: clock.now() + 10 * MIN } });
      const retry = await sub({ constraints: { maxAttempts: 3, backoff: { kind: "FIXED", intervalMs: 10_000 } } });
      const fail = await sub({ metadata: { priority: 2, tags: [], description: "" } });
      await sub({ constraints: { requiredCapabilities: ["gpu"] } });
      await sub({ queue: "rated" });
      await sub({ queue: "paused" });
      await sub({ queue: "other", constraints: { attemptTimeoutMs: 5_000 } });
      await sub({ queue: "other", payload: { data: new Uint8Array([0, 1, 255, 0]), contentType: "application/octet-stream" } });
      await compare("after submitting");

      // Leases, attempts, heartbeats, completions of every kind.
      const leased = await engine.leaseRuns(leaseRequest({ maxRuns: 20, startAttempt: true, capabilities: ["gpu"] }));
      const grantOf = (t: TaskId): LeaseGrant | undefined => leased.grants.find((g) => g.task.id === t);
      const complete = async (t: TaskId, outcome: "SUCCESS" | "RETRYABLE_FAILURE" | "TERMINAL_FAILURE" | "SUSPENDED") => {
        const g = grantOf(t);
        if (!g?.attempt) return;
        await engine.completeAttempts([{ runId: g.run.id, token: g.lease.token, attemptId: g.attempt.id, outcome, output: new Uint8Array([7, 8]), error: outcome === "SUCCESS" ? "" : "boom" }]);
      };
      await engine.heartbeat(leased.grants.slice(0, 2).map((g) => ({ runId: g.run.id, token: g.lease.token, extendByMs: 60_000 })));
      await complete(a, "SUCCESS");
      await complete(retry, "RETRYABLE_FAILURE");
      await complete(fail, "TERMINAL_FAILURE");
      await complete(k1, "SUCCESS");
      await complete(k3, "SUSPENDED");
      const other = await engine.leaseRuns(leaseRequest({ queues: ["other"], workerId: "w2", startAttempt: false, maxRuns: 1 }));
      const t0 = other.grants[0];
      if (t0) await engine.startAttempt(t0.run.id, t0.lease.token);
      const other2 = await engine.leaseRuns(leaseRequest({ queues: ["other"], workerId: "w2", startAttempt: false, maxRuns: 1 }));
      const r0 = other2.grants[0];
      if (r0) await engine.releaseLease(r0.run.id, r0.lease.token);
      await compare("after leasing and completing");

      // Run and task commands, queue and engine settings.
      // The same submission again (idempotent: nothing new), then a cancel of a key holder's run.
      const resubmitted = await engine.submitTask(submission(spec({ constraints: { concurrency: key("k1") } }), k2));
      expect(resubmitted.created).toBe(false);
      const k2run = store.memory.reader.runIdsOfTask(k2)[0] as RunId;
      await engine.cancelRun(k2run);
      const depRuns = store.memory.reader.runIdsOfTask(dep);
      const suspended = store.memory.reader.runIdsOfTask(k3)[0] as RunId;
      if (store.memory.reader.getRun(suspended)?.state === "SUSPENDED") await engine.resumeRun(suspended);
      await engine.setRunPriority(store.memory.reader.runIdsByState("paused", "READY")[0] as RunId, 9);
      const running = store.memory.reader.runIdsByState("default", "RUNNING");
      expect(running.length).toBeGreaterThan(1);
      await engine.suspendRun(running[0] as RunId, "hold on");
      expect(depRuns.length).toBeGreaterThan(0);
      await engine.cancelTask(parent, "changed my mind");
      await engine.pauseEngine();
      await engine.resumeEngine();
      await engine.resumeQueue("paused");
      await engine.setQueueRateLimit("rated", 0, 0);
      await compare("after commands");

      // Timers: promotion, retry, attempt timeout, lease expiry, repeat and cron derivation.
      for (const step of [10_000, MIN, 5 * MIN, 11 * MIN]) {
        clock.advance(step);
        await engine.tick();
        const more = await engine.leaseRuns(leaseRequest({ queues: ["default", "other", "rated", "paused"], maxRuns: 3, startAttempt: true, leaseDurationMs: 20_000 }));
        const first = more.grants[0];
        if (first?.attempt) {
          await engine.completeAttempts([{ runId: first.run.id, token: first.lease.token, attemptId: first.attempt.id, outcome: "SUCCESS", output: new Uint8Array(), error: "" }]);
        }
      }
      clock.advance(HOUR);
      await engine.tick();
      await compare("after timers");

      // Retention: runs, events and tasks past the retention, then the reservations.
      clock.advance(2 * HOUR);
      await engine.tick();
      const purged = await engine.purge();
      expect(purged.runs).toBeGreaterThan(0);
      await compare("after the first purge");
      clock.advance(3 * HOUR);
      await engine.tick();
      const again = await engine.purge();
      expect(again.reservations + again.runs + again.tasks).toBeGreaterThan(0);
      await compare("after the second purge");
      // dropTimer is written only for a stale or failing timer: the direct test below covers it.
      for (const verb of ["createTask", "updateTask", "createRun", "updateRun", "saveQueue", "saveMeta", "purgeRun", "purgeTask", "purgeEvents", "releaseReservation"]) {
        expect(store.seen.verbs.get(verb as StoreVerb["verb"]) ?? 0, `verb ${verb} exercised`).toBeGreaterThan(0);
      }
    } finally {
      await engine.close();
    }
  }, 120_000);
});

describe.skipIf(!HAVE_POSTGRES)("store halves: direct", () => {
  it("drops one timer entry as the memory store does, and keeps it dropped while the run's due list stays", async () => {
    const pool = await freshPool("timers");
    const store = new MirrorStore(MemoryStore.open(), pool);
    const run = runRec(1, { revision: 1, due: [[5_000, "PROMOTE"], [6_000, "LEASE"]] });
    // With saveMeta, as the engine commits events: PostgreSQL's counter follows the events
    // too, the memory store's revision only saveMeta (docs/scaling.md "Store halves").
    await store.commit([createTask(taskRec(1)), createRun(run), { verb: "saveMeta", meta: { revision: 1, oldestRevision: 1, enginePaused: false } }]);
    await store.commit([dropTimer(5_000, "PROMOTE", run.id)]);
    await store.commit([updateRun(run, { stateReason: "same timers" })]);
    const pgr = new PgReader(pool);
    expect(await pgr.dueEntries(10_000, 10)).toEqual([{ at: 6_000, kind: "LEASE", runId: run.id }]);
    expect(await compareReaders(store.memory.reader, pgr, store.seen, 5_000)).toEqual([]);
    const moved = store.memory.reader.getRun(run.id) as typeof run;
    await store.commit([updateRun(moved, { due: [[7_000, "RETRY"]] })]);
    expect(await compareReaders(store.memory.reader, pgr, store.seen, 5_000)).toEqual([]);
    expect(store.failures).toEqual([]);
    await store.close();
  });

  it("refuses a stale prev with StaleWriteError and stores nothing of the commit", async () => {
    const pool = await freshPool("stale");
    const pgr = new PgReader(pool);
    const task = taskRec(1);
    const run = runRec(1, { taskId: task.id, revision: 1 });
    await commitVerbs(pool, [createTask(task), createRun(run, 1)]);
    const lease = updateRun(run, { state: "READY", revision: 2 });
    await commitVerbs(pool, [{ ...lease, event: eventRec(2, lease.run) }]);
    // Decided on `run` again: it changed since.
    const stale = updateRun(run, { state: "CANCELED", revision: 3 });
    const again = commitVerbs(pool, [createTask(taskRec(2)), { ...stale, event: eventRec(3, stale.run) }]);
    await expect(again).rejects.toBeInstanceOf(StaleWriteError);
    await expect(again).rejects.toThrow(/runs row .* changed or gone/);
    expect(await pgr.getRun(run.id)).toEqual(lease.run);
    expect(await pgr.getTask(taskRec(2).id)).toBeUndefined();
    expect((await pgr.meta()).revision).toBe(2);
    expect(await pgr.events(0, 10)).toHaveLength(2);
    const staleTask = commitVerbs(pool, [{ verb: "updateTask", task: { ...task, openRuns: 5 }, prev: { ...task, openRuns: 4 } }]);
    await expect(staleTask).rejects.toBeInstanceOf(StaleWriteError);
    expect(await pgr.getTask(task.id)).toEqual(task);
  });

  it("stores events and reads them back exactly, whatever their text", async () => {
    const pool = await freshPool("events_text");
    const pgr = new PgReader(pool);
    const task = taskRec(1);
    const run = runRec(1, { taskId: task.id, revision: 1 });
    const texts = ['he said "hi"', "back\\slash \\\"", "{braces}, (parens), 'quotes'", "ünïcödé 😀 \u0001", "NULL", ""];
    const events = texts.map((reason, i) => eventRec(2 + i, run, { reason }));
    await commitVerbs(pool, [createTask(task), createRun(run, 1)]);
    let prev = run;
    const verbs: StoreVerb[] = [];
    for (const e of events) {
      const next = { ...prev, revision: e.revision };
      verbs.push({ verb: "updateRun", run: next, prev, event: e, lease: null, attempt: null, keyHolder: null });
      prev = next;
    }
    await commitVerbs(pool, verbs);
    expect(await pgr.events(2, 100)).toEqual(events);
  });

  it("stores nothing of a list whose middle verb fails", async () => {
    const pool = await freshPool("midway");
    const pgr = new PgReader(pool);
    const t1 = taskRec(1);
    await commitVerbs(pool, [createTask(t1)]);
    // The second createTask repeats t1's id: a unique violation after t2 was written.
    const verbs: StoreVerb[] = [createTask(taskRec(2)), createTask(t1), createTask(taskRec(3))];
    const err = await commitVerbs(pool, verbs).catch((e: unknown) => e);
    expect(EngineError.is(err, "STORAGE_IO")).toBe(true);
    expect(await pgr.taskIds({})).toEqual([t1.id]);
    expect(await pgr.taskCount()).toBe(1);
  });

  it("rejects with STORAGE_IO while the server is down and works again after", async () => {
    const pool = await freshPool("down");
    const pgr = new PgReader(pool);
    await commitVerbs(pool, [createTask(taskRec(1))]);
    await cluster.restart("fast", async () => {
      const err = await commitVerbs(pool, [createTask(taskRec(2))]).catch((e: unknown) => e);
      expect(EngineError.is(err, "STORAGE_IO"), String(err)).toBe(true);
    });
    // A client checked out across the restart may fail once more (pg does not check it).
    let ok = false;
    for (let i = 0; i < 5 && !ok; i++) {
      ok = await commitVerbs(pool, [createTask(taskRec(3))]).then(
        () => true,
        (e: unknown) => {
          expect(EngineError.is(e, "STORAGE_IO")).toBe(true);
          return false;
        },
      );
    }
    expect(ok).toBe(true);
    expect(await pgr.taskIds({})).toEqual([taskRec(1).id, taskRec(3).id]);
  }, 120_000);
});
