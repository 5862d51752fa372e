/**
 * Records as the engine stores them. Plain data (msgpack in LMDB); times are epoch ms.
 */
import type { CronCursor } from "../domain/derive.js";
import type { AttemptId, LeaseToken, RunId, TaskId } from "../domain/ids.js";
import type { Hold } from "../domain/keys.js";
import type { AttemptOutcome } from "../domain/retry.js";
import type { Run } from "../domain/run.js";
import type { RunState } from "../domain/state.js";
import type { TaskStatus } from "../domain/task.js";
import type { TaskSpec } from "../domain/task-spec.js";

/**
 * A task: the declared spec plus its progress. Stores keep the spec (immutable once
 * created) apart from the progress (`TaskStateRecord`), so a progress change rewrites only
 * the small part.
 */
export interface TaskRecord {
  readonly id: TaskId;
  readonly spec: TaskSpec;
  readonly status: TaskStatus;
  readonly statusReason: string;
  readonly createdAt: number;
  readonly statusChangedAt: number;
  /** Resolved start of the policy (start_at, or the submission time). */
  readonly startAt: number;
  readonly runsDerived: number;
  /** Cron only: where derivation stands; null for once/repeat. */
  readonly cron: CronCursor | null;
  readonly depth: number;
  /** Prerequisites not yet COMPLETED. */
  readonly pendingDeps: number;
  /** Runs not yet terminal. */
  readonly openRuns: number;
  readonly failedRuns: number;
  /** Child tasks not yet terminal. */
  readonly openChildren: number;
  readonly failedChildren: number;
  /** Cron occurrences skipped by misfire policies or catch-up caps. */
  readonly skippedOccurrences: number;
  /** Runs still SCHEDULED (the cron window counts them). */
  readonly pendingRuns: number;
}

/** A task's progress: everything but its spec. */
export type TaskStateRecord = Omit<TaskRecord, "spec">;

/** Kinds of timer entries in the due index. */
export type DueKind = "PROMOTE" | "RETRY" | "LEASE" | "TIMEOUT";

/** A stored run: the domain run plus what storage, timers and the API need. */
export interface RunRecord extends Run {
  readonly queue: string;
  readonly occurrence: number;
  /** While RETRY_WAIT: when it becomes READY. */
  readonly retryAt: number | null;
  /** While RUNNING with an attempt timeout: when the attempt times out. */
  readonly attemptDeadline: number | null;
  /** SCHEDULED runs of a task whose prerequisites are not all COMPLETED. */
  readonly waitingOnDeps: boolean;
  readonly stateReason: string;
  /** Revision of the run's latest event. */
  readonly revision: number;
  /** Token of the latest lease (kept after it ends, to tell a stopped worker why). */
  readonly lastLeaseToken: LeaseToken | null;
  /** How the run occupies its key's slots, if it does. */
  readonly keyHold: Hold | null;
  /** When the run reached a terminal state (retention counts from it). */
  readonly finishedAt: number | null;
  /** The due-index entries the run currently owns, so they can be replaced exactly. */
  readonly due: ReadonlyArray<readonly [number, DueKind]>;
  /** Copied from the task (never changes): capabilities a worker needs for this run. */
  readonly capabilities: readonly string[];
  /** Copied from the task (never changes): the concurrency key and its slot limit. */
  readonly keySlots: { readonly key: string; readonly slots: number } | null;
}

/** What the selection index needs of a READY run, kept in the state index entry itself. */
export interface ReadyEntry {
  readonly runId: RunId;
  readonly effectivePriority: number;
  readonly createdAt: number;
  readonly capabilities: readonly string[];
  readonly keySlots: { readonly key: string; readonly slots: number } | null;
  readonly keyHold: Hold | null;
}

/** A stored attempt. */
export interface AttemptRecord {
  readonly id: AttemptId;
  readonly runId: RunId;
  readonly number: number;
  readonly workerId: string;
  readonly outcome: AttemptOutcome | null;
  readonly error: string;
  readonly output: Uint8Array;
  readonly startedAt: number;
  readonly finishedAt: number | null;
  readonly counted: boolean;
}

/** A live lease (deleted when it ends). */
export interface LeaseRecord {
  readonly runId: RunId;
  readonly token: LeaseToken;
  readonly workerId: string;
  readonly grantedAt: number;
  readonly expiresAt: number;
  /** The length the lease was granted with; heartbeats extend by it by default. */
  readonly durationMs: number;
}

/** One occupant of a key's slots. */
export interface KeyHolderRecord {
  readonly key: string;
  readonly runId: RunId;
  readonly hold: Hold;
  readonly since: number;
  readonly slots: number;
}

/** Settings of one queue. */
export interface QueueRecord {
  readonly name: string;
  readonly paused: boolean;
  /** 0 = no rate limit. */
  readonly ratePerSecond: number;
  readonly burst: number;
}

/**
 * What a purged task leaves behind: its id stays taken until `until`, so a resubmission with
 * the same id inside the deduplication window is refused instead of running twice.
 */
export interface ReservationRecord {
  readonly taskId: TaskId;
  readonly purgedAt: number;
  /** The id may be used again after this instant. */
  readonly until: number;
}

/** What an event records. */
export type EventType = "CREATED" | "TRANSITION" | "PRIORITY_CHANGED";

/** One entry of the revisioned event log. */
export interface EventRecord {
  readonly revision: number;
  readonly type: EventType;
  readonly runId: RunId;
  readonly taskId: TaskId;
  readonly queue: string;
  readonly from: RunState | null;
  readonly to: RunState;
  readonly at: number;
  readonly attempt: {
    readonly id: AttemptId;
    readonly number: number;
    readonly outcome: AttemptOutcome | null;
    readonly error: string;
    readonly workerId: string;
  } | null;
  readonly reason: string;
  readonly priority: number;
}
