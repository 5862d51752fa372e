/**
 * Typed errors. Every error the server returns carries a google.rpc.ErrorInfo (domain
 * "actionqueue.v1", reason such as "LEASE_LOST", the ids involved as metadata) and, for
 * field validation, a google.rpc.BadRequest (see proto/actionqueue/v1/errors.proto). This
 * module turns a ConnectError back into one class per reason a caller branches on
 * (`LeaseLostError(runId)`, `InvalidArgumentError(fieldViolations)`, …), keeping the
 * ConnectError as `cause`, and does the same for the per-item errors of batch calls.
 *
 * Nothing here touches Node APIs: the browser entry (`./web`) exports it too.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import type { BatchItemError } from "./gen/actionqueue/v1/worker_service_pb.js";

/** ErrorInfo.domain of every ActionQueue error; ErrorInfo of other domains is ignored. */
export const ERROR_DOMAIN = "actionqueue.v1";

// A registered symbol, not a private class check, so that `ActionQueueError.is` still
// recognises errors made by a second copy of this package (two versions in node_modules).
const BRAND = Symbol.for("@actionqueue/client.ActionQueueError");

/** One field violation of an INVALID_ARGUMENT error (google.rpc.BadRequest.FieldViolation). */
export interface FieldViolation {
  /** Path of the field, e.g. "spec.queue" or "heartbeats[3].run_id". */
  readonly field: string;
  /** Why the value is refused. */
  readonly description: string;
}

/** What every ActionQueueError is built from; subclasses read their ids from `metadata`. */
export interface ActionQueueErrorInit {
  /** The status code (for a batch item, the code the single-item call would have returned). */
  readonly code: Code;
  /** ErrorInfo.reason without prefix, e.g. "LEASE_LOST"; "" when the error carried none. */
  readonly reason: string;
  /** ErrorInfo.metadata: the ids involved, keys in snake_case as the server sends them. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** BadRequest field violations (INVALID_ARGUMENT only). */
  readonly fieldViolations?: readonly FieldViolation[];
  /** The original error: the ConnectError, or the batch item's message. */
  readonly cause?: unknown;
}

/**
 * The base of every typed error: the status `code`, the stable `reason` (the name a caller
 * branches on, UPPER_SNAKE_CASE, "" for errors the server did not classify such as a
 * network failure seen by the client) and the ids as `metadata`. `cause` is the original
 * ConnectError (or, for a batch item, its message). `message` is the server's message
 * without the "[code]" prefix ConnectError adds.
 */
export class ActionQueueError extends Error {
  /** The status code. */
  readonly code: Code;
  /** ErrorInfo.reason, e.g. "LEASE_LOST"; "" when none. */
  readonly reason: string;
  /** ErrorInfo.metadata (snake_case keys, e.g. run_id). */
  readonly metadata: Readonly<Record<string, string>>;
  /** @internal brand for `ActionQueueError.is` */
  readonly [BRAND] = true;

  /** Builds the error; prefer `toActionQueueError`/`fromBatchItemError`, which pick the subclass. */
  constructor(message: string, init: ActionQueueErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.code = init.code;
    this.reason = init.reason;
    this.metadata = Object.freeze({ ...init.metadata });
  }

  /**
   * Whether `e` is an ActionQueueError (also one made by another copy of this package),
   * optionally with the given `reason`.
   */
  static is(e: unknown, reason?: string): e is ActionQueueError {
    return (
      typeof e === "object" &&
      e !== null &&
      (e as Record<symbol, unknown>)[BRAND] === true &&
      (reason === undefined || (e as { reason?: unknown }).reason === reason)
    );
  }
}

// Subclasses read their ids in field initialisers, which run right after super() has set
// `metadata`; the raw snake_case metadata stays available as well.

/** Parses a decimal metadata value as bigint (revisions are int64); undefined when absent or malformed. */
function toBigint(v: string | undefined): bigint | undefined {
  return v !== undefined && /^-?\d+$/.test(v) ? BigInt(v) : undefined;
}

/** Parses a decimal metadata value as a number; undefined when absent or malformed. */
function toNumber(v: string | undefined): number | undefined {
  return v !== undefined && /^-?\d+$/.test(v) ? Number(v) : undefined;
}

/** INVALID_ARGUMENT: fields are malformed or out of range; `fieldViolations` names each. */
export class InvalidArgumentError extends ActionQueueError {
  /** Every refused field, from google.rpc.BadRequest (may be empty). */
  readonly fieldViolations: readonly FieldViolation[];
  /** See ActionQueueError. */
  constructor(message: string, init: ActionQueueErrorInit) {
    super(message, init);
    this.fieldViolations = Object.freeze((init.fieldViolations ?? []).map((v) => Object.freeze({ field: v.field, description: v.description })));
  }
}

/** INVALID_ARGUMENT MALFORMED_MESSAGE: the request body could not be decoded. */
export class MalformedMessageError extends ActionQueueError {}

/** NOT_FOUND TASK_NOT_FOUND: no task with `taskId` (also a missing parent or prerequisite). */
export class TaskNotFoundError extends ActionQueueError {
  /** The task that does not exist. */
  readonly taskId: string = this.metadata["task_id"] ?? "";
}

/** NOT_FOUND RUN_NOT_FOUND: no run with `runId`. */
export class RunNotFoundError extends ActionQueueError {
  /** The run that does not exist. */
  readonly runId: string = this.metadata["run_id"] ?? "";
}

/** ALREADY_EXISTS TASK_CONFLICT: a task with `taskId` exists with a different spec. */
export class TaskConflictError extends ActionQueueError {
  /** The conflicting task id. */
  readonly taskId: string = this.metadata["task_id"] ?? "";
}

/**
 * ALREADY_EXISTS TASK_ID_RESERVED: `taskId` belonged to a task purged less than the
 * deduplication window ago; it stays reserved until `reservedUntil`.
 */
export class TaskIdReservedError extends ActionQueueError {
  /** The reserved task id. */
  readonly taskId: string = this.metadata["task_id"] ?? "";
  /** When the id becomes free again (undefined if the server sent no valid date). */
  readonly reservedUntil: Date | undefined = parseDate(this.metadata["reserved_until"]);
}

/** Parses an RFC 3339 date; undefined when absent or invalid. */
function parseDate(v: string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** FAILED_PRECONDITION INVALID_TRANSITION: run `runId` cannot move from state `from` to `to`. */
export class InvalidTransitionError extends ActionQueueError {
  /** The run. */
  readonly runId: string = this.metadata["run_id"] ?? "";
  /** Its current state, e.g. "COMPLETED". */
  readonly from: string = this.metadata["from"] ?? "";
  /** The state asked for. */
  readonly to: string = this.metadata["to"] ?? "";
}

/**
 * FAILED_PRECONDITION LEASE_LOST: the lease token no longer owns run `runId` (it expired,
 * the attempt timed out, the run was canceled or leased again). A worker must stop working
 * on the run: its completion will be refused.
 */
export class LeaseLostError extends ActionQueueError {
  /** The run whose lease was lost. */
  readonly runId: string = this.metadata["run_id"] ?? "";
  /** The run's current state, when the server said ("" otherwise). */
  readonly state: string = this.metadata["state"] ?? "";
  /** Why this token's lease ended when the server knows, e.g. "LEASE_EXPIRED", "ATTEMPT_TIMEOUT"; "" otherwise. */
  readonly leaseEndReason: string = this.metadata["cause"] ?? "";
}

/** FAILED_PRECONDITION RUN_TERMINAL: run `runId` is COMPLETED or FAILED (`state`) and can no longer change. */
export class RunTerminalError extends ActionQueueError {
  /** The run. */
  readonly runId: string = this.metadata["run_id"] ?? "";
  /** Its terminal state. */
  readonly state: string = this.metadata["state"] ?? "";
}

/** FAILED_PRECONDITION KEY_FULL: the concurrency `key` has no free slot; `holderRunId` holds one. */
export class KeyFullError extends ActionQueueError {
  /** The run that asked for the slot. */
  readonly runId: string = this.metadata["run_id"] ?? "";
  /** The concurrency key. */
  readonly key: string = this.metadata["key"] ?? "";
  /** A run holding a slot of the key. */
  readonly holderRunId: string = this.metadata["holder_run_id"] ?? "";
}

/** FAILED_PRECONDITION QUEUE_PAUSED: every requested queue is paused. */
export class QueuePausedError extends ActionQueueError {
  /** The paused queues. */
  readonly queues: readonly string[] = Object.freeze((this.metadata["queues"] ?? "").split(",").filter((q) => q !== ""));
}

/** FAILED_PRECONDITION ENGINE_PAUSED: the whole engine is paused; leasing resumes when an operator resumes it. */
export class EnginePausedError extends ActionQueueError {}

/**
 * FAILED_PRECONDITION, one of the attempt reasons: ATTEMPT_IN_PROGRESS (the run cannot leave
 * RUNNING while `attemptId` is open), ATTEMPT_REQUIRES_RUNNING (`state` is not RUNNING),
 * ATTEMPT_ALREADY_ACTIVE (`attemptId` is already open), ATTEMPT_MISMATCH (`attemptId` is not
 * the open `expectedAttemptId`), NO_ACTIVE_ATTEMPT (call StartAttempt first),
 * ATTEMPT_COUNT_OVERFLOW. Branch on `reason`.
 */
export class AttemptStateError extends ActionQueueError {
  /** The run. */
  readonly runId: string = this.metadata["run_id"] ?? "";
  /** The attempt involved, "" when the reason names none. */
  readonly attemptId: string = this.metadata["attempt_id"] ?? "";
  /** ATTEMPT_MISMATCH: the attempt that is open. */
  readonly expectedAttemptId: string = this.metadata["expected_attempt_id"] ?? "";
  /** ATTEMPT_REQUIRES_RUNNING: the run's state. */
  readonly state: string = this.metadata["state"] ?? "";
}

/** FAILED_PRECONDITION PRIORITY_REQUIRES_READY: priority changes need the run READY; it is `state`. */
export class PriorityRequiresReadyError extends ActionQueueError {
  /** The run. */
  readonly runId: string = this.metadata["run_id"] ?? "";
  /** Its current state. */
  readonly state: string = this.metadata["state"] ?? "";
}

/** FAILED_PRECONDITION TASK_TERMINAL: task `taskId` (the task itself, a parent or a prerequisite) is terminal. */
export class TaskTerminalError extends ActionQueueError {
  /** The terminal task. */
  readonly taskId: string = this.metadata["task_id"] ?? "";
  /** Its status. */
  readonly status: string = this.metadata["status"] ?? "";
}

/** FAILED_PRECONDITION DEPENDENCY_CYCLE: the dependencies of `taskId` would form a cycle. */
export class DependencyCycleError extends ActionQueueError {
  /** The task being submitted. */
  readonly taskId: string = this.metadata["task_id"] ?? "";
  /** The cycle as task ids, when the server sent it. */
  readonly path: readonly string[] = Object.freeze((this.metadata["path"] ?? "").split(" -> ").filter((t) => t !== ""));
}

/** FAILED_PRECONDITION HIERARCHY_TOO_DEEP: the parent chain would exceed `limit` levels. */
export class HierarchyTooDeepError extends ActionQueueError {
  /** The depth limit. */
  readonly limit: number | undefined = toNumber(this.metadata["limit"]);
}

/** RESOURCE_EXHAUSTED STORAGE_QUOTA: the storage quota is reached; submissions fail until purges or completions free space. */
export class StorageQuotaError extends ActionQueueError {
  /** The quota in bytes. */
  readonly quotaBytes: number | undefined = toNumber(this.metadata["quota_bytes"]);
  /** Bytes in use. */
  readonly usedBytes: number | undefined = toNumber(this.metadata["used_bytes"]);
}

/** RESOURCE_EXHAUSTED STORAGE_FULL: the server's disk or LMDB map is full. */
export class StorageFullError extends ActionQueueError {}

/** UNAVAILABLE STORAGE_IO: an I/O error failed the commit; nothing was applied, the call may be retried. */
export class StorageIoError extends ActionQueueError {}

/**
 * OUT_OF_RANGE REVISION_PURGED: the requested watch revision was purged; resume from
 * `oldestRevision` or later (after re-reading the current state).
 */
export class RevisionPurgedError extends ActionQueueError {
  /** The oldest revision the server still has. */
  readonly oldestRevision: bigint | undefined = toBigint(this.metadata["oldest_revision"]);
  /** The revision asked for. */
  readonly requestedRevision: bigint | undefined = toBigint(this.metadata["requested_revision"]);
}

/** RESOURCE_EXHAUSTED WATCH_TOO_SLOW: the watch stream fell behind; resume from `lastRevision` + 1. */
export class WatchTooSlowError extends ActionQueueError {
  /** The last revision the server delivered. */
  readonly lastRevision: bigint | undefined = toBigint(this.metadata["last_revision"]);
}

/** UNAVAILABLE SHUTTING_DOWN: the server is shutting down; retry against it once it is back. */
export class ShuttingDownError extends ActionQueueError {}

/** RESOURCE_EXHAUSTED MESSAGE_TOO_LARGE: a message exceeded `limitBytes`. */
export class MessageTooLargeError extends ActionQueueError {
  /** The server's message size limit. */
  readonly limitBytes: number | undefined = toNumber(this.metadata["limit_bytes"]);
}

/** RESOURCE_EXHAUSTED OVERLOADED: too many concurrent calls or commands; retry with backoff. */
export class OverloadedError extends ActionQueueError {
  /** The limit that was hit, when the server named one. */
  readonly limit: number | undefined = toNumber(this.metadata["limit"]);
}

/** INTERNAL: a server bug; the call changed nothing. */
export class InternalError extends ActionQueueError {}

/** A constructor of ActionQueueError or of one of its subclasses. */
type ErrorClass = new (message: string, init: ActionQueueErrorInit) => ActionQueueError;

/**
 * The class of each reason. Reasons absent here (PROTOCOL_ERROR, reasons added to the proto
 * after this package) become a plain ActionQueueError with the reason kept.
 */
const REASON_CLASS: Readonly<Record<string, ErrorClass>> = {
  INVALID_ARGUMENT: InvalidArgumentError,
  MALFORMED_MESSAGE: MalformedMessageError,
  TASK_NOT_FOUND: TaskNotFoundError,
  RUN_NOT_FOUND: RunNotFoundError,
  TASK_CONFLICT: TaskConflictError,
  TASK_ID_RESERVED: TaskIdReservedError,
  INVALID_TRANSITION: InvalidTransitionError,
  LEASE_LOST: LeaseLostError,
  RUN_TERMINAL: RunTerminalError,
  KEY_FULL: KeyFullError,
  QUEUE_PAUSED: QueuePausedError,
  ENGINE_PAUSED: EnginePausedError,
  ATTEMPT_IN_PROGRESS: AttemptStateError,
  ATTEMPT_REQUIRES_RUNNING: AttemptStateError,
  ATTEMPT_ALREADY_ACTIVE: AttemptStateError,
  ATTEMPT_MISMATCH: AttemptStateError,
  NO_ACTIVE_ATTEMPT: AttemptStateError,
  ATTEMPT_COUNT_OVERFLOW: AttemptStateError,
  PRIORITY_REQUIRES_READY: PriorityRequiresReadyError,
  TASK_TERMINAL: TaskTerminalError,
  DEPENDENCY_CYCLE: DependencyCycleError,
  HIERARCHY_TOO_DEEP: HierarchyTooDeepError,
  STORAGE_QUOTA: StorageQuotaError,
  STORAGE_FULL: StorageFullError,
  STORAGE_IO: StorageIoError,
  REVISION_PURGED: RevisionPurgedError,
  WATCH_TOO_SLOW: WatchTooSlowError,
  SHUTTING_DOWN: ShuttingDownError,
  MESSAGE_TOO_LARGE: MessageTooLargeError,
  OVERLOADED: OverloadedError,
  INTERNAL: InternalError,
};

/**
 * Builds the typed error for `init`: the class of its reason; for an error without reason,
 * INVALID_ARGUMENT still gives InvalidArgumentError (a client-side validation may carry no
 * ErrorInfo), anything else a plain ActionQueueError.
 */
export function createActionQueueError(message: string, init: ActionQueueErrorInit): ActionQueueError {
  const cls =
    (Object.hasOwn(REASON_CLASS, init.reason) ? REASON_CLASS[init.reason] : undefined) ??
    (init.reason === "" && init.code === Code.InvalidArgument ? InvalidArgumentError : ActionQueueError);
  return new cls(message, init);
}

/**
 * Converts a thrown value: a ConnectError becomes the typed error decoded from its details
 * (ErrorInfo of domain "actionqueue.v1", BadRequest), with the ConnectError as `cause` and
 * its message without the "[code]" prefix; an ActionQueueError and anything else are returned
 * unchanged. Total: it never throws.
 */
export function toActionQueueError(e: unknown): unknown {
  if (ActionQueueError.is(e)) return e;
  // ConnectError.from is not used: it would wrap arbitrary errors (a bug in user code) too.
  if (!(e instanceof ConnectError)) return e;
  let reason = "";
  let metadata: Record<string, string> = {};
  const fieldViolations: FieldViolation[] = [];
  try {
    const info = e.findDetails(ErrorInfoSchema).find((d) => d.domain === ERROR_DOMAIN);
    if (info) {
      reason = info.reason;
      metadata = { ...info.metadata };
    }
    for (const br of e.findDetails(BadRequestSchema)) {
      for (const v of br.fieldViolations) fieldViolations.push({ field: v.field, description: v.description });
    }
  } catch {
    // A detail that does not decode is ignored: the code and message still tell the story.
  }
  return createActionQueueError(e.rawMessage, { code: e.code, reason, metadata, fieldViolations, cause: e });
}

/**
 * The typed error of one failed item of a batch call (BatchHeartbeat, BatchComplete, …):
 * the same class the single-item call would have thrown, with the item's message as `cause`.
 * An item code outside the gRPC range becomes Code.Unknown.
 */
export function fromBatchItemError(item: Pick<BatchItemError, "code" | "reason" | "message" | "metadata">): ActionQueueError {
  const code: Code = Number.isInteger(item.code) && item.code >= 1 && item.code <= 16 ? (item.code as Code) : Code.Unknown;
  return createActionQueueError(item.message, { code, reason: item.reason, metadata: { ...item.metadata }, cause: item.message });
}

/**
 * Whether repeating the same call later, unchanged, can succeed: UNAVAILABLE (server down,
 * restarting, shutting down, storage I/O), ABORTED, and the transient RESOURCE_EXHAUSTED
 * reasons OVERLOADED and WATCH_TOO_SLOW. Quotas, full storage and oversized messages are not:
 * they need something to change first.
 */
export function isRetryable(e: unknown): boolean {
  const err = toActionQueueError(e);
  if (!ActionQueueError.is(err)) return false;
  if (err.code === Code.Unavailable || err.code === Code.Aborted) return true;
  return err.code === Code.ResourceExhausted && (err.reason === "OVERLOADED" || err.reason === "WATCH_TOO_SLOW");
}
