/**
 * Regression tests for defects found by black-box trials (issue 7). Each failed before its
 * fix; the test name says the behaviour that now holds.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TaskId } from "../../../src/domain/ids.js";
import { MAX_ATTEMPT_COUNT } from "../../../src/domain/run.js";
import type { LeaseGrant, LeaseResult } from "../../../src/engine/engine.js";
import { EngineError } from "../../../src/engine/errors.js";
import { LmdbStore } from "../../../src/storage/lmdb/store.js";
import { TEST_STORE, leaseRequest, openTestEngine, spec, submission, type TestEngine } from "../../support/engine.js";
import { taskId } from "../../support/ids.js";

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const SEC = 1_000;
/** Bounds waits for something that must happen; only a hang reaches it, never a slow machine. */
const HANG_MS = 30_000;

async function leaseOne(engine: TestEngine["engine"], start = true): Promise<LeaseGrant> {
  const r = await engine.leaseRuns(leaseRequest({ maxRuns: 1, startAttempt: start }));
  expect(r.grants).toHaveLength(1);
  return r.grants[0] as LeaseGrant;
}

async function rejection(p: Promise<unknown>): Promise<EngineError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(EngineError.is(e), `expected an EngineError, got ${String(e)}`).toBe(true);
  return e as EngineError;
}

describe("misfire after restart", () => {
  it.each(["SKIP", "COALESCE"] as const)("applies %s to every cron task, whatever its position, before any timer fires", async (misfire) => {
    t = await openTestEngine();
    const ids: TaskId[] = [];
    for (let i = 0; i < 5; i++) {
      // Starts a second from now, so every derived run is SCHEDULED at submission.
      const policy = { kind: "CRON" as const, expression: "* * * * * *", timeZone: "UTC", maxOccurrences: 0, misfire, startAt: t.clock.now() + SEC };
      ids.push((await t.engine.submitTask(submission(spec({ policy })))).task.id);
    }
    await t.engine.close();
    t.clock.advance(5 * SEC);
    // Real timers on: before the fix, the first misfire commit armed the timer, which promoted
    // the overdue runs of the later tasks (CATCH_UP) before their own policy ran.
    t = await t.reopen({ autoTimers: true });
    // The misfire policies have run once reopen resolves; the pause only gives a wrongly armed
    // timer the chance to fire first. It cannot fail a correct engine on a slow machine.
    await new Promise((r) => setTimeout(r, 100));
    for (const id of ids) {
      const runs = t.engine.reader.runIdsOfTask(id).map((r) => t!.engine.reader.getRun(r)!);
      const promoted = runs.filter((r) => r.state === "READY");
      const missed = runs.filter((r) => r.state === "CANCELED" && r.stateReason === "MISSED");
      // SKIP promotes nothing overdue; COALESCE keeps exactly one run for the window.
      expect(promoted.length, `task ${id}`).toBe(misfire === "SKIP" ? 0 : 1);
      expect(missed.length, `task ${id}`).toBeGreaterThan(0);
    }
  });
});

describe("a waiting long poll gets a run that becomes eligible", () => {
  const WAITERS = 12;
  // The waits (real time) only bound a hang: a waiter is answered as soon as it gets a run.
  const WAIT = { waitMs: HANG_MS, maxRuns: 1 };

  async function waiters(engine: TestEngine["engine"], queue = "default"): Promise<Array<Promise<LeaseResult>>> {
    const polls = Array.from({ length: WAITERS }, (_, i) => engine.leaseRuns(leaseRequest({ ...WAIT, queues: [queue], workerId: `w${i}` })));
    // Every poll has made its first try and is waiting.
    await vi.waitFor(() => expect(engine.waitingWorkers).toBe(WAITERS), { timeout: HANG_MS, interval: 5 });
    return polls;
  }

  async function everyWaiterGotOne(polls: Array<Promise<LeaseResult>>): Promise<void> {
    const results = await Promise.all(polls);
    expect(results.map((r) => r.grants.length)).toEqual(Array(WAITERS).fill(1));
    expect(new Set(results.map((r) => r.grants[0]!.run.id)).size).toBe(WAITERS);
  }

  async function submitMany(engine: TestEngine["engine"], n: number, over: Parameters<typeof spec>[0] = {}) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await engine.submitTask(submission(spec(over))));
    return out;
  }

  it("from a submit", async () => {
    t = await openTestEngine();
    const polls = await waiters(t.engine);
    await submitMany(t.engine, WAITERS);
    await everyWaiterGotOne(polls);
  });

  it("from a promotion out of SCHEDULED", async () => {
    t = await openTestEngine();
    await submitMany(t.engine, WAITERS, { policy: { kind: "ONCE", startAt: t.clock.now() + SEC } });
    const polls = await waiters(t.engine);
    t.clock.advance(SEC);
    await t.engine.tick();
    await everyWaiterGotOne(polls);
  });

  it("from a retry wait that ended", async () => {
    t = await openTestEngine();
    await submitMany(t.engine, WAITERS, { constraints: { maxAttempts: 3, backoff: { kind: "FIXED", intervalMs: 50 } } });
    const grants = (await t.engine.leaseRuns(leaseRequest({ maxRuns: WAITERS, startAttempt: true }))).grants;
    await t.engine.completeAttempts(grants.map((g) => ({ runId: g.run.id, token: g.lease.token, attemptId: g.attempt!.id, outcome: "RETRYABLE_FAILURE" as const, output: new Uint8Array(), error: "x" })));
    const polls = await waiters(t.engine);
    t.clock.advance(50);
    await t.engine.tick();
    await everyWaiterGotOne(polls);
  });

  it("from a lapsed lease", async () => {
    t = await openTestEngine();
    await submitMany(t.engine, WAITERS);
    await t.engine.leaseRuns(leaseRequest({ maxRuns: WAITERS, leaseDurationMs: SEC }));
    const polls = await waiters(t.engine);
    t.clock.advance(SEC);
    await t.engine.tick();
    await everyWaiterGotOne(polls);
  });

  it("from a released lease", async () => {
    t = await openTestEngine();
    await submitMany(t.engine, WAITERS);
    const grants = (await t.engine.leaseRuns(leaseRequest({ maxRuns: WAITERS }))).grants;
    const polls = await waiters(t.engine);
    for (const g of grants) await t.engine.releaseLease(g.run.id, g.lease.token);
    await everyWaiterGotOne(polls);
  });

  it("from a key slot freed by another queue's run", async () => {
    t = await openTestEngine();
    // The holders run in queue "other"; the blocked runs wait in "default" on the same keys.
    for (let i = 0; i < WAITERS; i++) {
      await t.engine.submitTask(submission(spec({ queue: "other", constraints: { concurrency: { key: `k${i}`, slots: 1, holdPolicy: "HOLD_DURING_RETRY" } } })));
      await t.engine.submitTask(submission(spec({ constraints: { concurrency: { key: `k${i}`, slots: 1, holdPolicy: "HOLD_DURING_RETRY" } } })));
    }
    const holders = (await t.engine.leaseRuns(leaseRequest({ queues: ["other"], maxRuns: WAITERS, startAttempt: true }))).grants;
    expect(holders).toHaveLength(WAITERS);
    const polls = await waiters(t.engine);
    await t.engine.completeAttempts(holders.map((g) => ({ runId: g.run.id, token: g.lease.token, attemptId: g.attempt!.id, outcome: "SUCCESS" as const, output: new Uint8Array(), error: "" })));
    await everyWaiterGotOne(polls);
  });

  it("from a resumed run", async () => {
    t = await openTestEngine();
    await submitMany(t.engine, WAITERS);
    const grants = (await t.engine.leaseRuns(leaseRequest({ maxRuns: WAITERS, startAttempt: true }))).grants;
    for (const g of grants) await t.engine.suspendRun(g.run.id);
    const polls = await waiters(t.engine);
    for (const g of grants) await t.engine.resumeRun(g.run.id);
    await everyWaiterGotOne(polls);
  });

  it("from a resumed queue and a resumed engine", async () => {
    t = await openTestEngine();
    await t.engine.pauseQueue("default");
    await t.engine.pauseEngine();
    await submitMany(t.engine, WAITERS);
    const polls = await waiters(t.engine);
    await t.engine.resumeQueue("default");
    expect(t.engine.waitingWorkers).toBe(WAITERS);
    await t.engine.resumeEngine();
    await everyWaiterGotOne(polls);
  });

  it("from a rate-limit token", async () => {
    t = await openTestEngine();
    await t.engine.setQueueRateLimit("default", 100, 1);
    await submitMany(t.engine, WAITERS + 1);
    expect((await t.engine.leaseRuns(leaseRequest({ maxRuns: 1 }))).grants).toHaveLength(1);
    const polls = await waiters(t.engine);
    // One token every 10 ms of the manual clock (burst 1); the limiter's own timer wakes the
    // waiters. Each step makes exactly one token and waits until a waiter has taken it.
    for (let waiting = WAITERS; waiting > 0; waiting--) {
      t.clock.advance(10);
      await vi.waitFor(() => expect(t!.engine.waitingWorkers).toBe(waiting - 1), { timeout: HANG_MS, interval: 5 });
    }
    await everyWaiterGotOne(polls);
  });

  it("when the run became eligible in the same batch as the waiter's first try", async () => {
    t = await openTestEngine();
    // Ten queues, one worker each; each run becomes READY by a timer whose command lands in
    // the same group commit as the worker's first (empty) lease attempt.
    const queues = Array.from({ length: 10 }, (_, i) => `q${i}`);
    for (const q of queues) await t.engine.submitTask(submission(spec({ queue: q, policy: { kind: "ONCE", startAt: t.clock.now() + SEC } })));
    t.clock.advance(SEC);
    const polls = queues.map((q) => t!.engine.leaseRuns(leaseRequest({ queues: [q], waitMs: HANG_MS, maxRuns: 1 })));
    await t.engine.tick();
    const results = await Promise.all(polls);
    expect(results.map((r) => r.grants.length)).toEqual(Array(10).fill(1));
  });
});

describe("cron tasks", () => {
  it("have no next occurrence once max_occurrences runs were derived", async () => {
    t = await openTestEngine();
    const policy = { kind: "CRON" as const, expression: "* * * * *", timeZone: "UTC", maxOccurrences: 2, misfire: "CATCH_UP" as const, startAt: null };
    const r = await t.engine.submitTask(submission(spec({ policy })));
    expect(r.runs).toHaveLength(2);
    expect(r.task.cron).toEqual({ nextAt: null, derived: 2 });
    expect(t.engine.reader.getTask(r.task.id)?.cron?.nextAt).toBeNull();
  });
});

describe("a run whose attempt counter reached its limit", () => {
  // Sets the counter by rewriting the LMDB record directly: LMDB only.
  it.skipIf(TEST_STORE !== "lmdb").each(["RETRYABLE_FAILURE", "SUSPENDED"] as const)("ends FAILED with ATTEMPT_COUNT_EXHAUSTED after a %s outcome instead of being leased forever", async (outcome) => {
    t = await openTestEngine();
    const s = await t.engine.submitTask(submission(spec({ constraints: { maxAttempts: 3 } })));
    const id = s.runs[0]!.id;
    await t.engine.close();
    const raw = await LmdbStore.open({ path: t.dir });
    const stored = raw.reader.getRun(id)!;
    await raw.dbs.runs.put(id, { ...stored, attemptCount: MAX_ATTEMPT_COUNT - 1 });
    await raw.close();
    t = await t.reopen();
    const g = await leaseOne(t.engine);
    expect(g.run.attemptCount).toBe(MAX_ATTEMPT_COUNT);
    const [res] = await t.engine.completeAttempts([{ runId: id, token: g.lease.token, attemptId: g.attempt!.id, outcome, output: new Uint8Array(), error: "no" }]);
    expect(res?.ok).toBe(true);
    expect(t.engine.reader.getRun(id)).toMatchObject({ state: "FAILED", stateReason: "ATTEMPT_COUNT_EXHAUSTED" });
    expect(t.engine.reader.getTask(s.task.id)?.status).toBe("FAILED");
  });
});

describe("a heartbeat after the attempt timed out", () => {
  it("answers LEASE_LOST saying the attempt timed out", async () => {
    t = await openTestEngine();
    await t.engine.submitTask(submission(spec({ constraints: { attemptTimeoutMs: SEC, maxAttempts: 2 } })));
    const g = await leaseOne(t.engine);
    t.clock.advance(SEC);
    await t.engine.tick();
    const [hb] = await t.engine.heartbeat([{ runId: g.run.id, token: g.lease.token, extendByMs: null }]);
    expect(hb?.ok).toBe(false);
    const error = (hb as { ok: false; error: EngineError }).error;
    expect(error.reason).toBe("LEASE_LOST");
    expect(error.metadata).toMatchObject({ run_id: g.run.id, cause: "ATTEMPT_TIMEOUT" });
    // Completing with the same token says the same.
    const [done] = await t.engine.completeAttempts([{ runId: g.run.id, token: g.lease.token, attemptId: g.attempt!.id, outcome: "SUCCESS", output: new Uint8Array(), error: "" }]);
    expect(done?.ok === false && done.error.metadata.cause).toBe("ATTEMPT_TIMEOUT");
  });
});

describe("idempotency after purge", () => {
  it("keeps a purged task's id reserved for the deduplication window, across a restart, then frees it", async () => {
    t = await openTestEngine({ retentionMs: SEC, dedupWindowMs: 60 * SEC });
    const id = taskId(900);
    await t.engine.submitTask(submission(spec(), id));
    const g = await leaseOne(t.engine);
    await t.engine.completeAttempts([{ runId: g.run.id, token: g.lease.token, attemptId: g.attempt!.id, outcome: "SUCCESS", output: new Uint8Array(), error: "" }]);
    t.clock.advance(2 * SEC);
    const purged = await t.engine.purge();
    expect(purged).toMatchObject({ runs: 1, tasks: 1 });
    expect(t.engine.reader.getTask(id)).toBeUndefined();

    const again = await rejection(t.engine.submitTask(submission(spec(), id)));
    expect(again.reason).toBe("TASK_ID_RESERVED");
    expect(again.metadata.task_id).toBe(id);
    t = await t.reopen();
    expect((await rejection(t.engine.submitTask(submission(spec(), id)))).reason).toBe("TASK_ID_RESERVED");

    t.clock.advance(60 * SEC);
    expect((await t.engine.purge()).reservations).toBe(1);
    const fresh = await t.engine.submitTask(submission(spec(), id));
    expect(fresh.created).toBe(true);
  });
});

describe("the data directory", () => {
  it.each(["data.v2", "x.y.z"])("may have a dot in its last component (%s)", async (name) => {
    const parent = mkdtempSync(join(tmpdir(), "aq-dot-"));
    try {
      const path = join(parent, name);
      const store = await LmdbStore.open({ path });
      await store.close();
      expect(statSync(path).isDirectory()).toBe(true);
      expect(statSync(join(path, "data.mdb")).isFile()).toBe(true);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
