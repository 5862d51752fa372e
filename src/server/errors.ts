/**
 * Engine errors to Connect errors: one exhaustive reason -> code table (a new reason does
 * not compile until it is mapped) and the details every error carries — google.rpc.ErrorInfo
 * always, BadRequest for field violations, QuotaFailure for limits. Anything that is not an
 * EngineError or a ConnectError is a bug: it becomes INTERNAL with reason INTERNAL and is
 * logged, never a bare "internal error".
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { EngineError, type EngineReason, type FieldViolation } from "../engine/errors.js";
import { BadRequestSchema, ErrorInfoSchema, QuotaFailureSchema } from "../gen/google/rpc/error_details_pb.js";

/** ErrorInfo.domain of every ActionQueue error. */
export const ERROR_DOMAIN = "actionqueue.v1";

/** Status code of each reason. */
export const REASON_CODE: { readonly [R in EngineReason]: Code } = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  TASK_NOT_FOUND: Code.NotFound,
  RUN_NOT_FOUND: Code.NotFound,
  TASK_CONFLICT: Code.AlreadyExists,
  INVALID_TRANSITION: Code.FailedPrecondition,
  LEASE_LOST: Code.FailedPrecondition,
  RUN_TERMINAL: Code.FailedPrecondition,
  KEY_FULL: Code.FailedPrecondition,
  QUEUE_PAUSED: Code.FailedPrecondition,
  ENGINE_PAUSED: Code.FailedPrecondition,
  ATTEMPT_IN_PROGRESS: Code.FailedPrecondition,
  ATTEMPT_REQUIRES_RUNNING: Code.FailedPrecondition,
  ATTEMPT_ALREADY_ACTIVE: Code.FailedPrecondition,
  ATTEMPT_MISMATCH: Code.FailedPrecondition,
  NO_ACTIVE_ATTEMPT: Code.FailedPrecondition,
  ATTEMPT_COUNT_OVERFLOW: Code.FailedPrecondition,
  PRIORITY_REQUIRES_READY: Code.FailedPrecondition,
  TASK_TERMINAL: Code.FailedPrecondition,
  DEPENDENCY_CYCLE: Code.FailedPrecondition,
  HIERARCHY_TOO_DEEP: Code.FailedPrecondition,
  STORAGE_QUOTA: Code.ResourceExhausted,
  STORAGE_FULL: Code.ResourceExhausted,
  STORAGE_IO: Code.Unavailable,
  REVISION_PURGED: Code.OutOfRange,
  WATCH_TOO_SLOW: Code.ResourceExhausted,
  SHUTTING_DOWN: Code.Unavailable,
  MESSAGE_TOO_LARGE: Code.ResourceExhausted,
  OVERLOADED: Code.ResourceExhausted,
  INTERNAL: Code.Internal,
  MALFORMED_MESSAGE: Code.InvalidArgument,
  PROTOCOL_ERROR: Code.InvalidArgument,
  TASK_ID_RESERVED: Code.AlreadyExists,
};

/** Builds the ConnectError for an engine error, with its details. */
export function engineToConnect(e: EngineError): ConnectError {
  const details: ConstructorParameters<typeof ConnectError>[3] = [
    { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: e.reason, domain: ERROR_DOMAIN, metadata: { ...e.metadata } }) },
  ];
  if (e.violations.length > 0) {
    details.push({
      desc: BadRequestSchema,
      value: create(BadRequestSchema, { fieldViolations: e.violations.map((v) => ({ field: v.field, description: v.description })) }),
    });
  }
  if (e.reason === "STORAGE_QUOTA" || e.reason === "WATCH_TOO_SLOW" || e.reason === "OVERLOADED" || e.reason === "MESSAGE_TOO_LARGE") {
    details.push({
      desc: QuotaFailureSchema,
      value: create(QuotaFailureSchema, { violations: [{ subject: e.reason.toLowerCase(), description: e.message }] }),
    });
  }
  return new ConnectError(e.message, REASON_CODE[e.reason], undefined, details, e);
}

/** INVALID_ARGUMENT with a BadRequest naming each field. */
export function badRequest(violations: readonly FieldViolation[]): ConnectError {
  const first = violations[0];
  const msg = first ? `${first.field}: ${first.description}${violations.length > 1 ? ` (and ${violations.length - 1} more)` : ""}` : "invalid request";
  return engineToConnect(new EngineError("INVALID_ARGUMENT", msg, { violations }));
}

/** Any thrown value as a ConnectError with details; `onBug` sees values that are neither kind. */
export function toConnectError(e: unknown, onBug: (e: unknown) => void): ConnectError {
  if (e instanceof ConnectError) return e;
  if (EngineError.is(e)) return engineToConnect(e);
  onBug(e);
  return engineToConnect(new EngineError("INTERNAL", `internal error: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
}
