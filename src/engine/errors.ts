/**
 * The engine's one thrown error type for expected failures. It carries a stable reason
 * (the same vocabulary as actionqueue.v1.ErrorReason without its prefix), the ids involved
 * as metadata, field violations for INVALID_ARGUMENT, and the cause. The server maps each
 * reason to a status code in one exhaustive table.
 */
import type { RunRefusal } from "../domain/refusal.js";
import type { FieldViolation } from "../domain/violations.js";

/** Every reason an engine call can fail with. */
export const ENGINE_REASONS = [
  "INVALID_ARGUMENT",
  "TASK_NOT_FOUND",
  "RUN_NOT_FOUND",
  "TASK_CONFLICT",
  "INVALID_TRANSITION",
  "LEASE_LOST",
  "RUN_TERMINAL",
  "KEY_FULL",
  "QUEUE_PAUSED",
  "ENGINE_PAUSED",
  "ATTEMPT_IN_PROGRESS",
  "ATTEMPT_REQUIRES_RUNNING",
  "ATTEMPT_ALREADY_ACTIVE",
  "ATTEMPT_MISMATCH",
  "NO_ACTIVE_ATTEMPT",
  "ATTEMPT_COUNT_OVERFLOW",
  "PRIORITY_REQUIRES_READY",
  "TASK_TERMINAL",
  "DEPENDENCY_CYCLE",
  "HIERARCHY_TOO_DEEP",
  "STORAGE_QUOTA",
  "STORAGE_FULL",
  "STORAGE_IO",
  "REVISION_PURGED",
  "WATCH_TOO_SLOW",
  "SHUTTING_DOWN",
  "MESSAGE_TOO_LARGE",
  "OVERLOADED",
  "INTERNAL",
  "MALFORMED_MESSAGE",
  "PROTOCOL_ERROR",
  "TASK_ID_RESERVED",
] as const;

/** A stable failure reason. */
export type EngineReason = (typeof ENGINE_REASONS)[number];

export type { FieldViolation } from "../domain/violations.js";

/** An expected failure of an engine call. Nothing of the call was applied. */
export class EngineError extends Error {
  override readonly name = "EngineError";
  readonly reason: EngineReason;
  readonly metadata: Readonly<Record<string, string>>;
  readonly violations: readonly FieldViolation[];

  constructor(
    reason: EngineReason,
    message: string,
    options: { metadata?: Record<string, string>; violations?: readonly FieldViolation[]; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.metadata = options.metadata ?? {};
    this.violations = options.violations ?? [];
  }

  /** Structural guard, so errors crossing module copies are still recognised. */
  static is(e: unknown, reason?: EngineReason): e is EngineError {
    return (
      typeof e === "object" &&
      e !== null &&
      (e as { name?: unknown }).name === "EngineError" &&
      typeof (e as { reason?: unknown }).reason === "string" &&
      (reason === undefined || (e as { reason: unknown }).reason === reason)
    );
  }
}

/** INVALID_ARGUMENT with every violation found. */
export function invalidArgument(violations: readonly FieldViolation[]): EngineError {
  const first = violations[0];
  const summary = first ? `${first.field}: ${first.description}` : "invalid request";
  const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : "";
  return new EngineError("INVALID_ARGUMENT", `${summary}${more}`, { violations });
}

/** Turns a domain refusal into the engine error with the same reason and its ids. */
export function fromRefusal(r: RunRefusal): EngineError {
  switch (r.reason) {
    case "INVALID_TRANSITION":
      return new EngineError(r.reason, `run ${r.runId} cannot move from ${r.from} to ${r.to}`, {
        metadata: { run_id: r.runId, from: r.from, to: r.to },
      });
    case "RUN_TERMINAL":
      return new EngineError(r.reason, `run ${r.runId} is ${r.state} and can no longer change`, {
        metadata: { run_id: r.runId, state: r.state },
      });
    case "ATTEMPT_IN_PROGRESS":
      return new EngineError(r.reason, `run ${r.runId} cannot leave RUNNING while attempt ${r.attemptId} is open`, {
        metadata: { run_id: r.runId, attempt_id: r.attemptId },
      });
    case "ATTEMPT_REQUIRES_RUNNING":
      return new EngineError(r.reason, `run ${r.runId} is ${r.state}; attempts need RUNNING`, {
        metadata: { run_id: r.runId, state: r.state },
      });
    case "ATTEMPT_ALREADY_ACTIVE":
      return new EngineError(r.reason, `run ${r.runId} already has open attempt ${r.attemptId}`, {
        metadata: { run_id: r.runId, attempt_id: r.attemptId },
      });
    case "ATTEMPT_MISMATCH":
      return new EngineError(r.reason, `attempt ${r.attemptId} is not the open attempt ${r.expectedAttemptId} of run ${r.runId}`, {
        metadata: { run_id: r.runId, attempt_id: r.attemptId, expected_attempt_id: r.expectedAttemptId },
      });
    case "NO_ACTIVE_ATTEMPT":
      return new EngineError(r.reason, `run ${r.runId} has no open attempt`, { metadata: { run_id: r.runId } });
    case "ATTEMPT_COUNT_OVERFLOW":
      return new EngineError(r.reason, `run ${r.runId} reached the maximum attempt count`, { metadata: { run_id: r.runId } });
    case "PRIORITY_REQUIRES_READY":
      return new EngineError(r.reason, `run ${r.runId} is ${r.state}; priority changes need READY`, {
        metadata: { run_id: r.runId, state: r.state },
      });
    case "KEY_FULL":
      return new EngineError(r.reason, `concurrency key ${JSON.stringify(r.key)} has no free slot`, {
        metadata: { run_id: r.runId, key: r.key, holder_run_id: r.holderRunId },
      });
  }
}
