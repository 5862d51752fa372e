/**
 * Timer-driven behaviour over a real LMDB store and a manual clock: promotion, retry
 * backoff, lease expiry, attempt timeouts, the cron rolling window, misfire policies at
 * start-up, and dependency release. Timers fire only when the test calls `engine.tick()`.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { AttemptId, LeaseToken, RunId, TaskId } from "../../../src/domain/ids.js";
import type { MisfirePolicy } from "../../../src/domain/derive.js";
import type { WorkerOutcome } from "../../../src/domain/lifecycle.js";
import type { BackoffPolicy } from "../../../src/domain/retry.js";
import type { Engine, ItemResult, LeaseGrant, LeaseRequest } from "../../../src/engine/engine.js";
import { EngineError } from "../../../src/engine/errors.js";
import type { RunRecord } from "../../../src/engine/records.js";
import type { TaskSpec } from "../../../src/domain/task-spec.js";
import { leaseRequest, openTestEngine, spec, submission, type TestEngine } from "../../support/engine.js";

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const SEC = 1_000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
/** The ManualClock's default start: 2026-01-01T00:00:00Z. */
const T0 = Date.UTC(2026, 0, 1);

async function open(): Promise<TestEngine> {
  t = await openTestEngine();
  return t;
}

const req = leaseRequest;

function okValue<T>(r: ItemResult<T> | undefined): T {
  expect(r, "missing item result").toBeDefined();
  expect(r?.ok, r && !r.ok ? `item failed: ${r.error.reason}` : "").toBe(true);
  return (r as { ok: true; value: T }).value;
}

function run(engine: Engine, id: RunId): RunRecord {
  const r = engine.reader.getRun(id);
  expect(r, `run ${id} exists`).toBeDefined();
  return r as RunRecord;
}

function runsOf(engine: Engine, task: TaskId): RunRecord[] {
  return engine.reader
    .runIdsOfTask(task)
    .map((id) => run(engine, id))
    .sort((a, b) => a.scheduledAt - b.scheduledAt);
}

async function leaseOne(engine: Engine, over: Partial<LeaseRequest> = {}): Promise<LeaseGrant> {
  const r = await engine.leaseRuns(req({ maxRuns: 1, ...over }));
  expect(r.grants).toHaveLength(1);
  return r.grants[0] as LeaseGrant;
}

async function complete(
  engine: Engine,
  g: { runId: RunId; token: LeaseToken; attemptId: AttemptId },
  outcome: WorkerOutcome,
  error = "",
): Promise<RunRecord> {
  const [r] = await engine.completeAttempts([{ ...g, outcome, output: new Uint8Array(0), error }]);
  return okValue(r).run;
}

function ids(g: LeaseGrant): { runId: RunId; token: LeaseToken; attemptId: AttemptId } {
  expect(g.attempt).not.toBeNull();
  return { runId: g.run.id, token: g.lease.token, attemptId: (g.attempt as NonNullable<LeaseGrant["attempt"]>).id };
}

function cron(expression: string, over: Partial<Extract<TaskSpec["policy"], { kind: "CRON" }>> = {}): TaskSpec["policy"] {
  return { kind: "CRON", expression, timeZone: "UTC", maxOccurrences: 0, misfire: "CATCH_UP", startAt: null, ...over };
}

// ─── promotion ───────────────────────────────────────────────────────────────────────

describe("promotion", () => {
  it("a future once run becomes READY exactly at scheduled_at, not a millisecond before", async () => {
    const { engine, clock } = await open();
    const at = clock.now() + 10 * SEC;
    const s = await engine.submitTask(submission(spec({ policy: { kind: "ONCE", startAt: at } })));
    const id = s.runs[0]!.id;
    expect(run(engine, id).state).toBe("SCHEDULED");
    clock.advance(10 * SEC - 1);
    await engine.tick();
    expect(run(engine, id).state).toBe("SCHEDULED");
    expect((await engine.leaseRuns(req())).grants).toHaveLength(0);
    clock.advance(1);
    await engine.tick();
    expect(run(engine, id)).toMatchObject({ state: "READY", scheduledAt: at, lastStateChangeAt: at });
    expect((await engine.leaseRuns(req())).grants.map((g) => g.run.id)).toEqual([id]);
  });

  it("each repeat run becomes READY exactly at its own scheduled_at", async () => {
    const { engine, clock } = await open();
    const start = clock.now() + 1 * SEC;
    const s = await engine.submitTask(submission(spec({ policy: { kind: "REPEAT", count: 3, intervalMs: 5 * SEC, startAt: start } })));
    const states = () => runsOf(engine, s.task.id).map((r) => r.state);
    expect(states()).toEqual(["SCHEDULED", "SCHEDULED", "SCHEDULED"]);
    const expected: Array<[number, string[]]> = [
      [start - 1, ["SCHEDULED", "SCHEDULED", "SCHEDULED"]],
      [start, ["READY", "SCHEDULED", "SCHEDULED"]],
      [start + 5 * SEC - 1, ["READY", "SCHEDULED", "SCHEDULED"]],
      [start + 5 * SEC, ["READY", "READY", "SCHEDULED"]],
      [start + 10 * SEC - 1, ["READY", "READY", "SCHEDULED"]],
      [start + 10 * SEC, ["READY", "READY", "READY"]],
    ];
    for (const [at, want] of expected) {
      clock.set(at);
      await engine.tick();
      expect(states(), `at +${at - T0} ms`).toEqual(want);
    }
  });

  it("promotes due runs while the engine is paused, but hands nothing out until it resumes", async () => {
    const { engine, clock } = await open();
    const s = await engine.submitTask(submission(spec({ policy: { kind: "ONCE", startAt: clock.now() + SEC } })));
    await engine.pauseEngine();
    clock.advance(SEC);
    await engine.tick();
    expect(run(engine, s.runs[0]!.id).state).toBe("READY");
    await expect(engine.leaseRuns(req())).rejects.toSatisfy((e: unknown) => EngineError.is(e, "ENGINE_PAUSED"));
    await engine.resumeEngine();
    expect((await engine.leaseRuns(req())).grants).toHaveLength(1);
  });
});

// ─── retry backoff ───────────────────────────────────────────────────────────────────

/**
 * Fails the run of a fresh task `delays.length + 1` times with RETRYABLE_FAILURE and checks,
 * after each failure, retry_at = failure time + delay, and that the run leaves RETRY_WAIT
 * exactly at retry_at. The last failure exhausts max_attempts and fails the run.
 */
async function checkBackoff(engine: Engine, clock: TestEngine["clock"], backoff: BackoffPolicy, delays: number[]): Promise<void> {
  const s = await engine.submitTask(submission(spec({ constraints: { maxAttempts: delays.length + 1, backoff } })));
  const id = s.runs[0]!.id;
  for (let i = 0; i <= delays.length; i++) {
    const g = await leaseOne(engine, { startAttempt: true });
    expect(g.run.id).toBe(id);
    expect(g.attempt?.number).toBe(i + 1);
    clock.advance(123);
    const failedAt = clock.now();
    const after = await complete(engine, ids(g), "RETRYABLE_FAILURE", `try ${i + 1}`);
    const delay = delays[i];
    if (delay === undefined) {
      expect(after).toMatchObject({ state: "FAILED", retryAt: null, countedAttempts: delays.length + 1 });
      break;
    }
    expect(after.state).toBe("RETRY_WAIT");
    expect(after.retryAt! - failedAt, `delay after attempt ${i + 1}`).toBe(delay);
    clock.advance(delay - 1);
    await engine.tick();
    expect(run(engine, id).state).toBe("RETRY_WAIT");
    expect((await engine.leaseRuns(req())).grants).toHaveLength(0);
    clock.advance(1);
    await engine.tick();
    expect(run(engine, id)).toMatchObject({ state: "READY", retryAt: null, lastStateChangeAt: failedAt + delay });
  }
  expect(engine.reader.attempts(id, 0, 100).map((a) => a.outcome)).toEqual(Array(delays.length + 1).fill("RETRYABLE_FAILURE"));
}

describe("retry backoff", () => {
  it("fixed backoff: every retry_at is failure time + interval and the run is READY only then", async () => {
    const { engine, clock } = await open();
    await checkBackoff(engine, clock, { kind: "FIXED", intervalMs: 2_500 }, [2_500, 2_500]);
  });

  it("exponential backoff base 1000 max 4000: delays 1000, 2000, 4000, 4000", async () => {
    const { engine, clock } = await open();
    await checkBackoff(engine, clock, { kind: "EXPONENTIAL", baseMs: 1_000, maxMs: 4_000, jitter: false }, [1_000, 2_000, 4_000, 4_000]);
  });

  it("a TIMEOUT outcome from the worker follows the same backoff", async () => {
    const { engine, clock } = await open();
    const s = await engine.submitTask(
      submission(spec({ constraints: { maxAttempts: 2, backoff: { kind: "EXPONENTIAL", baseMs: 1_000, maxMs: 4_000, jitter: false } } })),
    );
    const g = await leaseOne(engine, { startAttempt: true });
    const after = await complete(engine, ids(g), "TIMEOUT");
    expect(after).toMatchObject({ state: "RETRY_WAIT", retryAt: clock.now() + 1_000 });
    clock.advance(1_000);
    await engine.tick();
    expect(run(engine, s.runs[0]!.id).state).toBe("READY");
  });

  it("a suspended attempt does not advance the exponential backoff", async () => {
    const { engine, clock } = await open();
    const s = await engine.submitTask(
      submission(spec({ constraints: { maxAttempts: 3, backoff: { kind: "EXPONENTIAL", baseMs: 1_000, maxMs: 60_000, jitter: false } } })),
    );
    const id = s.runs[0]!.id;
    const g1 = await leaseOne(engine, { startAttempt: true });
    expect((await complete(engine, ids(g1), "SUSPENDED")).state).toBe("SUSPENDED");
    await engine.resumeRun(id);
    const g2 = await leaseOne(engine, { startAttempt: true });
    const after = await complete(engine, ids(g2), "RETRYABLE_FAILURE");
    // First counted failure: base delay, although it is the second attempt.
    expect(after).toMatchObject({ state: "RETRY_WAIT", retryAt: clock.now() + 1_000, attemptCount: 2, countedAttempts: 1 });
  });

  it("jittered exponential delays stay within [d/2, d]", async () => {
    const { engine, clock } = await open();
    const s = await engine.submitTask(
      submission(spec({ constraints: { maxAttempts: 4, backoff: { kind: "EXPONENTIAL", baseMs: 1_000, maxMs: 8_000, jitter: true } } })),
    );
    const id = s.runs[0]!.id;
    for (const d of [1_000, 2_000, 4_000]) {
      const g = await leaseOne(engine, { startAttempt: true });
      const failedAt = clock.now();
      const after = await complete(engine, ids(g), "RETRYABLE_FAILURE");
      const delay = after.retryAt! - failedAt;
      expect(delay).toBeGreaterThanOrEqual(d / 2);
      expect(delay).toBeLessThanOrEqual(d);
      clock.advance(delay);
      await engine.tick();
      expect(run(engine, id).state).toBe("READY");
    }
  });
});

// ─── lease expiry ────────────────────────────────────────────────────────────────────

describe("lease expiry", () => {
  it("a LEASED run past its expiry goes back to READY with reason LEASE_EXPIRED and no attempt spent", async () => {
    const { engine, clock } = await open();
    const s = await engine.submitTask(submission(spec({ constraints: { concurrency: { key: "k", slots: 1, holdPolicy: "HOLD_DURING_RETRY" } } })));
    const id = s.runs[0]!.id;
    const g = await leaseOne(engine);
    expect(engine.reader.keyHolders("k")).toHaveLength(1);
    clock.advance(30 * SEC - 1);
    await engine.tick();
    expect(run(engine, id).state).toBe("LEASED");
    clock.advance(1);
    await engine.tick();
    expect(run(engine, id)).toMatchObject({ state: "READY", stateReason: "LEASE_EXPIRED", attemptCount: 0, countedAttempts: 0 });
    expect(engine.reader.getLease(id)).toBeUndefined();
    expect(engine.reader.attempts(id, 0, 10)).toEqual([]);
    expect(engine.reader.keyHolders("k")).toEqual([]);
    // The old token is dead; a new lease works.
    await expect(engine.startAttempt(id, g.lease.token)).rejects.toSatisfy((e: unknown) => EngineError.is(e, "LEASE_LOST"));
    const g2 = await leaseOne(engine, { workerId: "w2", startAttempt: true });
    expect(g2.run.id).toBe(id);
    expect(g2.attempt?.number).toBe(1);
  });

  it("a RUNNING run past its lease expiry: the attempt ends TIMEOUT and the run retries when attempts remain", async () => {
    const { engine, clock } = await open();
    const s = await engine.submitTask(
      submission(spec({ constraints: { maxAttempts: 2, backoff: { kind: "FIXED", intervalMs: 5 * SEC } } })),
    );
    const id = s.runs[0]!.id;
    const g = await leaseOne(engine, { startAttempt: true });
    clock.advance(30 * SEC - 1);
    await engine.tick();
    expect(run(engine, id).state).toBe("RUNNING");
    clock.advance(1);
    await engine.tick();
    const expiredAt = clock.now();
    expect(run(engine, id)).toMatchObject({ state: "RETRY_WAIT", stateReason: "LEASE_EXPIRED", retryAt: expiredAt + 5 * SEC, countedAttempts: 1 });
    expect(engine.reader.attempts(id, 0, 10)).toMatchObject([{ id: g.attempt!.id, outcome: "TIMEOUT", counted: true, finishedAt: expiredAt }]);
    expect(engine.reader.getLease(id)).toBeUndefined();
    // The vanished worker's late completion is refused.
    const [late] = await engine.completeAttempts([{ ...ids(g), outcome: "SUCCESS", output: new Uint8Array(0), error: "" }]);
    expect(late?.ok).toBe(false);
    expect(late && !late.ok ? late.error.reason : null).toBe("LEASE_LOST");
  });

  it("a RUNNING run past its lease expiry FAILS when no attempt remains", async () => {
    const { engine, clock } = await open();
    const s = await engine.submitTask(submission(spec({ constraints: { maxAttempts: 1 } })));
    const id = s.runs[0]!.id;
    await leaseOne(engine, { startAttempt: true });
    clock.advance(30 * SEC);
    await engine.tick();
    expect(run(engine, id)).toMatchObject({ state: "FAILED", stateReason: "LEASE_EXPIRED" });
    expect(engine.reader.attempts(id, 0, 10).map((a) => a.outcome)).toEqual(["TIMEOUT"]);
    expect(engine.reader.getTask(s.task.id)?.status).toBe("FAILED");
  });

  it("heartbeats postpone the expiry", async () => {
    const { engine, clock } = await open();
    const s = await engine.submitTask(submission(spec({ constraints: { maxAttempts: 2 } })));
    const id = s.runs[0]!.id;
    const g = await leaseOne(engine, { startAttempt: true });
    clock.advance(20 * SEC);
    const [h] = await engine.heartbeat([{ runId: id, token: g.lease.token, extendByMs: null }]);
    expect(okValue(h).leaseExpiresAt).toBe(T0 + 50 * SEC);
    clock.set(T0 + 35 * SEC); // past the original expiry
    await engine.tick();
    expect(run(engine, id).state).toBe("RUNNING");
    clock.set(T0 + 50 * SEC - 1);
    await engine.tick();
    expect(run(engine, id).state).toBe("RUNNING");
    clock.set(T0 + 50 * SEC);
    await engine.tick();
    expect(run(engine, id)).toMatchObject({ state: "RETRY_WAIT", stateReason: "LEASE_EXPIRED" });
  });

  it("attempt_timeout finishes the attempt as TIMEOUT even while the worker heartbeats", async () => {
    const { engine, clock } = await open();
    const s = await engine.submitTask(submission(spec({ constraints: { maxAttempts: 2, attemptTimeoutMs: 10 * SEC } })));
    const id = s.runs[0]!.id;
    const g = await leaseOne(engine, { startAttempt: true });
    expect(run(engine, id).attemptDeadline).toBe(T0 + 10 * SEC);
    for (let i = 0; i < 3; i++) {
      clock.advance(3 * SEC);
      okValue((await engine.heartbeat([{ runId: id, token: g.lease.token, extendByMs: null }]))[0]);
      await engine.tick();
      expect(run(engine, id).state).toBe("RUNNING");
    }
    clock.set(T0 + 10 * SEC - 1);
    await engine.tick();
    expect(run(engine, id).state).toBe("RUNNING");
    clock.set(T0 + 10 * SEC);
    await engine.tick();
    expect(run(engine, id)).toMatchObject({ state: "RETRY_WAIT", stateReason: "ATTEMPT_TIMEOUT", attemptDeadline: null });
    expect(engine.reader.attempts(id, 0, 10)).toMatchObject([{ outcome: "TIMEOUT", counted: true, finishedAt: T0 + 10 * SEC }]);
    // The worker's next heartbeat learns it lost the run.
    const [h] = await engine.heartbeat([{ runId: id, token: g.lease.token, extendByMs: null }]);
    expect(h?.ok).toBe(false);
    expect(h && !h.ok ? h.error.reason : null).toBe("LEASE_LOST");
  });
});

// ─── cron window ─────────────────────────────────────────────────────────────────────

describe("cron rolling window", () => {
  it("derives 3 runs at first, more as runs are promoted, and stops at max_occurrences 5", async () => {
    const { engine, clock } = await open();
    clock.set(T0 + 30 * SEC); // 00:00:30, so the first occurrence is 00:01
    const s = await engine.submitTask(submission(spec({ policy: cron("* * * * *", { maxOccurrences: 5 }) })));
    const times = () => runsOf(engine, s.task.id).map((r) => (r.scheduledAt - T0) / MIN);
    expect(times()).toEqual([1, 2, 3]);
    expect(runsOf(engine, s.task.id).every((r) => r.state === "SCHEDULED")).toBe(true);

    clock.set(T0 + 1 * MIN - 1);
    await engine.tick();
    expect(times()).toEqual([1, 2, 3]);

    clock.set(T0 + 1 * MIN);
    await engine.tick();
    expect(times()).toEqual([1, 2, 3, 4]);
    expect(runsOf(engine, s.task.id)[0]?.state).toBe("READY");

    clock.set(T0 + 2 * MIN);
    await engine.tick();
    expect(times()).toEqual([1, 2, 3, 4, 5]);

    for (let m = 3; m <= 10; m++) {
      clock.set(T0 + m * MIN);
      await engine.tick();
    }
    expect(times()).toEqual([1, 2, 3, 4, 5]);
    expect(runsOf(engine, s.task.id).every((r) => r.state === "READY")).toBe(true);
    expect(engine.reader.getTask(s.task.id)?.runsDerived).toBe(5);
  });

  it("a finished cron task with max_occurrences completes once all its runs are done", async () => {
    const { engine, clock } = await open();
    clock.set(T0 + 30 * SEC);
    const s = await engine.submitTask(submission(spec({ policy: cron("* * * * *", { maxOccurrences: 2 }) })));
    expect(runsOf(engine, s.task.id)).toHaveLength(2);
    for (let m = 1; m <= 2; m++) {
      clock.set(T0 + m * MIN);
      await engine.tick();
      const g = await leaseOne(engine, { startAttempt: true });
      await complete(engine, ids(g), "SUCCESS");
    }
    expect(runsOf(engine, s.task.id).map((r) => r.state)).toEqual(["COMPLETED", "COMPLETED"]);
    expect(engine.reader.getTask(s.task.id)?.status).toBe("COMPLETED");
  });
});

// ─── misfire ─────────────────────────────────────────────────────────────────────────

/**
 * Submits an hourly cron task at 00:10 (so 01:00, 02:00 and 03:00 are derived), simulates an
 * outage of 5.5 hours (nothing ticks) and reopens the engine at 05:40. The occurrences
 * 01:00 to 05:00 were missed; 06:00 onward lie in the future.
 */
async function afterOutage(misfire: MisfirePolicy): Promise<{ engine: Engine; task: TaskId }> {
  const first = await open();
  first.clock.set(T0 + 10 * MIN);
  const s = await first.engine.submitTask(submission(spec({ policy: cron("0 * * * *", { misfire }) })));
  expect(runsOf(first.engine, s.task.id).map((r) => (r.scheduledAt - T0) / HOUR)).toEqual([1, 2, 3]);
  first.clock.advance(5.5 * HOUR);
  t = await first.reopen();
  expect(t.clock.now()).toBe(T0 + 5 * HOUR + 40 * MIN);
  return { engine: t.engine, task: s.task.id };
}

/** [hour, state, reason] of every run of the task, by scheduled time. */
function table(engine: Engine, task: TaskId): Array<[number, string, string]> {
  return runsOf(engine, task).map((r) => [(r.scheduledAt - T0) / HOUR, r.state, r.stateReason]);
}

describe("misfire policies after an outage", () => {
  it("CATCH_UP: every missed occurrence has a run and all of them become READY", async () => {
    const { engine, task } = await afterOutage("CATCH_UP");
    await engine.tick();
    const rows = table(engine, task);
    const missed = rows.filter(([h]) => h <= 5);
    expect(missed.map(([h]) => h)).toEqual([1, 2, 3, 4, 5]);
    expect(missed.every(([, state]) => state === "READY")).toBe(true);
    const future = rows.filter(([h]) => h > 5);
    expect(future.length).toBeGreaterThan(0);
    expect(future.every(([, state]) => state === "SCHEDULED")).toBe(true);
    expect(future[0]?.[0]).toBe(6);
    expect((await engine.leaseRuns(req())).grants).toHaveLength(5);
  });

  it("SKIP: overdue derived runs are CANCELED as MISSED, missed occurrences get no run, only future ones run", async () => {
    const { engine, task } = await afterOutage("SKIP");
    await engine.tick();
    const rows = table(engine, task);
    expect(rows.filter(([h]) => h <= 5)).toEqual([
      [1, "CANCELED", "MISSED"],
      [2, "CANCELED", "MISSED"],
      [3, "CANCELED", "MISSED"],
    ]);
    const future = rows.filter(([h]) => h > 5);
    expect(future.map(([h]) => h)).toEqual([6, 7, 8]);
    expect(future.every(([, state]) => state === "SCHEDULED")).toBe(true);
    expect((await engine.leaseRuns(req())).grants).toHaveLength(0);
    expect(engine.reader.getTask(task)?.status).toBe("ACTIVE");
  });

  it("COALESCE: exactly one READY run stands for the missed window, the others are CANCELED as MISSED", async () => {
    const { engine, task } = await afterOutage("COALESCE");
    await engine.tick();
    const rows = table(engine, task);
    const missed = rows.filter(([h]) => h <= 5);
    expect(missed.filter(([, state]) => state === "READY")).toHaveLength(1);
    expect(missed.filter(([, state]) => state !== "READY").every(([, state, reason]) => state === "CANCELED" && reason === "MISSED")).toBe(true);
    // The kept run is the latest missed occurrence.
    expect(missed.find(([, state]) => state === "READY")?.[0]).toBe(5);
    const future = rows.filter(([h]) => h > 5);
    expect(future.map(([h]) => h)).toEqual([6, 7, 8]);
    expect(future.every(([, state]) => state === "SCHEDULED")).toBe(true);
    expect((await engine.leaseRuns(req())).grants).toHaveLength(1);
  });
});

// ─── dependencies ────────────────────────────────────────────────────────────────────

describe("dependencies", () => {
  it("a dependent run stays SCHEDULED until its prerequisite COMPLETES, then becomes READY at the next tick", async () => {
    const { engine, clock } = await open();
    const pre = await engine.submitTask(submission(spec({ queue: "pre" })));
    const dep = await engine.submitTask(submission(spec({ queue: "dep", dependsOn: [pre.task.id] })));
    const depRun = dep.runs[0]!.id;
    expect(run(engine, depRun).state).toBe("SCHEDULED");
    clock.advance(HOUR);
    await engine.tick();
    expect(run(engine, depRun).state).toBe("SCHEDULED");
    expect((await engine.leaseRuns(req({ queues: ["dep"] }))).grants).toHaveLength(0);

    const g = await leaseOne(engine, { queues: ["pre"], startAttempt: true });
    await complete(engine, ids(g), "SUCCESS");
    expect(engine.reader.getTask(pre.task.id)?.status).toBe("COMPLETED");
    expect(run(engine, depRun).state).toBe("SCHEDULED");
    await engine.tick();
    expect(run(engine, depRun).state).toBe("READY");
    expect((await leaseOne(engine, { queues: ["dep"] })).run.id).toBe(depRun);
  });

  it("a dependent waits for every prerequisite", async () => {
    const { engine } = await open();
    const a = await engine.submitTask(submission(spec({ queue: "a" })));
    const b = await engine.submitTask(submission(spec({ queue: "b" })));
    const dep = await engine.submitTask(submission(spec({ queue: "dep", dependsOn: [a.task.id, b.task.id] })));
    const depRun = dep.runs[0]!.id;
    await complete(engine, ids(await leaseOne(engine, { queues: ["a"], startAttempt: true })), "SUCCESS");
    await engine.tick();
    expect(run(engine, depRun).state).toBe("SCHEDULED");
    await complete(engine, ids(await leaseOne(engine, { queues: ["b"], startAttempt: true })), "SUCCESS");
    await engine.tick();
    expect(run(engine, depRun).state).toBe("READY");
  });

  it("a dependent of an already COMPLETED prerequisite is READY at once", async () => {
    const { engine } = await open();
    const pre = await engine.submitTask(submission(spec()));
    await complete(engine, ids(await leaseOne(engine, { startAttempt: true })), "SUCCESS");
    const dep = await engine.submitTask(submission(spec({ dependsOn: [pre.task.id] })));
    expect(dep.runs[0]?.state).toBe("READY");
  });

  it("a FAILED prerequisite cancels its dependents transitively with reason DEPENDENCY_FAILED", async () => {
    const { engine } = await open();
    const pre = await engine.submitTask(submission(spec({ queue: "pre" })));
    const dep = await engine.submitTask(submission(spec({ queue: "dep", dependsOn: [pre.task.id] })));
    const dep2 = await engine.submitTask(submission(spec({ queue: "dep", dependsOn: [dep.task.id] })));
    await complete(engine, ids(await leaseOne(engine, { queues: ["pre"], startAttempt: true })), "TERMINAL_FAILURE", "nope");
    expect(engine.reader.getTask(pre.task.id)?.status).toBe("FAILED");
    for (const d of [dep, dep2]) {
      expect(engine.reader.getTask(d.task.id)).toMatchObject({ status: "CANCELED", statusReason: "DEPENDENCY_FAILED" });
      expect(run(engine, d.runs[0]!.id)).toMatchObject({ state: "CANCELED", stateReason: "DEPENDENCY_FAILED" });
    }
    await engine.tick();
    expect((await engine.leaseRuns(req({ queues: ["dep"] }))).grants).toHaveLength(0);
  });
});
