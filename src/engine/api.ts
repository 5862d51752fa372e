/**
 * What callers of the engine (the server, tests, benchmarks) exchange with it: request and
 * result types of every command and query. The server imports the engine through this
 * module, the `Engine` facade and `errors.ts` only.
 */
import type { AttemptId, LeaseToken, RunId, TaskId } from "../domain/ids.js";
import type { WorkerOutcome } from "../domain/lifecycle.js";
import type { LeaseRequestInput } from "../domain/requests.js";
import type { RunState } from "../domain/state.js";
import type { TaskStatus } from "../domain/task.js";
import type { TaskSpecInput } from "../domain/task-spec.js";
import type { FieldViolation } from "../domain/violations.js";
import type { EngineError } from "./errors.js";
import type { AttemptRecord, EventRecord, KeyHolderRecord, LeaseRecord, QueueRecord, RunRecord, TaskRecord } from "./records.js";

export type { AttemptRecord, EventRecord, KeyHolderRecord, LeaseRecord, QueueRecord, RunRecord, TaskRecord };
export type { TaskSpec, TaskSpecInput, PolicySpec, BackoffInput } from "../domain/task-spec.js";
export type { FieldViolation } from "../domain/violations.js";
export type { Limits } from "../domain/limits.js";
export type { WatchFilter, WatchItem } from "./watch.js";

/** Minimal structured logger (pino-compatible). */
export interface EngineLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** One submission. */
export interface Submission {
  /** Caller-chosen id for idempotency; null lets the engine generate one. */
  readonly taskId: TaskId | null;
  /** The spec as the caller wrote it; defaults are resolved by the engine. */
  readonly spec: TaskSpecInput;
}

/**
 * How a call reports bad input. The server passes the violations it found decoding the wire
 * form; the engine adds its own and rejects the call once, naming every field.
 */
export interface CallOptions {
  readonly decoded?: readonly FieldViolation[];
  /**
   * The caller's signal (deadline, client gone): a command whose signal aborted before it
   * started is not run, and the call rejects with the signal's reason.
   */
  readonly signal?: AbortSignal | undefined;
}

/** CallOptions of a batch call of items (completions, heartbeats). */
export interface BatchCallOptions extends CallOptions {
  /**
   * When set, an item that breaks a limit rejects the whole call with INVALID_ARGUMENT, its
   * field paths prefixed by `itemPrefix(i)` ("completions[3]."); when unset, such an item
   * fails alone in its ItemResult.
   */
  readonly itemPrefix?: (index: number) => string;
}

/** The outcome of one submission. */
export interface SubmitResult {
  readonly task: TaskRecord;
  readonly created: boolean;
  /** First runs of the task (at most 100), in occurrence order, with their leases. */
  readonly runs: RunRecord[];
}

/**
 * What a worker asks for. Numbers left null (or max_runs 0) take their defaults: 1 run, a
 * 30 s lease, no wait (see BOUNDS in domain/limits.ts).
 */
export interface LeaseRequest extends Omit<LeaseRequestInput, "maxRuns" | "leaseDurationMs" | "waitMs"> {
  readonly maxRuns: number | null;
  readonly leaseDurationMs: number | null;
  readonly waitMs: number | null;
  /** Aborts a long poll (client gone): nothing is leased after it fires. */
  readonly signal?: AbortSignal;
}

/** One run handed to a worker. */
export interface LeaseGrant {
  readonly run: RunRecord;
  readonly task: TaskRecord;
  readonly lease: LeaseRecord;
  readonly attempt: AttemptRecord | null;
}

/** The reply of LeaseRuns. */
export interface LeaseResult {
  readonly grants: LeaseGrant[];
  readonly pausedQueues: string[];
}

/** One heartbeat. */
export interface HeartbeatItem {
  readonly runId: RunId;
  readonly token: LeaseToken;
  /** null: extend by the lease's own length. */
  readonly extendByMs: number | null;
}

/** What a heartbeat says back. */
export interface HeartbeatResult {
  readonly leaseExpiresAt: number;
  readonly state: RunState;
  readonly stop: boolean;
  readonly stopReason: "CANCELED" | "SUSPENDED" | null;
}

/** One completion. */
export interface Completion {
  readonly runId: RunId;
  readonly token: LeaseToken;
  readonly attemptId: AttemptId;
  readonly outcome: WorkerOutcome;
  readonly output: Uint8Array;
  readonly error: string;
}

/** A run with its live lease, as queries return it. */
export interface RunView {
  readonly run: RunRecord;
  readonly lease: LeaseRecord | undefined;
}

/** Result of one item of a batch call. */
export type ItemResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: EngineError };

/** One queue's settings and counts. */
export interface QueueStats {
  readonly queue: QueueRecord;
  readonly counts: Record<RunState, number>;
  /**
   * When the queue's longest-waiting READY run became READY (epoch ms), or null when none is
   * READY (domain/oldest-ready.ts: a bounded scan).
   */
  readonly oldestReadyAt: number | null;
}

/** Run counts and engine facts. */
export interface Stats {
  readonly queues: QueueStats[];
  readonly enginePaused: boolean;
  readonly revision: number;
  readonly oldestRevision: number;
  readonly storageBytes: number;
  readonly storageQuotaBytes: number;
  readonly tasks: number;
  readonly startedAt: number;
}

/** A page of results and the position after its last item (null: no more). */
export interface PageOf<T> {
  readonly items: T[];
  readonly next: string | null;
}

/** Filter of ListRuns; empty fields match everything. */
export interface RunFilter {
  readonly queue: string;
  readonly taskId: TaskId | null;
  readonly states: ReadonlySet<RunState>;
  /**
   * Only runs of tasks with this concurrency key ("" or absent: any). With a key, a call
   * scans a bounded number of runs: a short page with a next position means "keep going".
   */
  readonly concurrencyKey?: string;
}

/** Filter of ListTasks; empty fields match everything. */
export interface TaskFilter {
  readonly queue: string;
  readonly parentTaskId: TaskId | null;
  readonly statuses: ReadonlySet<TaskStatus>;
}

/** One occupant of a concurrency key, with its run's state. */
export interface KeyHolderView {
  readonly holder: KeyHolderRecord;
  readonly run: RunRecord | undefined;
}

/** A concurrency key as GetConcurrencyKey shows it. */
export interface KeyView {
  readonly key: string;
  /** The slot limit the occupants declared (1 when none occupies the key). */
  readonly slots: number;
  readonly holders: KeyHolderView[];
}
