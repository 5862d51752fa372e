/**
 * End-to-end scenarios against a real server process, run once per client kind (grpc-js
 * with run-time loaded protos, Connect over gRPC, Connect JSON over HTTP/1.1) through the
 * normalising adapter in test/support/scenario-client.ts. One server per client kind; every
 * test works in its own queue (and concurrency key) so tests never see each other's runs.
 *
 * Once more over three servers on one PostgreSQL database (docs/scaling.md), Connect over
 * gRPC: every call goes to the next server in turn (test/support/round-robin-client.ts), so
 * each step of a scenario is served by another server than the one before it.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLIENT_KINDS,
  type ClientKind,
  type NLeasedRun,
  type NRun,
  type NRunEvent,
  type ScenarioClient,
  ScenarioError,
  scenarioClient,
  type WatchStream,
} from "../support/scenario-client.js";
import { HAVE_POSTGRES, type PostgresCluster, startPostgres, warnWithoutPostgres } from "../support/postgres.js";
import { roundRobin } from "../support/round-robin-client.js";
import { type ServerProcess, startServer } from "../support/server.js";

const FAILED_PRECONDITION = 9;
const ALREADY_EXISTS = 6;

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/**
 * The bound on every wait for something that must happen (a long poll answered, a lease
 * expired, an event delivered). It only turns a hang into a failure: no assertion here says
 * how fast anything is, so a slow machine makes these tests slower, never red.
 */
const HANG_MS = 30_000;

/** The ScenarioError a call fails with (fails the test when it succeeds). */
async function failure(p: Promise<unknown>): Promise<ScenarioError> {
  const outcome = await p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected the call to fail, it returned ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(ScenarioError);
  return outcome.error as ScenarioError;
}

/** Calls `read` until `done` holds for its result, every 50 ms, for at most `timeoutMs`. */
async function pollUntil<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms; last value: ${JSON.stringify(v)}`);
    await sleep(50);
  }
}

function only<T>(xs: readonly T[]): T {
  expect(xs).toHaveLength(1);
  return xs[0] as T;
}

/** The open attempt id of a run leased with start_attempt. */
function attemptId(l: NLeasedRun): string {
  expect(l.attempt).not.toBeNull();
  return l.attempt?.id ?? "";
}

/** Events (skipping progress) until `stop` holds for the collected list. */
async function readEvents(w: WatchStream, stop: (events: NRunEvent[]) => boolean, timeoutMs = HANG_MS): Promise<NRunEvent[]> {
  const events: NRunEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  while (!stop(events)) {
    const m = await w.next(Math.max(1, deadline - Date.now()));
    if (m === null) throw new Error("watch ended early");
    if (m.kind === "event") events.push(m);
  }
  return events;
}

/** Every event until a progress message says revision `upTo` has been considered. */
async function readThrough(w: WatchStream, upTo: number, timeoutMs = HANG_MS): Promise<NRunEvent[]> {
  const events: NRunEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await w.next(Math.max(1, deadline - Date.now()));
    if (m === null) throw new Error("watch ended early");
    if (m.kind === "event") events.push(m);
    else if (m.revision >= upTo) return events;
  }
}

warnWithoutPostgres("scenarios.test.ts (three servers on PostgreSQL)");

/** Where the scenarios run: one LMDB server per client kind, and three servers on one PostgreSQL. */
interface Setup {
  readonly name: string;
  readonly kind: ClientKind;
  readonly postgres: boolean;
}

const SETUPS: Setup[] = [
  ...CLIENT_KINDS.map((kind) => ({ name: kind, kind, postgres: false })),
  ...(HAVE_POSTGRES ? [{ name: "connect-grpc, three servers on one PostgreSQL", kind: "connect-grpc" as const, postgres: true }] : []),
];

describe.each(SETUPS)("scenarios over $name", ({ kind, postgres }: Setup) => {
  const servers: ServerProcess[] = [];
  let cluster: PostgresCluster | undefined;
  let aq: ScenarioClient;
  let seq = 0;
  /** A queue name no other test (or client kind) uses. */
  const queue = (name: string) => `sc.${kind}.${name}.${++seq}`;

  beforeAll(async () => {
    if (!postgres) {
      servers.push(await startServer());
      aq = scenarioClient(kind, servers[0]?.port ?? 0);
      return;
    }
    cluster = await startPostgres();
    const url = await cluster.createDatabase("scenarios");
    // One after another: the first creates the schema.
    for (let i = 0; i < 3; i++) servers.push(await startServer({ args: ["--storage", "postgres", "--postgres-url", url] }));
    aq = roundRobin(servers.map((s) => scenarioClient(kind, s.port)));
  }, 180_000);
  afterAll(async () => {
    aq?.close();
    for (const s of servers) await s.cleanup();
    await cluster?.stop();
  });

  it("runs a once task to COMPLETED and keeps the successful attempt with its output", async () => {
    const q = queue("once");
    const sub = await aq.submit({ queue: q, payload: enc("input"), contentType: "text/plain" });
    expect(sub.created).toBe(true);
    const created = only(sub.runs);
    expect(created.state).toBe("READY");

    const leased = only((await aq.lease({ queues: [q], workerId: "w-once", startAttempt: true, leaseDurationMs: 10_000 })).runs);
    expect(leased.run.id).toBe(created.id);
    expect(leased.run.state).toBe("RUNNING");
    expect(leased.attempt).toMatchObject({ number: 1, outcome: "UNSPECIFIED", workerId: "w-once" });
    expect(dec(leased.task.payload)).toBe("input");
    expect(leased.task.contentType).toBe("text/plain");

    const done = await aq.complete({ runId: created.id, leaseToken: leased.leaseToken, attemptId: attemptId(leased), outcome: "SUCCESS", output: enc("result") });
    expect(done.run.state).toBe("COMPLETED");

    const got = await aq.getRun(created.id);
    expect(got.run).toMatchObject({ state: "COMPLETED", attemptCount: 1, countedAttempts: 1, currentAttemptId: "", leaseWorkerId: null });
    const attempt = only(got.attempts);
    expect(attempt).toMatchObject({ id: attemptId(leased), number: 1, outcome: "SUCCESS", counted: true, workerId: "w-once" });
    expect(dec(attempt.output)).toBe("result");
    expect(attempt.finishedAtMs).not.toBeNull();

    expect((await aq.getTask(sub.task.id)).status).toBe("COMPLETED");
  });

  it("derives exactly three READY runs with occurrences 0, 1, 2 for repeat(3, interval 0)", async () => {
    const q = queue("repeat");
    const sub = await aq.submit({ queue: q, repeat: { count: 3, intervalMs: 0 } });
    expect(sub.runs.map((r) => [r.occurrence, r.state])).toEqual([
      [0, "READY"],
      [1, "READY"],
      [2, "READY"],
    ]);
    const listed = await aq.listRuns({ taskId: sub.task.id });
    expect(listed).toHaveLength(3);
    expect(listed.map((r) => r.occurrence).sort()).toEqual([0, 1, 2]);
    expect(listed.every((r) => r.state === "READY" && r.taskId === sub.task.id && r.queue === q)).toBe(true);
    expect((await aq.getTask(sub.task.id)).runsDerived).toBe(3);
  });

  it("retries a retryable failure after the fixed backoff up to max_attempts, then FAILS with every attempt kept", async () => {
    const q = queue("retry");
    const sub = await aq.submit({ queue: q, maxAttempts: 3, fixedBackoffMs: 200 });
    const runId = only(sub.runs).id;

    for (let n = 1; n <= 3; n++) {
      const leased = only((await aq.lease({ queues: [q], workerId: "w-retry", startAttempt: true, waitMs: HANG_MS, leaseDurationMs: 10_000 })).runs);
      expect(leased.run.id).toBe(runId);
      expect(leased.attempt?.number).toBe(n);
      const after = await aq.complete({ runId, leaseToken: leased.leaseToken, attemptId: attemptId(leased), outcome: "RETRYABLE_FAILURE", error: `boom ${n}` });
      expect(after.run.countedAttempts).toBe(n);
      if (n < 3) {
        expect(after.run.state).toBe("RETRY_WAIT");
        const { retryAtMs, lastStateChangeAtMs } = after.run;
        expect(retryAtMs).not.toBeNull();
        expect(lastStateChangeAtMs).not.toBeNull();
        // Both times come from the server's one clock reading for this transition, so the
        // difference is the configured backoff whatever the machine's speed.
        const delay = (retryAtMs ?? 0) - (lastStateChangeAtMs ?? 0);
        expect(delay).toBeGreaterThanOrEqual(150);
        expect(delay).toBeLessThanOrEqual(1_000);
      } else {
        expect(after.run.state).toBe("FAILED");
      }
    }

    const got = await aq.getRun(runId);
    expect(got.run).toMatchObject({ state: "FAILED", attemptCount: 3, countedAttempts: 3 });
    expect(got.attempts.map((a) => ({ number: a.number, outcome: a.outcome, counted: a.counted, error: a.error }))).toEqual([
      { number: 1, outcome: "RETRYABLE_FAILURE", counted: true, error: "boom 1" },
      { number: 2, outcome: "RETRYABLE_FAILURE", counted: true, error: "boom 2" },
      { number: 3, outcome: "RETRYABLE_FAILURE", counted: true, error: "boom 3" },
    ]);
    // No fourth try: nothing is left to lease.
    expect((await aq.lease({ queues: [q], workerId: "w-retry" })).runs).toEqual([]);
    expect((await aq.getTask(sub.task.id)).status).toBe("FAILED");
  });

  it("hands out one run of a single-flight concurrency key across two workers until it completes", async () => {
    const q = queue("key1");
    const key = `key.${q}`;
    const a = await aq.submit({ queue: q, concurrency: { key, slots: 1 } });
    const b = await aq.submit({ queue: q, concurrency: { key, slots: 1 } });
    const ids = [only(a.runs).id, only(b.runs).id];

    const first = only((await aq.lease({ queues: [q], workerId: "worker-A", maxRuns: 5, startAttempt: true, leaseDurationMs: 10_000 })).runs);
    expect(first.run).toMatchObject({ state: "RUNNING", concurrencyKey: key, keyHold: "HELD" });
    expect((await aq.lease({ queues: [q], workerId: "worker-B", maxRuns: 5, startAttempt: true, leaseDurationMs: 10_000 })).runs).toEqual([]);
    // Still nothing while the first run is RUNNING.
    expect((await aq.lease({ queues: [q], workerId: "worker-B", maxRuns: 5, startAttempt: true, leaseDurationMs: 10_000 })).runs).toEqual([]);

    await aq.complete({ runId: first.run.id, leaseToken: first.leaseToken, attemptId: attemptId(first), outcome: "SUCCESS" });
    const second = only((await aq.lease({ queues: [q], workerId: "worker-B", maxRuns: 5, startAttempt: true, leaseDurationMs: 10_000 })).runs);
    expect([first.run.id, second.run.id].sort()).toEqual([...ids].sort());
    expect(second.run.concurrencyKey).toBe(key);
    await aq.complete({ runId: second.run.id, leaseToken: second.leaseToken, attemptId: attemptId(second), outcome: "SUCCESS" });
  });

  it("hands out at most N runs of a key with N slots, and the next only after one completes", async () => {
    const q = queue("key2");
    const key = `key.${q}`;
    for (let i = 0; i < 3; i++) await aq.submit({ queue: q, concurrency: { key, slots: 2 } });

    const firstTwo = (await aq.lease({ queues: [q], workerId: "worker-A", maxRuns: 5, startAttempt: true, leaseDurationMs: 10_000 })).runs;
    expect(firstTwo).toHaveLength(2);
    expect((await aq.lease({ queues: [q], workerId: "worker-B", maxRuns: 5, startAttempt: true, leaseDurationMs: 10_000 })).runs).toEqual([]);

    const done = firstTwo[0] as NLeasedRun;
    await aq.complete({ runId: done.run.id, leaseToken: done.leaseToken, attemptId: attemptId(done), outcome: "SUCCESS" });
    const third = only((await aq.lease({ queues: [q], workerId: "worker-B", maxRuns: 5, startAttempt: true, leaseDurationMs: 10_000 })).runs);
    expect(firstTwo.map((l) => l.run.id)).not.toContain(third.run.id);
    // The key is full again (one of the first two plus the third).
    expect((await aq.lease({ queues: [q], workerId: "worker-A", maxRuns: 5 })).runs).toEqual([]);
  });

  it("tells a running worker to stop on cancel and refuses its completion with LEASE_LOST", async () => {
    const q = queue("cancel");
    await aq.submit({ queue: q });
    const leased = only((await aq.lease({ queues: [q], workerId: "w-cancel", startAttempt: true, leaseDurationMs: 10_000 })).runs);

    const canceled = await aq.cancelRun(leased.run.id);
    expect(canceled).toMatchObject({ state: "CANCELED", stateReason: "CANCELED_BY_USER", currentAttemptId: "" });

    const hb = await aq.heartbeat({ runId: leased.run.id, leaseToken: leased.leaseToken });
    expect(hb).toMatchObject({ stop: true, stopReason: "CANCELED", state: "CANCELED" });

    const err = await failure(aq.complete({ runId: leased.run.id, leaseToken: leased.leaseToken, attemptId: attemptId(leased), outcome: "SUCCESS" }));
    expect({ code: err.code, reason: err.reason }).toEqual({ code: FAILED_PRECONDITION, reason: "LEASE_LOST" });

    const got = await aq.getRun(leased.run.id);
    expect(got.run.state).toBe("CANCELED");
    expect(only(got.attempts).outcome).toBe("CANCELED");
    // Canceling a CANCELED run is a no-op success.
    expect(await aq.cancelRun(leased.run.id)).toMatchObject({ state: "CANCELED", revision: got.run.revision });
  });

  it("times out the attempt of a worker that stops heartbeating and lets another worker lease the run", async () => {
    const q = queue("expiry");
    const sub = await aq.submit({ queue: q, maxAttempts: 2, fixedBackoffMs: 0 });
    const runId = only(sub.runs).id;
    const zombie = only((await aq.lease({ queues: [q], workerId: "w-zombie", startAttempt: true, leaseDurationMs: 1_000 })).runs);
    expect(zombie.run.state).toBe("RUNNING");

    const got = await pollUntil(
      () => aq.getRun(runId),
      (r) => r.run.state === "RETRY_WAIT" || r.run.state === "READY",
      HANG_MS,
    );
    expect(only(got.attempts)).toMatchObject({ number: 1, outcome: "TIMEOUT", counted: true });
    expect(got.run.countedAttempts).toBe(1);
    // With backoff 0 the run may already be READY again, where state_reason is cleared; the
    // reason is on the RUNNING -> RETRY_WAIT transition (and on the run while it waits).
    if (got.run.state === "RETRY_WAIT") expect(got.run.stateReason).toBe("LEASE_EXPIRED");
    const history = aq.watch({ runId, startRevision: only(sub.runs).revision, progressIntervalMs: 100 });
    const events = await readThrough(history, got.run.revision);
    history.abort();
    expect(events.filter((e) => e.from === "RUNNING").map((e) => ({ to: e.to, reason: e.reason }))).toEqual([{ to: "RETRY_WAIT", reason: "LEASE_EXPIRED" }]);

    const other = only((await aq.lease({ queues: [q], workerId: "w-other", startAttempt: true, waitMs: HANG_MS, leaseDurationMs: 10_000 })).runs);
    expect(other.run.id).toBe(runId);
    expect(other.attempt?.number).toBe(2);

    // The zombie's lease is gone for good.
    const err = await failure(aq.complete({ runId, leaseToken: zombie.leaseToken, attemptId: attemptId(zombie), outcome: "SUCCESS" }));
    expect({ code: err.code, reason: err.reason }).toEqual({ code: FAILED_PRECONDITION, reason: "LEASE_LOST" });
    const done = await aq.complete({ runId, leaseToken: other.leaseToken, attemptId: attemptId(other), outcome: "SUCCESS" });
    expect(done.run.state).toBe("COMPLETED");
  });

  it("suspends a running run (the heartbeat says stop SUSPENDED) and resumes it to READY for an uncounted second attempt", async () => {
    const q = queue("suspend");
    const sub = await aq.submit({ queue: q });
    const runId = only(sub.runs).id;
    const first = only((await aq.lease({ queues: [q], workerId: "w-suspend", startAttempt: true, leaseDurationMs: 10_000 })).runs);

    expect(await aq.suspendRun(runId)).toMatchObject({ state: "SUSPENDED", stateReason: "SUSPENDED_BY_OPERATOR", currentAttemptId: "" });
    const hb = await aq.heartbeat({ runId, leaseToken: first.leaseToken });
    expect(hb).toMatchObject({ stop: true, stopReason: "SUSPENDED", state: "SUSPENDED" });
    const stale = await failure(aq.complete({ runId, leaseToken: first.leaseToken, attemptId: attemptId(first), outcome: "SUCCESS" }));
    expect({ code: stale.code, reason: stale.reason }).toEqual({ code: FAILED_PRECONDITION, reason: "LEASE_LOST" });
    // Nothing to lease while suspended.
    expect((await aq.lease({ queues: [q], workerId: "w-suspend" })).runs).toEqual([]);

    expect((await aq.resumeRun(runId)).state).toBe("READY");
    const second = only((await aq.lease({ queues: [q], workerId: "w-suspend", startAttempt: true, leaseDurationMs: 10_000 })).runs);
    expect(second.run.id).toBe(runId);
    expect(second.attempt?.number).toBe(2);
    expect(second.run.attemptCount).toBe(2);

    const got = await aq.getRun(runId);
    expect(got.attempts.map((a) => ({ number: a.number, outcome: a.outcome, counted: a.counted }))).toEqual([
      { number: 1, outcome: "SUSPENDED", counted: false },
      { number: 2, outcome: "UNSPECIFIED", counted: true },
    ]);
    // max_attempts is 1: the suspended attempt did not use it up, so the second one can still succeed.
    const done = await aq.complete({ runId, leaseToken: second.leaseToken, attemptId: attemptId(second), outcome: "SUCCESS" });
    expect(done.run).toMatchObject({ state: "COMPLETED", attemptCount: 2, countedAttempts: 1 });
  });

  it("refuses an immediate lease on a paused queue with QUEUE_PAUSED and wakes a long poll on resume", async () => {
    const q = queue("pause");
    expect(await aq.pauseQueue(q)).toEqual({ name: q, paused: true });
    const sub = await aq.submit({ queue: q });

    const err = await failure(aq.lease({ queues: [q], workerId: "w-pause" }));
    expect({ code: err.code, reason: err.reason }).toEqual({ code: FAILED_PRECONDITION, reason: "QUEUE_PAUSED" });

    let settled = false;
    const poll = aq.lease({ queues: [q], workerId: "w-pause", waitMs: HANG_MS }).finally(() => {
      settled = true;
    });
    // Time for the poll to reach the server and wait; the check below cannot fail on a slow
    // machine (the poll only settles once answered, and nothing answers it while paused).
    await sleep(300);
    expect(settled).toBe(false);
    expect(await aq.resumeQueue(q)).toEqual({ name: q, paused: false });

    // A long poll whose wait runs out is answered with no runs, so getting the run means the
    // resume woke it (no elapsed-time bound needed).
    const res = await poll;
    expect(only(res.runs).run.id).toBe(only(sub.runs).id);
    expect(res.pausedQueues).toEqual([]);
  });

  it("returns the stored task for an identical resubmission and refuses a different spec with TASK_CONFLICT", async () => {
    const q = queue("idem");
    const taskId = randomUUID();
    const first = await aq.submit({ queue: q, taskId, payload: enc("same"), maxAttempts: 2 });
    expect(first.created).toBe(true);
    expect(first.task.id).toBe(taskId);

    const again = await aq.submit({ queue: q, taskId, payload: enc("same"), maxAttempts: 2 });
    expect(again.created).toBe(false);
    expect(again.task.id).toBe(taskId);
    expect(dec(again.task.payload)).toBe("same");

    const err = await failure(aq.submit({ queue: q, taskId, payload: enc("different"), maxAttempts: 2 }));
    expect({ code: err.code, reason: err.reason }).toEqual({ code: ALREADY_EXISTS, reason: "TASK_CONFLICT" });

    // Neither the replay nor the conflict derived anything new.
    expect((await aq.listRuns({ queue: q })).map((r) => r.id)).toEqual([only(first.runs).id]);
    expect(dec((await aq.getTask(taskId)).payload)).toBe("same");
  });

  it("resumes a watch after a disconnect from the last revision + 1 with no gap and no duplicate", async () => {
    const q = queue("watch");
    const start = (await aq.stats()).revision + 1;
    const w1 = aq.watch({ queues: [q], startRevision: start, progressIntervalMs: 100 });

    // Phase 1, watched live: five runs are created; the watcher reads three events and drops.
    const runIds: string[] = [];
    for (let i = 0; i < 5; i++) runIds.push(only((await aq.submit({ queue: q, payload: enc(`job ${i}`) })).runs).id);
    const before = await readEvents(w1, (es) => es.length >= 3);
    w1.abort();
    const last = (before[before.length - 1] as NRunEvent).revision;

    // Phase 2, while disconnected: all five are leased and started, three complete.
    const leased = (await aq.lease({ queues: [q], workerId: "w-watch", maxRuns: 5, startAttempt: true, leaseDurationMs: 10_000 })).runs;
    expect(leased).toHaveLength(5);
    const complete = (l: NLeasedRun) => aq.complete({ runId: l.run.id, leaseToken: l.leaseToken, attemptId: attemptId(l), outcome: "SUCCESS" });
    for (const l of leased.slice(0, 3)) await complete(l);

    // Phase 3: resume from last + 1; catch up on the history, then two completions arrive live.
    const w2 = aq.watch({ queues: [q], startRevision: last + 1, progressIntervalMs: 100 });
    const caughtUp = await readEvents(w2, (es) => es.filter((e) => e.to === "COMPLETED").length >= 3);
    for (const l of leased.slice(3)) await complete(l);
    const end = (await aq.stats()).revision;
    const after = [...caughtUp, ...(await readThrough(w2, end))];
    w2.abort();

    const union = [...before, ...after].map((e) => e.revision);
    for (let i = 1; i < union.length; i++) expect(union[i]).toBeGreaterThan(union[i - 1] as number);

    const fresh = aq.watch({ queues: [q], startRevision: start, progressIntervalMs: 100 });
    const all = await readThrough(fresh, end);
    fresh.abort();
    expect(union).toEqual(all.map((e) => e.revision));

    // The stream is about this queue's five runs, and each run's last event is its COMPLETED
    // transition at the revision GetRun reports.
    expect(all.every((e) => e.queue === q)).toBe(true);
    expect([...new Set(all.map((e) => e.runId))].sort()).toEqual([...runIds].sort());
    for (const id of runIds) {
      const mine = all.filter((e) => e.runId === id);
      expect(mine[0]?.type).toBe("CREATED");
      const lastOfRun = mine[mine.length - 1] as NRunEvent;
      expect(lastOfRun.to).toBe("COMPLETED");
      expect((await aq.getRun(id)).run.revision).toBe(lastOfRun.revision);
    }
  });

  it("wakes a long-polling lease as soon as a run is submitted, and returns empty when the wait ends", async () => {
    const q = queue("longpoll");
    const poll = aq.lease({ queues: [q], workerId: "w-poll", waitMs: HANG_MS });
    // Time for the poll to reach the server and wait (if it has not, it leases the run on its
    // first try and the test still holds).
    await sleep(300);
    const sub = await aq.submit({ queue: q });
    // A long poll whose wait runs out is answered with no runs, so getting the run means the
    // submit woke it (no elapsed-time bound needed).
    const res = await poll;
    expect(only(res.runs).run.id).toBe(only(sub.runs).id);

    // A lower bound only: the empty answer did not come before the wait was over.
    const idleStart = Date.now();
    const idle = await aq.lease({ queues: [q], workerId: "w-poll", waitMs: 1_000 });
    expect(idle.runs).toEqual([]);
    expect(Date.now() - idleStart).toBeGreaterThanOrEqual(900);
  });

  it("heartbeats and completes five runs in one batch each, failing only the item with a foreign token", async () => {
    const q = queue("batch");
    await aq.submit({ queue: q, repeat: { count: 6 } });
    const mine = (await aq.lease({ queues: [q], workerId: "w-batch", maxRuns: 5, startAttempt: true, leaseDurationMs: 10_000 })).runs;
    expect(mine).toHaveLength(5);
    const theirs = only((await aq.lease({ queues: [q], workerId: "w-other", maxRuns: 5, startAttempt: true, leaseDurationMs: 10_000 })).runs);
    // A well-formed token that does not own the sixth run: another run's token.
    const bogus = (mine[0] as NLeasedRun).leaseToken;

    const hbs = await aq.batchHeartbeat([
      ...mine.map((l) => ({ runId: l.run.id, leaseToken: l.leaseToken, extendByMs: 10_000 })),
      { runId: theirs.run.id, leaseToken: bogus },
    ]);
    expect(hbs.map((h) => h.runId)).toEqual([...mine.map((l) => l.run.id), theirs.run.id]);
    hbs.slice(0, 5).forEach((h, i) => {
      expect(h.error).toBeNull();
      expect(h.ok).toMatchObject({ stop: false, state: "RUNNING" });
      expect(h.ok?.leaseExpiresAtMs ?? 0).toBeGreaterThanOrEqual((mine[i] as NLeasedRun).leaseExpiresAtMs ?? Infinity);
    });
    const bad = hbs[5];
    expect(bad?.ok).toBeNull();
    expect(bad?.error).toMatchObject({ code: FAILED_PRECONDITION, reason: "LEASE_LOST" });

    const done = await aq.batchComplete(mine.map((l) => ({ runId: l.run.id, leaseToken: l.leaseToken, attemptId: attemptId(l), outcome: "SUCCESS" as const, output: enc(l.run.id) })));
    expect(done.map((d) => d.runId)).toEqual(mine.map((l) => l.run.id));
    for (const d of done) {
      expect(d.error).toBeNull();
      expect(d.ok?.run.state).toBe("COMPLETED");
      expect(d.ok?.attempt?.outcome).toBe("SUCCESS");
    }
    // The sixth run's real owner is unaffected.
    expect((await aq.heartbeat({ runId: theirs.run.id, leaseToken: theirs.leaseToken })).stop).toBe(false);
    expect((await aq.listRuns({ queue: q, states: ["COMPLETED"] })).map((r: NRun) => r.id).sort()).toEqual(mine.map((l) => l.run.id).sort());
  });
});
