/**
 * Hand-built records and verbs for the storage contract (store.contract.ts). Every builder
 * gives a complete, plausible record with fixed defaults, overridable field by field; the
 * store does not check the domain rules, so tests set exactly the fields they need.
 */
import type { RunId, TaskId } from "../../src/domain/ids.js";
import { DEFAULT_BACKOFF } from "../../src/domain/retry.js";
import type { TaskSpec } from "../../src/domain/task-spec.js";
import type { KeyHolderChange, LeaseChange, StoreVerb } from "../../src/engine/ports.js";
import type {
  AttemptRecord,
  EventRecord,
  KeyHolderRecord,
  LeaseRecord,
  QueueRecord,
  ReservationRecord,
  RunRecord,
  TaskRecord,
} from "../../src/engine/records.js";
import { attemptId, leaseToken, runId, taskId } from "../support/ids.js";

/** A ONCE task spec on queue "default", overridable. */
export function specOf(over: Partial<TaskSpec> = {}): TaskSpec {
  return {
    queue: "default",
    payload: { data: new Uint8Array([123, 125]), contentType: "application/json" },
    policy: { kind: "ONCE", startAt: null },
    constraints: { maxAttempts: 3, attemptTimeoutMs: 0, backoff: DEFAULT_BACKOFF, concurrency: null, requiredCapabilities: [] },
    metadata: { priority: 0, tags: [], description: "" },
    parentTaskId: null,
    dependsOn: [],
    ...over,
  };
}

/** A cron policy (every minute). */
export const CRON_POLICY: TaskSpec["policy"] = { kind: "CRON", expression: "* * * * *", timeZone: "UTC", maxOccurrences: 0, misfire: "SKIP", startAt: null };

/** The n-th test task, ACTIVE, with `spec` overrides and record overrides. */
export function taskRec(n: number, spec: Partial<TaskSpec> = {}, over: Partial<TaskRecord> = {}): TaskRecord {
  const s = specOf(spec);
  return {
    id: taskId(n),
    spec: s,
    status: "ACTIVE",
    statusReason: "",
    createdAt: 1_000,
    statusChangedAt: 1_000,
    startAt: 1_000,
    runsDerived: 0,
    cron: s.policy.kind === "CRON" ? { nextAt: 60_000, derived: 0 } : null,
    depth: 0,
    pendingDeps: s.dependsOn.length,
    openRuns: 0,
    failedRuns: 0,
    openChildren: 0,
    failedChildren: 0,
    skippedOccurrences: 0,
    pendingRuns: 0,
    ...over,
  };
}

/** The n-th test run (of task 1 on queue "default" unless overridden), SCHEDULED with no timers. */
export function runRec(n: number, over: Partial<RunRecord> = {}): RunRecord {
  return {
    id: runId(n),
    taskId: taskId(1),
    state: "SCHEDULED",
    currentAttemptId: null,
    attemptCount: 0,
    countedAttempts: 0,
    createdAt: 1_000 + n,
    scheduledAt: 2_000,
    effectivePriority: 0,
    lastStateChangeAt: 1_000 + n,
    queue: "default",
    occurrence: 0,
    retryAt: null,
    attemptDeadline: null,
    waitingOnDeps: false,
    stateReason: "",
    revision: 0,
    lastLeaseToken: null,
    keyHold: null,
    finishedAt: null,
    due: [],
    capabilities: [],
    keySlots: null,
    ...over,
  };
}

/** An event of `run` at `revision`. */
export function eventRec(revision: number, run: RunRecord, over: Partial<EventRecord> = {}): EventRecord {
  return {
    revision,
    type: "TRANSITION",
    runId: run.id,
    taskId: run.taskId,
    queue: run.queue,
    from: null,
    to: run.state,
    at: 5_000 + revision,
    attempt: null,
    reason: "",
    priority: run.effectivePriority,
    ...over,
  };
}

/** Attempt `number` of run n. */
export function attemptRec(n: number, number: number, over: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    id: attemptId(n * 100 + number),
    runId: runId(n),
    number,
    workerId: "w1",
    outcome: null,
    error: "",
    output: new Uint8Array([number, 0, 255]),
    startedAt: 3_000,
    finishedAt: null,
    counted: true,
    ...over,
  };
}

/** A lease of run n. */
export function leaseRec(n: number, over: Partial<LeaseRecord> = {}): LeaseRecord {
  return { runId: runId(n), token: leaseToken(n), workerId: "w1", grantedAt: 3_000, expiresAt: 33_000, durationMs: 30_000, ...over };
}

/** Run n occupying a slot of `key`. */
export function holderRec(key: string, n: number, over: Partial<KeyHolderRecord> = {}): KeyHolderRecord {
  return { key, runId: runId(n), hold: "RESERVED", since: 3_000, slots: 2, ...over };
}

export function queueRec(name: string, over: Partial<QueueRecord> = {}): QueueRecord {
  return { name, paused: false, ratePerSecond: 0, burst: 0, ...over };
}

export function reservationRec(n: number, until: number, over: Partial<ReservationRecord> = {}): ReservationRecord {
  return { taskId: taskId(n), purgedAt: until - 100, until, ...over };
}

// ─── verbs ─────────────────────────────────────────────────────────────────────────

export const createTask = (task: TaskRecord): StoreVerb => ({ verb: "createTask", task });
export const updateTask = (prev: TaskRecord, over: Partial<TaskRecord>): StoreVerb => ({ verb: "updateTask", prev, task: { ...prev, ...over } });
/** createRun with a CREATED event at `revision` (the run's own revision by default). */
export const createRun = (run: RunRecord, revision = run.revision): StoreVerb => ({
  verb: "createRun",
  run,
  event: eventRec(revision, run, { type: "CREATED" }),
});

/** What goes with a run change besides the run itself. */
export interface RunChange {
  readonly event?: EventRecord | null;
  readonly lease?: LeaseChange;
  readonly attempt?: AttemptRecord | null;
  readonly keyHolder?: KeyHolderChange;
}

/** updateRun from `prev` to `prev` with `over`; no event, lease, attempt or key change unless given. */
export function updateRun(prev: RunRecord, over: Partial<RunRecord>, change: RunChange = {}): StoreVerb & { readonly verb: "updateRun" } {
  return {
    verb: "updateRun",
    prev,
    run: { ...prev, ...over },
    event: change.event ?? null,
    lease: change.lease ?? null,
    attempt: change.attempt ?? null,
    keyHolder: change.keyHolder ?? null,
  };
}

/**
 * Successive updates of one run, each decided on the one before: `prev` is always what is
 * stored when the verb applies (the port's contract; a shared-database store checks it).
 */
export function updateRuns(start: RunRecord, steps: ReadonlyArray<readonly [Partial<RunRecord>, RunChange?]>): Array<StoreVerb & { readonly verb: "updateRun" }> {
  let prev = start;
  return steps.map(([over, change]) => {
    const v = updateRun(prev, over, change);
    prev = v.run;
    return v;
  });
}

export const dropTimer = (at: number, kind: "PROMOTE" | "RETRY" | "LEASE" | "TIMEOUT", id: RunId): StoreVerb => ({ verb: "dropTimer", entry: { at, kind, runId: id } });
export const saveQueue = (queue: QueueRecord): StoreVerb => ({ verb: "saveQueue", queue });
export const purgeRun = (run: RunRecord): StoreVerb => ({ verb: "purgeRun", run });
export const purgeTask = (task: TaskRecord, reservation: ReservationRecord): StoreVerb => ({ verb: "purgeTask", task, reservation });
export const purgeEvents = (before: number): StoreVerb => ({ verb: "purgeEvents", before });
export const releaseReservation = (id: TaskId): StoreVerb => ({ verb: "releaseReservation", taskId: id });

/** A verb no store knows: applying it throws (to test that a failed commit stores nothing). */
export const BOGUS_VERB = { verb: "bogus" } as unknown as StoreVerb;
