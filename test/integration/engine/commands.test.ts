/**
 * Every engine command against a real LMDB store: one success case and each failure reason
 * it can return. Failures are checked by `.reason`, `.metadata` ids and field paths, never
 * by message text.
 */
import { Cron } from "croner";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AttemptId, LeaseToken, RunId, TaskId } from "../../../src/domain/ids.js";
import type { WorkerOutcome } from "../../../src/domain/lifecycle.js";
import type { RunState } from "../../../src/domain/state.js";
import type { Engine, ItemResult, LeaseRequest } from "../../../src/engine/engine.js";
import { EngineError, type EngineReason } from "../../../src/engine/errors.js";
import type { RunRecord } from "../../../src/engine/records.js";
import { keySpec } from "../../../src/domain/task-spec.js";
import type { ManualClock } from "../../support/clock.js";
import { leaseRequest, openTestEngine, spec, submission, type TestEngine } from "../../support/engine.js";
import { taskId } from "../../support/ids.js";

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

type SpecOver = NonNullable<Parameters<typeof spec>[0]>;
type OpenOptions = NonNullable<Parameters<typeof openTestEngine>[0]>;

async function open(options: OpenOptions = {}): Promise<TestEngine> {
  t = await openTestEngine(options);
  return t;
}

/** Awaits `p`, expects an EngineError with `reason`, returns it. */
async function failure(p: Promise<unknown>, reason: EngineReason): Promise<EngineError> {
  let caught: unknown = undefined;
  let resolved = false;
  try {
    await p;
    resolved = true;
  } catch (e) {
    caught = e;
  }
  expect(resolved, `expected ${reason} but the call succeeded`).toBe(false);
  expect(EngineError.is(caught), `expected an EngineError, got ${String(caught)}`).toBe(true);
  const err = caught as EngineError;
  expect(err.reason).toBe(reason);
  return err;
}

function fields(e: EngineError): string[] {
  return e.violations.map((v) => v.field);
}

function okValue<T>(r: ItemResult<T> | undefined): T {
  expect(r, "missing item result").toBeDefined();
  expect(r?.ok, r && !r.ok ? `item failed: ${r.error.reason}` : "").toBe(true);
  return (r as { ok: true; value: T }).value;
}

function itemError<T>(r: ItemResult<T> | undefined, reason: EngineReason): EngineError {
  expect(r, "missing item result").toBeDefined();
  expect(r?.ok, "expected the item to fail").toBe(false);
  const e = (r as { ok: false; error: EngineError }).error;
  expect(EngineError.is(e)).toBe(true);
  expect(e.reason).toBe(reason);
  return e;
}

const req = leaseRequest;

function run(engine: Engine, id: RunId): RunRecord {
  const r = engine.reader.getRun(id);
  expect(r, `run ${id} exists`).toBeDefined();
  return r as RunRecord;
}

function runsOf(engine: Engine, task: TaskId): RunRecord[] {
  return engine.reader.runIdsOfTask(task).map((id) => run(engine, id));
}

interface Placed {
  readonly taskId: TaskId;
  readonly runId: RunId;
  readonly queue: string;
  readonly token: LeaseToken;
  readonly attemptId: AttemptId;
}

const NO_TOKEN = "00000000-0000-7000-8f00-000000000000" as LeaseToken;
const NO_ATTEMPT = "00000000-0000-7000-8e00-000000000000" as AttemptId;

let queueCounter = 0;

/**
 * Submits one task in a queue of its own (or `over.queue`) and drives its run into `state`.
 * `token` and `attemptId` are those of the latest lease / attempt (placeholders before).
 */
async function place(engine: Engine, clock: ManualClock, state: RunState, over: SpecOver = {}): Promise<Placed> {
  const queue = over.queue ?? `q${++queueCounter}`;
  const s = spec({
    ...over,
    queue,
    ...(state === "SCHEDULED" ? { policy: { kind: "ONCE" as const, startAt: clock.now() + 3_600_000 } } : {}),
    constraints: { maxAttempts: 3, ...over.constraints },
  });
  const sub = await engine.submitTask(submission(s));
  const first = sub.runs[0];
  expect(first).toBeDefined();
  const base = { taskId: sub.task.id, runId: (first as RunRecord).id, queue, token: NO_TOKEN, attemptId: NO_ATTEMPT };
  if (state === "SCHEDULED") {
    expect(first?.state).toBe("SCHEDULED");
    return base;
  }
  if (state === "READY") return base;
  if (state === "CANCELED") {
    await engine.cancelRun(base.runId);
    return base;
  }
  const lease = await engine.leaseRuns(req({ queues: [queue], maxRuns: 1, startAttempt: state !== "LEASED" }));
  const g = lease.grants[0];
  expect(g?.run.id).toBe(base.runId);
  const placed = { ...base, token: (g as NonNullable<typeof g>).lease.token, attemptId: g?.attempt?.id ?? NO_ATTEMPT };
  if (state === "LEASED" || state === "RUNNING") return placed;
  if (state === "SUSPENDED") {
    await engine.suspendRun(placed.runId);
    return placed;
  }
  const outcome: WorkerOutcome = state === "COMPLETED" ? "SUCCESS" : state === "FAILED" ? "TERMINAL_FAILURE" : "RETRYABLE_FAILURE";
  const [r] = await engine.completeAttempts([
    { runId: placed.runId, token: placed.token, attemptId: placed.attemptId, outcome, output: new Uint8Array(0), error: "" },
  ]);
  expect(okValue(r).run.state).toBe(state);
  return placed;
}

async function completeOne(
  engine: Engine,
  p: { runId: RunId; token: LeaseToken; attemptId: AttemptId },
  outcome: WorkerOutcome,
  extra: { output?: Uint8Array; error?: string } = {},
) {
  const [r] = await engine.completeAttempts([
    { runId: p.runId, token: p.token, attemptId: p.attemptId, outcome, output: extra.output ?? new Uint8Array(0), error: extra.error ?? "" },
  ]);
  return r;
}

const MIN = 60_000;

// ─── submit ──────────────────────────────────────────────────────────────────────────

describe("submitTasks", () => {
  it("a once policy derives exactly one READY run due at submission", async () => {
    const { engine, clock } = await open();
    const r = await engine.submitTask(submission(spec()));
    expect(r.created).toBe(true);
    expect(r.task.status).toBe("ACTIVE");
    const runs = runsOf(engine, r.task.id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ state: "READY", scheduledAt: clock.now(), attemptCount: 0, taskId: r.task.id });
    expect(engine.reader.taskCount()).toBe(1);
  });

  it("a repeat policy with count N derives exactly N runs at start + i * interval", async () => {
    const { engine, clock } = await open();
    const start = clock.now();
    const r = await engine.submitTask(submission(spec({ policy: { kind: "REPEAT", count: 4, intervalMs: 10_000, startAt: null } })));
    const runs = runsOf(engine, r.task.id).sort((a, b) => a.scheduledAt - b.scheduledAt);
    expect(runs.map((x) => x.scheduledAt)).toEqual([start, start + 10_000, start + 20_000, start + 30_000]);
    expect(runs.map((x) => x.state)).toEqual(["READY", "SCHEDULED", "SCHEDULED", "SCHEDULED"]);
    expect(r.runs).toHaveLength(4);
    expect(r.task.runsDerived).toBe(4);
  });

  it("resubmitting the same task id with an identical spec returns the existing task with created=false", async () => {
    const { engine, clock } = await open();
    const id = taskId(9001);
    const s = spec({ constraints: { requiredCapabilities: ["b", "a"] } });
    const first = await engine.submitTask(submission(s, id));
    const revision = engine.revision;
    clock.advance(5_000);
    // Same content, capabilities in another order: still identical after normalisation.
    const again = await engine.submitTask(submission(spec({ constraints: { requiredCapabilities: ["a", "b"] } }), id));
    expect(again.created).toBe(false);
    expect(again.task.id).toBe(id);
    expect(again.task.createdAt).toBe(first.task.createdAt);
    expect(again.runs.map((r) => r.id)).toEqual(first.runs.map((r) => r.id));
    expect(engine.reader.taskCount()).toBe(1);
    expect(engine.reader.runIdsOfTask(id)).toHaveLength(1);
    expect(engine.revision).toBe(revision);
  });

  it("resubmitting a task id with a different spec fails with TASK_CONFLICT and keeps the stored task", async () => {
    const { engine } = await open();
    const id = taskId(9002);
    await engine.submitTask(submission(spec({ queue: "a" }), id));
    const err = await failure(engine.submitTask(submission(spec({ queue: "b" }), id)), "TASK_CONFLICT");
    expect(err.metadata.task_id).toBe(id);
    expect(engine.reader.getTask(id)?.spec.queue).toBe("a");
    expect(engine.reader.runIdsOfTask(id)).toHaveLength(1);
  });

  it("rejects an invalid queue name with INVALID_ARGUMENT on spec.queue", async () => {
    const { engine } = await open();
    const err = await failure(engine.submitTask(submission(spec({ queue: "bad queue!" }))), "INVALID_ARGUMENT");
    expect(fields(err)).toEqual(["spec.queue"]);
    expect(engine.reader.taskCount()).toBe(0);
  });

  it("rejects max_attempts -1 and 1001 with INVALID_ARGUMENT on spec.constraints.max_attempts (0 means the default, 1)", async () => {
    const { engine } = await open();
    for (const maxAttempts of [-1, 1_001]) {
      const err = await failure(engine.submitTask(submission(spec({ constraints: { maxAttempts } }))), "INVALID_ARGUMENT");
      expect(fields(err)).toEqual(["spec.constraints.max_attempts"]);
    }
    expect(engine.reader.taskCount()).toBe(0);
  });

  it("resolves unset fields to their defaults: max_attempts 0 is 1, slots 0 is 1, no content type, time zone or backoff", async () => {
    const { engine } = await open();
    const base = spec();
    const r = await engine.submitTask({
      taskId: null,
      spec: {
        ...base,
        payload: { data: base.payload.data, contentType: "" },
        policy: { kind: "CRON", expression: "0 * * * *", timeZone: "", maxOccurrences: 0, misfire: "CATCH_UP", startAt: null },
        constraints: { maxAttempts: 0, attemptTimeoutMs: null, backoff: null, concurrency: { key: "k", slots: 0, holdPolicy: null }, requiredCapabilities: [] },
      },
    });
    expect(r.task.spec.payload.contentType).toBe("application/octet-stream");
    expect(r.task.spec.policy).toMatchObject({ timeZone: "UTC" });
    expect(r.task.spec.constraints).toMatchObject({ maxAttempts: 1, attemptTimeoutMs: 0, concurrency: { key: "k", slots: 1, holdPolicy: "HOLD_DURING_RETRY" } });
    expect(r.task.spec.constraints.backoff).toEqual({ kind: "EXPONENTIAL", baseMs: 1_000, maxMs: 300_000, jitter: false });
  });

  it("names every invalid field of one spec", async () => {
    const { engine } = await open();
    const err = await failure(
      engine.submitTask(
        submission(
          spec({
            queue: "",
            metadata: { priority: 2_000_000, tags: [], description: "" },
            constraints: { maxAttempts: -1, concurrency: keySpec("", 1) },
          }),
        ),
      ),
      "INVALID_ARGUMENT",
    );
    expect(fields(err).sort()).toEqual(
      ["spec.queue", "spec.constraints.max_attempts", "spec.constraints.concurrency.key", "spec.metadata.priority"].sort(),
    );
  });

  it("rejects an invalid cron expression on spec.policy.cron.expression with croner's own message", async () => {
    const { engine } = await open();
    const expression = "61 * * * *";
    let cronerMessage = "";
    try {
      new Cron(expression, { mode: "5-or-6-parts", paused: true, timezone: "UTC" });
    } catch (e) {
      cronerMessage = (e as Error).message;
    }
    expect(cronerMessage).not.toBe("");
    const err = await failure(
      engine.submitTask(
        submission(spec({ policy: { kind: "CRON", expression, timeZone: "UTC", maxOccurrences: 0, misfire: "CATCH_UP", startAt: null } })),
      ),
      "INVALID_ARGUMENT",
    );
    expect(err.violations).toEqual([{ field: "spec.policy.cron.expression", description: cronerMessage }]);
    expect(engine.reader.taskCount()).toBe(0);
  });

  it("rejects an unknown cron time zone on spec.policy.cron.time_zone", async () => {
    const { engine } = await open();
    const err = await failure(
      engine.submitTask(
        submission(
          spec({ policy: { kind: "CRON", expression: "* * * * *", timeZone: "Mars/Olympus", maxOccurrences: 0, misfire: "CATCH_UP", startAt: null } }),
        ),
      ),
      "INVALID_ARGUMENT",
    );
    expect(fields(err)).toEqual(["spec.policy.cron.time_zone"]);
  });

  it("a batch whose second item is invalid stores nothing and names tasks[1].spec.<field>", async () => {
    const { engine } = await open();
    await engine.submitTask(submission(spec()));
    const before = engine.reader.taskCount();
    const revision = engine.revision;
    const err = await failure(
      engine.submitTasks([submission(spec({ queue: "ok" })), submission(spec({ constraints: { maxAttempts: -1 } }))]),
      "INVALID_ARGUMENT",
    );
    expect(fields(err)).toEqual(["tasks[1].spec.constraints.max_attempts"]);
    expect(engine.reader.taskCount()).toBe(before);
    expect(engine.stats(["ok"]).queues[0]?.counts.READY).toBe(0);
    expect(engine.revision).toBe(revision);
  });

  it("a batch naming the same task id twice is INVALID_ARGUMENT on tasks[1].task_id", async () => {
    const { engine } = await open();
    const id = taskId(9003);
    const err = await failure(engine.submitTasks([submission(spec(), id), submission(spec(), id)]), "INVALID_ARGUMENT");
    expect(fields(err)).toEqual(["tasks[1].task_id"]);
    expect(engine.reader.taskCount()).toBe(0);
  });

  it("a batch whose second item names an unknown prerequisite fails whole with TASK_NOT_FOUND", async () => {
    const { engine } = await open();
    const missing = taskId(9004);
    const err = await failure(
      engine.submitTasks([submission(spec(), taskId(9005)), submission(spec({ dependsOn: [missing] }))]),
      "TASK_NOT_FOUND",
    );
    expect(err.metadata.task_id).toBe(missing);
    expect(engine.reader.taskCount()).toBe(0);
    expect(engine.reader.getTask(taskId(9005))).toBeUndefined();
  });

  it("rejects an unknown parent with TASK_NOT_FOUND naming the parent", async () => {
    const { engine } = await open();
    const parent = taskId(9006);
    const err = await failure(engine.submitTask(submission(spec({ parentTaskId: parent }))), "TASK_NOT_FOUND");
    expect(err.metadata.task_id).toBe(parent);
    expect(engine.reader.taskCount()).toBe(0);
  });

  it("rejects an unknown prerequisite with TASK_NOT_FOUND naming it", async () => {
    const { engine } = await open();
    const known = await engine.submitTask(submission(spec()));
    const missing = taskId(9007);
    const err = await failure(engine.submitTask(submission(spec({ dependsOn: [known.task.id, missing] }))), "TASK_NOT_FOUND");
    expect(err.metadata.task_id).toBe(missing);
    expect(engine.reader.taskCount()).toBe(1);
  });

  it("rejects a child of a COMPLETED or CANCELED parent with TASK_TERMINAL", async () => {
    const { engine, clock } = await open();
    const done = await place(engine, clock, "COMPLETED");
    expect(engine.reader.getTask(done.taskId)?.status).toBe("COMPLETED");
    const e1 = await failure(engine.submitTask(submission(spec({ parentTaskId: done.taskId }))), "TASK_TERMINAL");
    expect(e1.metadata).toMatchObject({ task_id: done.taskId, status: "COMPLETED" });

    const canceled = await engine.submitTask(submission(spec()));
    await engine.cancelTask(canceled.task.id);
    const e2 = await failure(engine.submitTask(submission(spec({ parentTaskId: canceled.task.id }))), "TASK_TERMINAL");
    expect(e2.metadata).toMatchObject({ task_id: canceled.task.id, status: "CANCELED" });
    expect(engine.reader.taskCount()).toBe(2);
  });

  it("rejects a dependency on a CANCELED prerequisite with TASK_TERMINAL", async () => {
    const { engine } = await open();
    const pre = await engine.submitTask(submission(spec()));
    await engine.cancelTask(pre.task.id);
    const err = await failure(engine.submitTask(submission(spec({ dependsOn: [pre.task.id] }))), "TASK_TERMINAL");
    expect(err.metadata.task_id).toBe(pre.task.id);
  });

  it("rejects a task that depends on itself with DEPENDENCY_CYCLE and stores nothing", async () => {
    const { engine } = await open();
    const id = taskId(9008);
    const err = await failure(engine.submitTask(submission(spec({ dependsOn: [id] }), id)), "DEPENDENCY_CYCLE");
    expect(err.metadata.task_id).toBe(id);
    expect(engine.reader.getTask(id)).toBeUndefined();
    expect(engine.reader.taskCount()).toBe(0);
  });

  it("with maxTaskDepth 2 accepts root and child and rejects a grandchild with HIERARCHY_TOO_DEEP", async () => {
    const { engine } = await open({ limits: { maxTaskDepth: 2 } });
    const root = await engine.submitTask(submission(spec()));
    const child = await engine.submitTask(submission(spec({ parentTaskId: root.task.id })));
    expect(child.task.depth).toBe(1);
    const err = await failure(engine.submitTask(submission(spec({ parentTaskId: child.task.id }))), "HIERARCHY_TOO_DEEP");
    expect(err.metadata).toMatchObject({ task_id: child.task.id, limit: "2" });
    expect(engine.reader.taskCount()).toBe(2);
  });

  it("with the default depth 8 accepts a root plus seven levels and rejects the eighth", async () => {
    const { engine } = await open();
    let parent = (await engine.submitTask(submission(spec()))).task.id;
    for (let level = 1; level <= 7; level++) {
      const r = await engine.submitTask(submission(spec({ parentTaskId: parent })));
      expect(r.task.depth).toBe(level);
      parent = r.task.id;
    }
    const err = await failure(engine.submitTask(submission(spec({ parentTaskId: parent }))), "HIERARCHY_TOO_DEEP");
    expect(err.metadata).toMatchObject({ task_id: parent, limit: "8" });
    expect(engine.reader.taskCount()).toBe(8);
  });

  it("a parent stays ACTIVE after its own run completes until its children are terminal", async () => {
    const { engine, clock } = await open();
    const parent = await place(engine, clock, "RUNNING");
    const child = await engine.submitTask(submission(spec({ parentTaskId: parent.taskId, queue: "children" })));
    await completeOne(engine, parent, "SUCCESS");
    expect(engine.reader.getTask(parent.taskId)?.status).toBe("ACTIVE");
    const [g] = (await engine.leaseRuns(req({ queues: ["children"], startAttempt: true }))).grants;
    expect(g?.run.taskId).toBe(child.task.id);
    okValue(await completeOne(engine, { runId: g!.run.id, token: g!.lease.token, attemptId: g!.attempt!.id }, "SUCCESS"));
    expect(engine.reader.getTask(child.task.id)?.status).toBe("COMPLETED");
    expect(engine.reader.getTask(parent.taskId)?.status).toBe("COMPLETED");
  });
});

// ─── cancelRun ───────────────────────────────────────────────────────────────────────

describe("cancelRun", () => {
  it.each(["SCHEDULED", "READY", "LEASED", "RUNNING", "RETRY_WAIT", "SUSPENDED"] as const)(
    "cancels a %s run: CANCELED, reason CANCELED_BY_USER, no lease left",
    async (state) => {
      const { engine, clock } = await open();
      const p = await place(engine, clock, state);
      expect(run(engine, p.runId).state).toBe(state);
      const canceled = await engine.cancelRun(p.runId);
      expect(canceled.state).toBe("CANCELED");
      expect(canceled.stateReason).toBe("CANCELED_BY_USER");
      const stored = run(engine, p.runId);
      expect(stored.state).toBe("CANCELED");
      expect(stored.currentAttemptId).toBeNull();
      expect(stored.finishedAt).toBe(clock.now());
      expect(engine.reader.getLease(p.runId)).toBeUndefined();
      expect(engine.reader.getTask(p.taskId)?.status).toBe("COMPLETED");
      if (state === "RUNNING") {
        expect(engine.reader.attempts(p.runId, 0, 10).map((a) => a.outcome)).toEqual(["CANCELED"]);
      }
    },
  );

  it("a worker whose run was canceled gets LEASE_LOST on completion", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING");
    await engine.cancelRun(p.runId);
    const e = itemError(await completeOne(engine, p, "SUCCESS"), "LEASE_LOST");
    expect(e.metadata.run_id).toBe(p.runId);
    expect(run(engine, p.runId).state).toBe("CANCELED");
  });

  it("canceling a CANCELED run is a no-op success that writes nothing", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "CANCELED");
    const before = run(engine, p.runId);
    const revision = engine.revision;
    clock.advance(1_000);
    const again = await engine.cancelRun(p.runId);
    expect(again.state).toBe("CANCELED");
    expect(again.revision).toBe(before.revision);
    expect(engine.revision).toBe(revision);
    expect(run(engine, p.runId).lastStateChangeAt).toBe(before.lastStateChangeAt);
  });

  it.each(["COMPLETED", "FAILED"] as const)("canceling a %s run fails with RUN_TERMINAL and leaves it unchanged", async (state) => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, state);
    const err = await failure(engine.cancelRun(p.runId), "RUN_TERMINAL");
    expect(err.metadata).toMatchObject({ run_id: p.runId, state });
    expect(run(engine, p.runId).state).toBe(state);
  });

  it("canceling an unknown run fails with RUN_NOT_FOUND naming it", async () => {
    const { engine } = await open();
    const id = "00000000-0000-7000-8100-00000000abcd" as RunId;
    const err = await failure(engine.cancelRun(id), "RUN_NOT_FOUND");
    expect(err.metadata.run_id).toBe(id);
  });
});

// ─── cancelTask ──────────────────────────────────────────────────────────────────────

describe("cancelTask", () => {
  it("cascades to children, grandchildren and dependents and returns the counts", async () => {
    const { engine, clock } = await open();
    const root = await engine.submitTask(submission(spec({ policy: { kind: "REPEAT", count: 2, intervalMs: MIN, startAt: null } })));
    const child = await engine.submitTask(submission(spec({ parentTaskId: root.task.id })));
    const grandchild = await engine.submitTask(submission(spec({ parentTaskId: child.task.id })));
    const dependent = await engine.submitTask(submission(spec({ dependsOn: [root.task.id] })));
    const unrelated = await engine.submitTask(submission(spec()));
    expect(runsOf(engine, dependent.task.id)[0]?.state).toBe("SCHEDULED");

    const r = await engine.cancelTask(root.task.id, "operator");
    expect(r.tasksCanceled).toBe(4);
    expect(r.runsCanceled).toBe(5);
    expect(r.task.status).toBe("CANCELED");
    const status = (id: TaskId) => engine.reader.getTask(id);
    expect(status(root.task.id)?.statusReason).toBe("CANCELED_BY_USER: operator");
    expect(status(child.task.id)).toMatchObject({ status: "CANCELED", statusReason: "PARENT_CANCELED" });
    expect(status(grandchild.task.id)).toMatchObject({ status: "CANCELED", statusReason: "PARENT_CANCELED" });
    expect(status(dependent.task.id)).toMatchObject({ status: "CANCELED", statusReason: "DEPENDENCY_FAILED" });
    expect(status(unrelated.task.id)?.status).toBe("ACTIVE");
    for (const id of [root.task.id, child.task.id, grandchild.task.id, dependent.task.id]) {
      for (const x of runsOf(engine, id)) expect(x.state).toBe("CANCELED");
    }
    expect(runsOf(engine, child.task.id)[0]?.stateReason).toBe("PARENT_CANCELED");
    expect(runsOf(engine, unrelated.task.id)[0]?.state).toBe("READY");
    // No further runs are derived: the canceled repeat's second run does not come back.
    clock.advance(2 * MIN);
    await engine.tick();
    for (const x of runsOf(engine, root.task.id)) expect(x.state).toBe("CANCELED");
  });

  it("a canceled cron task derives no further runs", async () => {
    const { engine, clock } = await open();
    clock.advance(30_000);
    const r = await engine.submitTask(
      submission(spec({ policy: { kind: "CRON", expression: "* * * * *", timeZone: "UTC", maxOccurrences: 0, misfire: "CATCH_UP", startAt: null } })),
    );
    expect(engine.reader.runIdsOfTask(r.task.id)).toHaveLength(3);
    const c = await engine.cancelTask(r.task.id);
    expect(c.runsCanceled).toBe(3);
    clock.advance(10 * MIN);
    await engine.tick();
    expect(engine.reader.runIdsOfTask(r.task.id)).toHaveLength(3);
    expect(runsOf(engine, r.task.id).every((x) => x.state === "CANCELED")).toBe(true);
  });

  it("canceling a CANCELED task is a no-op success with zero counts", async () => {
    const { engine } = await open();
    const r = await engine.submitTask(submission(spec()));
    await engine.cancelTask(r.task.id);
    const revision = engine.revision;
    const again = await engine.cancelTask(r.task.id);
    expect(again).toMatchObject({ runsCanceled: 0, tasksCanceled: 0 });
    expect(again.task.status).toBe("CANCELED");
    expect(engine.revision).toBe(revision);
  });

  it("canceling a COMPLETED task fails with TASK_TERMINAL", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "COMPLETED");
    const err = await failure(engine.cancelTask(p.taskId), "TASK_TERMINAL");
    expect(err.metadata).toMatchObject({ task_id: p.taskId, status: "COMPLETED" });
    expect(engine.reader.getTask(p.taskId)?.status).toBe("COMPLETED");
  });

  it("canceling a FAILED task fails with TASK_TERMINAL", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "FAILED");
    const err = await failure(engine.cancelTask(p.taskId), "TASK_TERMINAL");
    expect(err.metadata).toMatchObject({ task_id: p.taskId, status: "FAILED" });
  });

  it("canceling an unknown task fails with TASK_NOT_FOUND", async () => {
    const { engine } = await open();
    const id = taskId(9010);
    const err = await failure(engine.cancelTask(id), "TASK_NOT_FOUND");
    expect(err.metadata.task_id).toBe(id);
  });
});

// ─── suspend / resume ────────────────────────────────────────────────────────────────

describe("suspendRun and resumeRun", () => {
  it("suspends a RUNNING run: the open attempt ends SUSPENDED and does not count", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING");
    const s = await engine.suspendRun(p.runId, "maintenance");
    expect(s.state).toBe("SUSPENDED");
    expect(s.stateReason).toBe("maintenance");
    expect(s.attemptCount).toBe(1);
    expect(s.countedAttempts).toBe(0);
    expect(s.currentAttemptId).toBeNull();
    const [a] = engine.reader.attempts(p.runId, 0, 10);
    expect(a).toMatchObject({ id: p.attemptId, outcome: "SUSPENDED", counted: false, finishedAt: clock.now() });
    expect(engine.reader.getLease(p.runId)).toBeUndefined();
  });

  it("resumes a SUSPENDED run to READY and it can be leased and started again as attempt 2", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "SUSPENDED", { constraints: { maxAttempts: 1 } });
    const r = await engine.resumeRun(p.runId);
    expect(r.state).toBe("READY");
    const [g] = (await engine.leaseRuns(req({ queues: [p.queue], startAttempt: true }))).grants;
    expect(g?.run.id).toBe(p.runId);
    expect(g?.attempt?.number).toBe(2);
    expect(g?.run.countedAttempts).toBe(1);
  });

  it.each(["SCHEDULED", "READY", "LEASED", "RETRY_WAIT", "SUSPENDED"] as const)(
    "suspending a %s run fails with INVALID_TRANSITION",
    async (state) => {
      const { engine, clock } = await open();
      const p = await place(engine, clock, state);
      const err = await failure(engine.suspendRun(p.runId), "INVALID_TRANSITION");
      expect(err.metadata).toMatchObject({ run_id: p.runId, from: state, to: "SUSPENDED" });
      expect(run(engine, p.runId).state).toBe(state);
    },
  );

  it.each(["COMPLETED", "FAILED", "CANCELED"] as const)("suspending a %s run fails with RUN_TERMINAL", async (state) => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, state);
    const err = await failure(engine.suspendRun(p.runId), "RUN_TERMINAL");
    expect(err.metadata).toMatchObject({ run_id: p.runId, state });
  });

  it.each(["READY", "LEASED", "RUNNING"] as const)("resuming a %s run fails with INVALID_TRANSITION", async (state) => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, state);
    const err = await failure(engine.resumeRun(p.runId), "INVALID_TRANSITION");
    expect(err.metadata).toMatchObject({ run_id: p.runId, from: state, to: "READY" });
    expect(run(engine, p.runId).state).toBe(state);
  });

  it("resuming a CANCELED run fails with RUN_TERMINAL", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "CANCELED");
    const err = await failure(engine.resumeRun(p.runId), "RUN_TERMINAL");
    expect(err.metadata).toMatchObject({ run_id: p.runId, state: "CANCELED" });
  });

  it("suspending or resuming an unknown run fails with RUN_NOT_FOUND", async () => {
    const { engine } = await open();
    const id = "00000000-0000-7000-8100-00000000abce" as RunId;
    expect((await failure(engine.suspendRun(id), "RUN_NOT_FOUND")).metadata.run_id).toBe(id);
    expect((await failure(engine.resumeRun(id), "RUN_NOT_FOUND")).metadata.run_id).toBe(id);
  });
});

// ─── setRunPriority ──────────────────────────────────────────────────────────────────

describe("setRunPriority", () => {
  it("re-prioritising a READY run changes the hand-out order", async () => {
    const { engine, clock } = await open();
    const a = await engine.submitTask(submission(spec()));
    clock.advance(1);
    const b = await engine.submitTask(submission(spec()));
    const bRun = b.runs[0]!.id;
    const changed = await engine.setRunPriority(bRun, 7);
    expect(changed.effectivePriority).toBe(7);
    expect(run(engine, bRun).effectivePriority).toBe(7);
    const grants = (await engine.leaseRuns(req({ maxRuns: 2 }))).grants;
    expect(grants.map((g) => g.run.taskId)).toEqual([b.task.id, a.task.id]);
  });

  it.each(["SCHEDULED", "LEASED", "RUNNING", "COMPLETED"] as const)(
    "re-prioritising a %s run fails with PRIORITY_REQUIRES_READY",
    async (state) => {
      const { engine, clock } = await open();
      const p = await place(engine, clock, state);
      const err = await failure(engine.setRunPriority(p.runId, 5), "PRIORITY_REQUIRES_READY");
      expect(err.metadata).toMatchObject({ run_id: p.runId, state });
      expect(run(engine, p.runId).effectivePriority).toBe(0);
    },
  );

  it("rejects an out-of-range priority with INVALID_ARGUMENT on priority", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "READY");
    const err = await failure(engine.setRunPriority(p.runId, 1_000_001), "INVALID_ARGUMENT");
    expect(fields(err)).toEqual(["priority"]);
  });

  it("re-prioritising an unknown run fails with RUN_NOT_FOUND", async () => {
    const { engine } = await open();
    const id = "00000000-0000-7000-8100-00000000abcf" as RunId;
    expect((await failure(engine.setRunPriority(id, 1), "RUN_NOT_FOUND")).metadata.run_id).toBe(id);
  });
});

// ─── leaseRuns ───────────────────────────────────────────────────────────────────────

describe("leaseRuns", () => {
  it("hands out higher priority first, then earlier created", async () => {
    const { engine, clock } = await open();
    const prio = (priority: number) => spec({ metadata: { priority, tags: [], description: "" } });
    const a = await engine.submitTask(submission(prio(0)));
    clock.advance(1);
    const b = await engine.submitTask(submission(prio(5)));
    clock.advance(1);
    const c = await engine.submitTask(submission(prio(5)));
    clock.advance(1);
    const d = await engine.submitTask(submission(prio(0)));
    clock.advance(1);
    const e = await engine.submitTask(submission(prio(-3)));
    const order: TaskId[] = [];
    for (let i = 0; i < 5; i++) {
      const [g] = (await engine.leaseRuns(req({ maxRuns: 1 }))).grants;
      order.push(g!.run.taskId);
    }
    expect(order).toEqual([b.task.id, c.task.id, a.task.id, d.task.id, e.task.id]);
  });

  it("returns LEASED runs with the task, a lease token and the expiry", async () => {
    const { engine, clock } = await open();
    const s = await engine.submitTask(submission(spec()));
    const [g] = (await engine.leaseRuns(req({ workerId: "worker-7", leaseDurationMs: 45_000 }))).grants;
    expect(g?.run).toMatchObject({ id: s.runs[0]!.id, state: "LEASED" });
    expect(g?.task.id).toBe(s.task.id);
    expect(g?.attempt).toBeNull();
    expect(g?.lease).toMatchObject({ workerId: "worker-7", expiresAt: clock.now() + 45_000 });
    expect(engine.reader.getLease(g!.run.id)?.token).toBe(g!.lease.token);
    expect(run(engine, g!.run.id).state).toBe("LEASED");
  });

  it("hands out at most max_runs runs", async () => {
    const { engine } = await open();
    await engine.submitTasks(Array.from({ length: 5 }, () => submission(spec())));
    const r = await engine.leaseRuns(req({ maxRuns: 2 }));
    expect(r.grants).toHaveLength(2);
    expect(engine.stats(["default"]).queues[0]?.counts).toMatchObject({ READY: 3, LEASED: 2 });
  });

  it("hands runs with required capabilities only to workers declaring all of them", async () => {
    const { engine } = await open();
    const gpu = await engine.submitTask(submission(spec({ constraints: { requiredCapabilities: ["gpu", "linux"] } })));
    expect((await engine.leaseRuns(req({ capabilities: [] }))).grants).toHaveLength(0);
    expect((await engine.leaseRuns(req({ capabilities: ["gpu"] }))).grants).toHaveLength(0);
    const [g] = (await engine.leaseRuns(req({ capabilities: ["linux", "gpu", "x86"] }))).grants;
    expect(g?.run.taskId).toBe(gpu.task.id);
  });

  it("leases from several queues at once", async () => {
    const { engine } = await open();
    await engine.submitTask(submission(spec({ queue: "a" })));
    await engine.submitTask(submission(spec({ queue: "b" })));
    await engine.submitTask(submission(spec({ queue: "c" })));
    const r = await engine.leaseRuns(req({ queues: ["a", "b"] }));
    expect(r.grants.map((g) => g.run.queue).sort()).toEqual(["a", "b"]);
    expect(engine.stats(["c"]).queues[0]?.counts.READY).toBe(1);
  });

  it("with wait 0 on a paused queue fails with QUEUE_PAUSED naming the queue", async () => {
    const { engine } = await open();
    const s = await engine.submitTask(submission(spec({ queue: "pq" })));
    await engine.pauseQueue("pq");
    const err = await failure(engine.leaseRuns(req({ queues: ["pq"] })), "QUEUE_PAUSED");
    expect(err.metadata.queues).toBe("pq");
    expect(run(engine, s.runs[0]!.id).state).toBe("READY");
  });

  it("with wait 0 on a paused engine fails with ENGINE_PAUSED", async () => {
    const { engine } = await open();
    const s = await engine.submitTask(submission(spec()));
    await engine.pauseEngine();
    await failure(engine.leaseRuns(req()), "ENGINE_PAUSED");
    expect(run(engine, s.runs[0]!.id).state).toBe("READY");
  });

  it("with one of two queues paused hands out from the other and lists the paused one", async () => {
    const { engine } = await open();
    await engine.submitTask(submission(spec({ queue: "a" })));
    await engine.submitTask(submission(spec({ queue: "b" })));
    await engine.pauseQueue("a");
    const r = await engine.leaseRuns(req({ queues: ["a", "b"] }));
    expect(r.grants.map((g) => g.run.queue)).toEqual(["b"]);
    expect(r.pausedQueues).toEqual(["a"]);
  });

  it("a long poll on a paused queue waits and is answered when the queue resumes", async () => {
    const { engine } = await open();
    const s = await engine.submitTask(submission(spec({ queue: "lp" })));
    await engine.pauseQueue("lp");
    const pending = engine.leaseRuns(req({ queues: ["lp"], waitMs: 30_000 }));
    await vi.waitFor(() => expect(engine.waitingWorkers).toBe(1), { timeout: 30_000 });
    await engine.resumeQueue("lp");
    const r = await pending;
    expect(r.grants.map((g) => g.run.id)).toEqual([s.runs[0]!.id]);
  });

  it("a long poll is answered by a run submitted while it waits", async () => {
    const { engine } = await open();
    const pending = engine.leaseRuns(req({ queues: ["lp2"], waitMs: 30_000 }));
    await vi.waitFor(() => expect(engine.waitingWorkers).toBe(1), { timeout: 30_000 });
    const s = await engine.submitTask(submission(spec({ queue: "lp2" })));
    const r = await pending;
    expect(r.grants.map((g) => g.run.id)).toEqual([s.runs[0]!.id]);
    expect(engine.waitingWorkers).toBe(0);
  });

  it("a single-flight key hands out one run at a time and the next one once the first finishes", async () => {
    const { engine } = await open();
    const k = keySpec("tenant-1");
    await engine.submitTasks(Array.from({ length: 3 }, () => submission(spec({ constraints: { concurrency: k } }))));
    const first = await engine.leaseRuns(req({ startAttempt: true }));
    expect(first.grants).toHaveLength(1);
    const g = first.grants[0]!;
    expect(engine.reader.keyHolders("tenant-1")).toMatchObject([{ runId: g.run.id, hold: "HELD" }]);
    expect((await engine.leaseRuns(req())).grants).toHaveLength(0);
    okValue(await completeOne(engine, { runId: g.run.id, token: g.lease.token, attemptId: g.attempt!.id }, "SUCCESS"));
    expect(engine.reader.keyHolders("tenant-1")).toEqual([]);
    const next = await engine.leaseRuns(req());
    expect(next.grants).toHaveLength(1);
    expect(next.grants[0]?.run.id).not.toBe(g.run.id);
    expect(engine.reader.keyHolders("tenant-1")).toMatchObject([{ runId: next.grants[0]!.run.id, hold: "RESERVED" }]);
  });

  it("a 2-slot key hands out two runs at a time", async () => {
    const { engine } = await open();
    const k = keySpec("pair", 2);
    await engine.submitTasks(Array.from({ length: 4 }, () => submission(spec({ constraints: { concurrency: k } }))));
    expect((await engine.leaseRuns(req())).grants).toHaveLength(2);
    expect(engine.reader.keyHolders("pair")).toHaveLength(2);
    expect((await engine.leaseRuns(req())).grants).toHaveLength(0);
  });

  it("runs of a full key are skipped while runs of other keys and keyless runs keep flowing", async () => {
    const { engine } = await open();
    const high = { priority: 10, tags: [], description: "" };
    const a1 = await engine.submitTask(submission(spec({ metadata: high, constraints: { concurrency: keySpec("a") } })));
    const a2 = await engine.submitTask(submission(spec({ metadata: high, constraints: { concurrency: keySpec("a") } })));
    const b = await engine.submitTask(submission(spec({ constraints: { concurrency: keySpec("b") } })));
    const free = await engine.submitTask(submission(spec()));
    const r = await engine.leaseRuns(req({ maxRuns: 10 }));
    expect(r.grants.map((g) => g.run.taskId)).toEqual([a1.task.id, b.task.id, free.task.id]);
    expect(runsOf(engine, a2.task.id)[0]?.state).toBe("READY");
  });

  it("with startAttempt the runs come back RUNNING with attempt 1 open", async () => {
    const { engine, clock } = await open();
    await engine.submitTasks([submission(spec()), submission(spec())]);
    const r = await engine.leaseRuns(req({ startAttempt: true, workerId: "w9" }));
    expect(r.grants).toHaveLength(2);
    for (const g of r.grants) {
      expect(g.run.state).toBe("RUNNING");
      expect(g.attempt).toMatchObject({ number: 1, workerId: "w9", outcome: null, startedAt: clock.now() });
      expect(run(engine, g.run.id)).toMatchObject({ state: "RUNNING", currentAttemptId: g.attempt!.id, attemptCount: 1 });
      expect(engine.reader.attempts(g.run.id, 0, 10)).toHaveLength(1);
    }
  });

  it("treats max_runs 0 and unset numbers as their defaults (1 run, a 30 s lease, no wait)", async () => {
    const { engine, clock } = await open();
    await engine.submitTasks([submission(spec()), submission(spec())]);
    const r = await engine.leaseRuns(req({ maxRuns: 0, leaseDurationMs: null, waitMs: null }));
    expect(r.grants).toHaveLength(1);
    expect(r.grants[0]!.lease.expiresAt - clock.now()).toBe(30_000);
  });

  it.each([
    // max_runs 0 means "the default" (1): see the test above; a negative count is refused.
    [{ maxRuns: -1 }, "max_runs"],
    [{ maxRuns: 1_001 }, "max_runs"],
    [{ leaseDurationMs: 10 }, "lease_duration"],
    [{ queues: ["bad queue"] }, "queues[0]"],
    [{ queues: [] as string[] }, "queues"],
    [{ workerId: "" }, "worker_id"],
    [{ waitMs: -1 }, "wait"],
    [{ capabilities: ["no spaces"] }, "capabilities[0]"],
  ] as const)("rejects %o with INVALID_ARGUMENT on %s and leases nothing", async (over, field) => {
    const { engine } = await open();
    const s = await engine.submitTask(submission(spec()));
    const err = await failure(engine.leaseRuns(req(over as Partial<LeaseRequest>)), "INVALID_ARGUMENT");
    expect(fields(err)).toEqual([field]);
    expect(run(engine, s.runs[0]!.id).state).toBe("READY");
  });
});

// ─── startAttempt ────────────────────────────────────────────────────────────────────

describe("startAttempt", () => {
  it("moves a LEASED run to RUNNING with attempt 1 owned by the leasing worker", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "LEASED");
    const s = await engine.startAttempt(p.runId, p.token);
    expect(s.run).toMatchObject({ state: "RUNNING", attemptCount: 1, currentAttemptId: s.attempt.id });
    expect(s.attempt).toMatchObject({ number: 1, workerId: "w1", runId: p.runId, outcome: null });
    expect(engine.reader.getAttempt(p.runId, 1)?.id).toBe(s.attempt.id);
  });

  it("with a wrong token fails with LEASE_LOST and leaves the run LEASED", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "LEASED");
    const err = await failure(engine.startAttempt(p.runId, NO_TOKEN), "LEASE_LOST");
    expect(err.metadata).toMatchObject({ run_id: p.runId, state: "LEASED" });
    expect(run(engine, p.runId)).toMatchObject({ state: "LEASED", attemptCount: 0 });
  });

  it("on a RUNNING run fails with INVALID_TRANSITION and opens no second attempt", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING");
    const err = await failure(engine.startAttempt(p.runId, p.token), "INVALID_TRANSITION");
    expect(err.metadata).toMatchObject({ run_id: p.runId, from: "RUNNING", to: "RUNNING" });
    expect(run(engine, p.runId)).toMatchObject({ attemptCount: 1, currentAttemptId: p.attemptId });
  });

  it("on a READY run (never leased) fails with LEASE_LOST", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "READY");
    await failure(engine.startAttempt(p.runId, NO_TOKEN), "LEASE_LOST");
    expect(run(engine, p.runId).state).toBe("READY");
  });

  it("on an unknown run fails with RUN_NOT_FOUND", async () => {
    const { engine } = await open();
    const id = "00000000-0000-7000-8100-00000000abd0" as RunId;
    expect((await failure(engine.startAttempt(id, NO_TOKEN), "RUN_NOT_FOUND")).metadata.run_id).toBe(id);
  });
});

// ─── heartbeat ───────────────────────────────────────────────────────────────────────

describe("heartbeat", () => {
  it("extends the lease by its duration, or by extendByMs when given", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING");
    clock.advance(20_000);
    const [h1] = await engine.heartbeat([{ runId: p.runId, token: p.token, extendByMs: null }]);
    expect(okValue(h1)).toEqual({ leaseExpiresAt: clock.now() + 30_000, state: "RUNNING", stop: false, stopReason: null });
    expect(engine.reader.getLease(p.runId)?.expiresAt).toBe(clock.now() + 30_000);
    clock.advance(1_000);
    const [h2] = await engine.heartbeat([{ runId: p.runId, token: p.token, extendByMs: 5_000 }]);
    expect(okValue(h2).leaseExpiresAt).toBe(clock.now() + 5_000);
    expect(engine.reader.getLease(p.runId)?.expiresAt).toBe(clock.now() + 5_000);
  });

  it("a batch heartbeat answers each run on its own: a bad token fails alone", async () => {
    const { engine, clock } = await open();
    const a = await place(engine, clock, "RUNNING");
    const b = await place(engine, clock, "LEASED");
    clock.advance(10_000);
    const [ra, rb, rc] = await engine.heartbeat([
      { runId: a.runId, token: a.token, extendByMs: null },
      { runId: b.runId, token: NO_TOKEN, extendByMs: null },
      { runId: "00000000-0000-7000-8100-00000000abd1" as RunId, token: NO_TOKEN, extendByMs: null },
    ]);
    expect(okValue(ra).leaseExpiresAt).toBe(clock.now() + 30_000);
    expect(itemError(rb, "LEASE_LOST").metadata.run_id).toBe(b.runId);
    itemError(rc, "RUN_NOT_FOUND");
    // b's lease was not extended.
    expect(engine.reader.getLease(b.runId)?.expiresAt).toBe(clock.now() - 10_000 + 30_000);
  });

  it("after cancelRun answers ok with stop=true and stopReason CANCELED", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING");
    await engine.cancelRun(p.runId);
    const [h] = await engine.heartbeat([{ runId: p.runId, token: p.token, extendByMs: null }]);
    expect(okValue(h)).toMatchObject({ stop: true, stopReason: "CANCELED", state: "CANCELED" });
  });

  it("after suspendRun answers ok with stop=true and stopReason SUSPENDED", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING");
    await engine.suspendRun(p.runId);
    const [h] = await engine.heartbeat([{ runId: p.runId, token: p.token, extendByMs: null }]);
    expect(okValue(h)).toMatchObject({ stop: true, stopReason: "SUSPENDED", state: "SUSPENDED" });
  });

  it("with a token whose lease expired fails with LEASE_LOST", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "LEASED");
    clock.advance(30_001);
    await engine.tick();
    expect(run(engine, p.runId).state).toBe("READY");
    const [h] = await engine.heartbeat([{ runId: p.runId, token: p.token, extendByMs: null }]);
    expect(itemError(h, "LEASE_LOST").metadata).toMatchObject({ run_id: p.runId, state: "READY" });
  });

  it("with the token of a lease that was re-granted to another worker fails with LEASE_LOST", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING", { constraints: { maxAttempts: 2, backoff: { kind: "FIXED", intervalMs: 0 } } });
    clock.advance(30_000);
    await engine.tick(); // lease expiry: TIMEOUT -> RETRY_WAIT with a zero delay
    await engine.tick(); // the retry that fell due in the previous tick
    expect(run(engine, p.runId).state).toBe("READY");
    const [g] = (await engine.leaseRuns(req({ queues: [p.queue], workerId: "w2", startAttempt: true }))).grants;
    expect(g?.run.id).toBe(p.runId);
    const [old, fresh] = await engine.heartbeat([
      { runId: p.runId, token: p.token, extendByMs: null },
      { runId: p.runId, token: g!.lease.token, extendByMs: null },
    ]);
    itemError(old, "LEASE_LOST");
    expect(okValue(fresh).stop).toBe(false);
    // The zombie cannot complete the run either.
    itemError(await completeOne(engine, p, "SUCCESS"), "LEASE_LOST");
    expect(run(engine, p.runId).state).toBe("RUNNING");
  });
});

// ─── completeAttempts ────────────────────────────────────────────────────────────────

describe("completeAttempts", () => {
  it("SUCCESS moves the run to COMPLETED, keeps the output and completes the task", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING");
    clock.advance(2_000);
    const v = okValue(await completeOne(engine, p, "SUCCESS", { output: new Uint8Array([7, 8, 9]) }));
    expect(v.run.state).toBe("COMPLETED");
    expect(v.attempt).toMatchObject({ id: p.attemptId, number: 1, outcome: "SUCCESS", counted: true, finishedAt: clock.now() });
    expect([...v.attempt.output]).toEqual([7, 8, 9]);
    expect(engine.reader.getLease(p.runId)).toBeUndefined();
    expect(engine.reader.getTask(p.taskId)?.status).toBe("COMPLETED");
  });

  it("TERMINAL_FAILURE moves the run to FAILED with the error and fails the task", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING", { constraints: { maxAttempts: 5 } });
    const v = okValue(await completeOne(engine, p, "TERMINAL_FAILURE", { error: "bad input" }));
    expect(v.run.state).toBe("FAILED");
    expect(v.attempt).toMatchObject({ outcome: "TERMINAL_FAILURE", error: "bad input" });
    expect(engine.reader.getTask(p.taskId)?.status).toBe("FAILED");
  });

  it.each(["RETRYABLE_FAILURE", "TIMEOUT"] as const)("%s moves the run to RETRY_WAIT while attempts remain", async (outcome) => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING", { constraints: { maxAttempts: 2, backoff: { kind: "FIXED", intervalMs: 5_000 } } });
    const v = okValue(await completeOne(engine, p, outcome, { error: "flaky" }));
    expect(v.run).toMatchObject({ state: "RETRY_WAIT", retryAt: clock.now() + 5_000, countedAttempts: 1 });
    expect(v.attempt).toMatchObject({ outcome, error: "flaky", counted: true });
    expect(engine.reader.getTask(p.taskId)?.status).toBe("ACTIVE");
  });

  it.each(["RETRYABLE_FAILURE", "TIMEOUT"] as const)("%s moves the run to FAILED at max_attempts", async (outcome) => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING", { constraints: { maxAttempts: 1 } });
    const v = okValue(await completeOne(engine, p, outcome));
    expect(v.run.state).toBe("FAILED");
    expect(v.run.retryAt).toBeNull();
    expect(engine.reader.getTask(p.taskId)?.status).toBe("FAILED");
  });

  it("SUSPENDED moves the run to SUSPENDED and the attempt does not count", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING", { constraints: { maxAttempts: 1 } });
    const v = okValue(await completeOne(engine, p, "SUSPENDED", { error: "waiting for approval" }));
    expect(v.run).toMatchObject({ state: "SUSPENDED", countedAttempts: 0, attemptCount: 1, stateReason: "waiting for approval" });
    expect(v.attempt).toMatchObject({ outcome: "SUSPENDED", counted: false });
    // The budget of one attempt is still available after resuming.
    await engine.resumeRun(p.runId);
    const [g] = (await engine.leaseRuns(req({ queues: [p.queue], startAttempt: true }))).grants;
    const v2 = okValue(await completeOne(engine, { runId: p.runId, token: g!.lease.token, attemptId: g!.attempt!.id }, "SUCCESS"));
    expect(v2.run).toMatchObject({ state: "COMPLETED", attemptCount: 2, countedAttempts: 1 });
  });

  it("with another attempt id fails with ATTEMPT_MISMATCH naming both ids", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING");
    const e = itemError(await completeOne(engine, { ...p, attemptId: NO_ATTEMPT }, "SUCCESS"), "ATTEMPT_MISMATCH");
    expect(e.metadata).toMatchObject({ run_id: p.runId, attempt_id: NO_ATTEMPT, expected_attempt_id: p.attemptId });
    expect(run(engine, p.runId).state).toBe("RUNNING");
  });

  it("on a LEASED run without an attempt fails with NO_ACTIVE_ATTEMPT", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "LEASED");
    const e = itemError(await completeOne(engine, p, "SUCCESS"), "NO_ACTIVE_ATTEMPT");
    expect(e.metadata.run_id).toBe(p.runId);
    expect(run(engine, p.runId).state).toBe("LEASED");
  });

  it("with a stale token fails with LEASE_LOST", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING");
    const e = itemError(await completeOne(engine, { ...p, token: NO_TOKEN }, "SUCCESS"), "LEASE_LOST");
    expect(e.metadata).toMatchObject({ run_id: p.runId, state: "RUNNING" });
    expect(run(engine, p.runId).state).toBe("RUNNING");
  });

  it("with an unknown run fails with RUN_NOT_FOUND", async () => {
    const { engine } = await open();
    const id = "00000000-0000-7000-8100-00000000abd2" as RunId;
    const e = itemError(await completeOne(engine, { runId: id, token: NO_TOKEN, attemptId: NO_ATTEMPT }, "SUCCESS"), "RUN_NOT_FOUND");
    expect(e.metadata.run_id).toBe(id);
  });

  it("output with a non-SUCCESS outcome is INVALID_ARGUMENT on output and changes nothing", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING");
    const e = itemError(await completeOne(engine, p, "RETRYABLE_FAILURE", { output: new Uint8Array([1]) }), "INVALID_ARGUMENT");
    expect(fields(e)).toEqual(["output"]);
    expect(run(engine, p.runId)).toMatchObject({ state: "RUNNING", currentAttemptId: p.attemptId });
  });

  it("output over limits.maxOutputBytes is INVALID_ARGUMENT on output and changes nothing", async () => {
    const { engine, clock } = await open({ limits: { maxOutputBytes: 16 } });
    const p = await place(engine, clock, "RUNNING");
    const e = itemError(await completeOne(engine, p, "SUCCESS", { output: new Uint8Array(17) }), "INVALID_ARGUMENT");
    expect(fields(e)).toEqual(["output"]);
    expect(run(engine, p.runId).state).toBe("RUNNING");
    // Exactly at the limit is fine.
    expect(okValue(await completeOne(engine, p, "SUCCESS", { output: new Uint8Array(16) })).run.state).toBe("COMPLETED");
  });

  it("error text over limits.maxErrorBytes is INVALID_ARGUMENT on error", async () => {
    const { engine, clock } = await open({ limits: { maxErrorBytes: 8 } });
    const p = await place(engine, clock, "RUNNING");
    const e = itemError(await completeOne(engine, p, "TERMINAL_FAILURE", { error: "123456789" }), "INVALID_ARGUMENT");
    expect(fields(e)).toEqual(["error"]);
    expect(run(engine, p.runId).state).toBe("RUNNING");
  });

  it("in one batch a good item applies while a bad item fails alone", async () => {
    const { engine, clock } = await open();
    const good = await place(engine, clock, "RUNNING");
    const bad = await place(engine, clock, "RUNNING");
    const [rg, rb] = await engine.completeAttempts([
      { runId: good.runId, token: good.token, attemptId: good.attemptId, outcome: "SUCCESS", output: new Uint8Array(0), error: "" },
      { runId: bad.runId, token: NO_TOKEN, attemptId: bad.attemptId, outcome: "SUCCESS", output: new Uint8Array(0), error: "" },
    ]);
    expect(okValue(rg).run.state).toBe("COMPLETED");
    itemError(rb, "LEASE_LOST");
    expect(run(engine, good.runId).state).toBe("COMPLETED");
    expect(run(engine, bad.runId).state).toBe("RUNNING");
  });

  it("completing twice: the second completion fails with LEASE_LOST and the run stays COMPLETED", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING");
    okValue(await completeOne(engine, p, "SUCCESS"));
    itemError(await completeOne(engine, p, "TERMINAL_FAILURE"), "LEASE_LOST");
    expect(run(engine, p.runId).state).toBe("COMPLETED");
    expect(engine.reader.attempts(p.runId, 0, 10).map((a) => a.outcome)).toEqual(["SUCCESS"]);
  });
});

// ─── releaseLease ────────────────────────────────────────────────────────────────────

describe("releaseLease", () => {
  it("gives a LEASED run back to READY without spending an attempt", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "LEASED", { constraints: { concurrency: keySpec("rel") } });
    expect(engine.reader.keyHolders("rel")).toHaveLength(1);
    const r = await engine.releaseLease(p.runId, p.token);
    expect(r).toMatchObject({ state: "READY", attemptCount: 0, countedAttempts: 0 });
    expect(engine.reader.getLease(p.runId)).toBeUndefined();
    expect(engine.reader.keyHolders("rel")).toEqual([]);
    const [g] = (await engine.leaseRuns(req({ queues: [p.queue] }))).grants;
    expect(g?.run.id).toBe(p.runId);
  });

  it("on a RUNNING run fails with INVALID_TRANSITION", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING");
    const err = await failure(engine.releaseLease(p.runId, p.token), "INVALID_TRANSITION");
    expect(err.metadata).toMatchObject({ run_id: p.runId, from: "RUNNING", to: "READY" });
    expect(run(engine, p.runId).state).toBe("RUNNING");
  });

  it("with a wrong token fails with LEASE_LOST", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "LEASED");
    await failure(engine.releaseLease(p.runId, NO_TOKEN), "LEASE_LOST");
    expect(run(engine, p.runId).state).toBe("LEASED");
  });
});

// ─── pause / resume ──────────────────────────────────────────────────────────────────

describe("pause and resume", () => {
  it("pausing and resuming the engine are idempotent and survive a restart", async () => {
    const { engine } = await open();
    await engine.submitTask(submission(spec()));
    expect(await engine.pauseEngine()).toBe(true);
    expect(await engine.pauseEngine()).toBe(true);
    expect(engine.isPaused()).toBe(true);
    expect(engine.stats().enginePaused).toBe(true);
    t = await t!.reopen();
    expect(t.engine.isPaused()).toBe(true);
    await failure(t.engine.leaseRuns(req()), "ENGINE_PAUSED");
    expect(await t.engine.resumeEngine()).toBe(false);
    expect(await t.engine.resumeEngine()).toBe(false);
    expect(t.engine.stats().enginePaused).toBe(false);
    expect((await t.engine.leaseRuns(req())).grants).toHaveLength(1);
  });

  it("pausing and resuming a queue are idempotent, affect only that queue and survive a restart", async () => {
    const { engine } = await open();
    await engine.submitTask(submission(spec({ queue: "a" })));
    await engine.submitTask(submission(spec({ queue: "b" })));
    expect((await engine.pauseQueue("a")).paused).toBe(true);
    expect((await engine.pauseQueue("a")).paused).toBe(true);
    expect(engine.isPaused("a")).toBe(true);
    expect(engine.isPaused("b")).toBe(false);
    t = await t!.reopen();
    expect(t.engine.stats(["a"]).queues[0]?.queue.paused).toBe(true);
    await failure(t.engine.leaseRuns(req({ queues: ["a"] })), "QUEUE_PAUSED");
    expect((await t.engine.leaseRuns(req({ queues: ["b"] }))).grants).toHaveLength(1);
    expect((await t.engine.resumeQueue("a")).paused).toBe(false);
    expect((await t.engine.resumeQueue("a")).paused).toBe(false);
    expect((await t.engine.leaseRuns(req({ queues: ["a"] }))).grants).toHaveLength(1);
  });

  it("pausing a queue with an invalid name is INVALID_ARGUMENT on queue", async () => {
    const { engine } = await open();
    expect(fields(await failure(engine.pauseQueue("no spaces"), "INVALID_ARGUMENT"))).toEqual(["queue"]);
    expect(fields(await failure(engine.resumeQueue(""), "INVALID_ARGUMENT"))).toEqual(["queue"]);
  });
});

// ─── setQueueRateLimit ───────────────────────────────────────────────────────────────

describe("setQueueRateLimit", () => {
  it("admits a burst of N runs, then one per 1/rate seconds", async () => {
    const { engine, clock } = await open();
    await engine.submitTasks(Array.from({ length: 6 }, () => submission(spec({ queue: "rl" }))));
    const q = await engine.setQueueRateLimit("rl", 1, 3);
    expect(q).toMatchObject({ ratePerSecond: 1, burst: 3 });
    expect((await engine.leaseRuns(req({ queues: ["rl"] }))).grants).toHaveLength(3);
    expect((await engine.leaseRuns(req({ queues: ["rl"] }))).grants).toHaveLength(0);
    clock.advance(500);
    expect((await engine.leaseRuns(req({ queues: ["rl"] }))).grants).toHaveLength(0);
    clock.advance(500);
    expect((await engine.leaseRuns(req({ queues: ["rl"] }))).grants).toHaveLength(1);
    expect(engine.stats(["rl"]).queues[0]?.counts).toMatchObject({ READY: 2, LEASED: 4 });
  });

  it("rate 0 removes the limit", async () => {
    const { engine } = await open();
    await engine.submitTasks(Array.from({ length: 4 }, () => submission(spec({ queue: "rl" }))));
    await engine.setQueueRateLimit("rl", 1, 1);
    expect((await engine.leaseRuns(req({ queues: ["rl"] }))).grants).toHaveLength(1);
    await engine.setQueueRateLimit("rl", 0, 0);
    expect((await engine.leaseRuns(req({ queues: ["rl"] }))).grants).toHaveLength(3);
  });

  it.each([
    [-1, 1, "runs_per_second"],
    [Number.NaN, 1, "runs_per_second"],
    [0.0001, 1, "runs_per_second"],
    [1, -1, "burst"],
    [1, 1.5, "burst"],
  ])("rejects rate %s burst %s with INVALID_ARGUMENT on %s", async (rate, burst, field) => {
    const { engine } = await open();
    const err = await failure(engine.setQueueRateLimit("rl", rate, burst), "INVALID_ARGUMENT");
    expect(fields(err)).toEqual([field]);
    expect(engine.stats(["rl"]).queues[0]?.queue.ratePerSecond).toBe(0);
  });
});

// ─── stats ───────────────────────────────────────────────────────────────────────────

describe("stats", () => {
  it("counts runs per queue and state", async () => {
    const { engine, clock } = await open();
    await place(engine, clock, "SCHEDULED", { queue: "a" });
    await place(engine, clock, "READY", { queue: "a" });
    await place(engine, clock, "READY", { queue: "a" });
    await place(engine, clock, "RUNNING", { queue: "b" });
    await place(engine, clock, "COMPLETED", { queue: "c" });
    await place(engine, clock, "FAILED", { queue: "c" });
    await place(engine, clock, "CANCELED", { queue: "c" });
    await place(engine, clock, "RETRY_WAIT", { queue: "d" });
    await place(engine, clock, "SUSPENDED", { queue: "d" });
    await place(engine, clock, "LEASED", { queue: "e" });
    const s = engine.stats();
    const byName = new Map(s.queues.map((q) => [q.queue.name, q.counts]));
    expect([...byName.keys()].sort()).toEqual(["a", "b", "c", "d", "e"]);
    expect(byName.get("a")).toMatchObject({ SCHEDULED: 1, READY: 2, LEASED: 0, RUNNING: 0 });
    expect(byName.get("b")).toMatchObject({ RUNNING: 1, READY: 0 });
    expect(byName.get("c")).toMatchObject({ COMPLETED: 1, FAILED: 1, CANCELED: 1 });
    expect(byName.get("d")).toMatchObject({ RETRY_WAIT: 1, SUSPENDED: 1 });
    expect(byName.get("e")).toMatchObject({ LEASED: 1 });
    expect(s.tasks).toBe(10);
    expect(s.revision).toBe(engine.revision);
    const only = engine.stats(["b", "zzz"]);
    expect(only.queues.map((q) => q.queue.name)).toEqual(["b", "zzz"]);
    expect(Object.values(only.queues[1]!.counts).every((n) => n === 0)).toBe(true);
  });
});

// ─── attempts ledger ─────────────────────────────────────────────────────────────────

describe("attempts ledger", () => {
  it("keeps every attempt with outcome, error, output and timestamps across a restart", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING", { constraints: { maxAttempts: 3, backoff: { kind: "FIXED", intervalMs: 1_000 } } });
    const t0 = clock.now();
    clock.advance(100);
    okValue(await completeOne(engine, p, "RETRYABLE_FAILURE", { error: "boom" }));
    clock.advance(1_000);
    await engine.tick();
    const [g] = (await engine.leaseRuns(req({ queues: [p.queue], workerId: "w2", startAttempt: true }))).grants;
    const t1 = clock.now();
    clock.advance(200);
    okValue(await completeOne(engine, { runId: p.runId, token: g!.lease.token, attemptId: g!.attempt!.id }, "SUCCESS", { output: new Uint8Array([42]) }));
    const t2 = clock.now();

    t = await t!.reopen();
    const attempts = t.engine.reader.attempts(p.runId, 0, 10);
    expect(attempts).toHaveLength(2);
    expect(attempts[0]).toMatchObject({ id: p.attemptId, number: 1, workerId: "w1", outcome: "RETRYABLE_FAILURE", error: "boom", startedAt: t0, finishedAt: t0 + 100, counted: true });
    expect(attempts[1]).toMatchObject({ id: g!.attempt!.id, number: 2, workerId: "w2", outcome: "SUCCESS", error: "", startedAt: t1, finishedAt: t2, counted: true });
    expect([...attempts[1]!.output]).toEqual([42]);
    expect(t.engine.reader.getRun(p.runId)).toMatchObject({ state: "COMPLETED", attemptCount: 2 });
  });
});

// ─── concurrency-key holders ─────────────────────────────────────────────────────────

describe("concurrency-key holders", () => {
  it.each(["COMPLETED", "FAILED"] as const)("a RUNNING run holds its key and releases it on %s", async (state) => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING", { constraints: { concurrency: keySpec("k") } });
    expect(engine.reader.keyHolders("k")).toMatchObject([{ key: "k", runId: p.runId, hold: "HELD", slots: 1 }]);
    okValue(await completeOne(engine, p, state === "COMPLETED" ? "SUCCESS" : "TERMINAL_FAILURE"));
    expect(engine.reader.keyHolders("k")).toEqual([]);
  });

  it.each(["LEASED", "RUNNING"] as const)("canceling a %s run releases its key", async (state) => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, state, { constraints: { concurrency: keySpec("k") } });
    expect(engine.reader.keyHolders("k")).toHaveLength(1);
    await engine.cancelRun(p.runId);
    expect(engine.reader.keyHolders("k")).toEqual([]);
  });

  it.each(["RETRY_WAIT", "SUSPENDED"] as const)(
    "with HOLD_DURING_RETRY a %s run keeps its key, blocks other runs of the key, and releases it when canceled",
    async (state) => {
      const { engine, clock } = await open();
      const k = keySpec("k", 1, "HOLD_DURING_RETRY");
      const p = await place(engine, clock, state, { queue: "kq", constraints: { concurrency: k, backoff: { kind: "FIXED", intervalMs: 60_000 } } });
      expect(engine.reader.keyHolders("k")).toMatchObject([{ runId: p.runId, hold: "HELD" }]);
      const other = await engine.submitTask(submission(spec({ queue: "kq", constraints: { concurrency: k } })));
      expect((await engine.leaseRuns(req({ queues: ["kq"] }))).grants).toHaveLength(0);
      await engine.cancelRun(p.runId);
      expect(engine.reader.keyHolders("k")).toEqual([]);
      const [g] = (await engine.leaseRuns(req({ queues: ["kq"] }))).grants;
      expect(g?.run.taskId).toBe(other.task.id);
    },
  );

  it("with HOLD_DURING_RETRY a canceled task releases the key of its RETRY_WAIT run", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RETRY_WAIT", { constraints: { concurrency: keySpec("k") } });
    expect(engine.reader.keyHolders("k")).toHaveLength(1);
    await engine.cancelTask(p.taskId);
    expect(engine.reader.keyHolders("k")).toEqual([]);
  });

  it.each(["RETRY_WAIT", "SUSPENDED"] as const)("with RELEASE_ON_RETRY a %s run gives its key back at once", async (state) => {
    const { engine, clock } = await open();
    const k = keySpec("k", 1, "RELEASE_ON_RETRY");
    await place(engine, clock, state, { queue: "kq", constraints: { concurrency: k } });
    expect(engine.reader.keyHolders("k")).toEqual([]);
    const other = await engine.submitTask(submission(spec({ queue: "kq", constraints: { concurrency: k } })));
    const [g] = (await engine.leaseRuns(req({ queues: ["kq"] }))).grants;
    expect(g?.run.taskId).toBe(other.task.id);
  });

  it("a run retried under HOLD_DURING_RETRY re-acquires its own slot without taking a second one", async () => {
    const { engine, clock } = await open();
    const k = keySpec("k");
    const p = await place(engine, clock, "RETRY_WAIT", { constraints: { concurrency: k, backoff: { kind: "FIXED", intervalMs: 1_000 } } });
    clock.advance(1_000);
    await engine.tick();
    expect(run(engine, p.runId).state).toBe("READY");
    const [g] = (await engine.leaseRuns(req({ queues: [p.queue], startAttempt: true }))).grants;
    expect(g?.run.id).toBe(p.runId);
    expect(engine.reader.keyHolders("k")).toMatchObject([{ runId: p.runId, hold: "HELD" }]);
  });

  it("key holders are durable across a restart", async () => {
    const { engine, clock } = await open();
    const p = await place(engine, clock, "RUNNING", { constraints: { concurrency: keySpec("durable") } });
    t = await t!.reopen();
    expect(t.engine.reader.keyHolders("durable")).toMatchObject([{ runId: p.runId, hold: "HELD" }]);
    await t.engine.submitTask(submission(spec({ queue: p.queue, constraints: { concurrency: keySpec("durable") } })));
    expect((await t.engine.leaseRuns(req({ queues: [p.queue] }))).grants).toHaveLength(0);
  });
});
