/**
 * Unit tests of the client's error decoding: ConnectErrors carrying details the way they
 * arrive off the wire (binary google.rpc details with a type name), batch item errors, and
 * values that are not call failures. No server here; errors-server.test.ts checks the same
 * decoding against errors the real server produces.
 */
import { type DescMessage, type MessageInitShape, create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  ActionQueueError,
  AttemptStateError,
  BadRequestSchema,
  ErrorInfoSchema,
  InvalidArgumentError,
  InvalidTransitionError,
  LeaseLostError,
  OverloadedError,
  QueuePausedError,
  RevisionPurgedError,
  RunNotFoundError,
  RunTerminalError,
  ShuttingDownError,
  TaskConflictError,
  TaskIdReservedError,
  TaskNotFoundError,
  fromBatchItemError,
  isRetryable,
  toActionQueueError,
} from "../../../clients/typescript/src/index.js";

/** A detail as a transport decodes it from the wire: type name plus binary value. */
function wire<D extends DescMessage>(desc: D, init: MessageInitShape<D>): { type: string; value: Uint8Array } {
  return { type: desc.typeName, value: toBinary(desc, create(desc, init)) };
}

/** A ConnectError like the server sends: ErrorInfo (domain actionqueue.v1) and optional BadRequest. */
function serverError(code: Code, reason: string, metadata: Record<string, string>, message = "msg", fields: { field: string; description: string }[] = []): ConnectError {
  const err = new ConnectError(message, code);
  err.details.push(wire(ErrorInfoSchema, { reason, domain: "actionqueue.v1", metadata }));
  if (fields.length > 0) err.details.push(wire(BadRequestSchema, { fieldViolations: fields }));
  return err;
}

describe("toActionQueueError", () => {
  it("decodes LEASE_LOST into LeaseLostError with the run id, keeping the ConnectError as cause", () => {
    const cause = serverError(Code.FailedPrecondition, "LEASE_LOST", { run_id: "r1", state: "READY", cause: "LEASE_EXPIRED" }, "the lease on run r1 is gone");
    const e = toActionQueueError(cause);
    expect(e).toBeInstanceOf(LeaseLostError);
    expect(e).toBeInstanceOf(ActionQueueError);
    expect(e).toBeInstanceOf(Error);
    const l = e as LeaseLostError;
    expect(l.code).toBe(Code.FailedPrecondition);
    expect(l.reason).toBe("LEASE_LOST");
    expect(l.runId).toBe("r1");
    expect(l.state).toBe("READY");
    expect(l.leaseEndReason).toBe("LEASE_EXPIRED");
    expect(l.metadata).toEqual({ run_id: "r1", state: "READY", cause: "LEASE_EXPIRED" });
    expect(l.cause).toBe(cause);
    expect(l.name).toBe("LeaseLostError");
    // The message is the server's, without ConnectError's "[failed_precondition]" prefix.
    expect(l.message).toBe("the lease on run r1 is gone");
  });

  it("decodes INVALID_ARGUMENT with every BadRequest field violation", () => {
    const fields = [
      { field: "spec.queue", description: "must match [A-Za-z0-9._:-]{1,128}" },
      { field: "spec.max_attempts", description: "must be 1 to 1000" },
    ];
    const e = toActionQueueError(serverError(Code.InvalidArgument, "INVALID_ARGUMENT", {}, "bad", fields));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).fieldViolations).toEqual(fields);
  });

  it.each([
    ["RUN_NOT_FOUND", Code.NotFound, { run_id: "r9" }, RunNotFoundError, { runId: "r9" }],
    ["TASK_NOT_FOUND", Code.NotFound, { task_id: "t9" }, TaskNotFoundError, { taskId: "t9" }],
    ["TASK_CONFLICT", Code.AlreadyExists, { task_id: "t1" }, TaskConflictError, { taskId: "t1" }],
    ["INVALID_TRANSITION", Code.FailedPrecondition, { run_id: "r2", from: "COMPLETED", to: "SUSPENDED" }, InvalidTransitionError, { runId: "r2", from: "COMPLETED", to: "SUSPENDED" }],
    ["RUN_TERMINAL", Code.FailedPrecondition, { run_id: "r3", state: "FAILED" }, RunTerminalError, { runId: "r3", state: "FAILED" }],
    ["QUEUE_PAUSED", Code.FailedPrecondition, { queues: "a,b" }, QueuePausedError, { queues: ["a", "b"] }],
    ["ATTEMPT_MISMATCH", Code.FailedPrecondition, { run_id: "r4", attempt_id: "a2", expected_attempt_id: "a1" }, AttemptStateError, { runId: "r4", attemptId: "a2", expectedAttemptId: "a1" }],
    ["REVISION_PURGED", Code.OutOfRange, { oldest_revision: "9007199254740993", requested_revision: "3" }, RevisionPurgedError, { oldestRevision: 9007199254740993n, requestedRevision: 3n }],
    ["OVERLOADED", Code.ResourceExhausted, { limit: "256" }, OverloadedError, { limit: 256 }],
    ["SHUTTING_DOWN", Code.Unavailable, {}, ShuttingDownError, {}],
  ] as const)("decodes %s into its class with the ids from metadata", (reason, code, metadata, cls, fields) => {
    const e = toActionQueueError(serverError(code, reason, metadata));
    expect(e).toBeInstanceOf(cls);
    expect(e).toMatchObject({ code, reason, ...fields });
  });

  it("parses TASK_ID_RESERVED's reserved_until as a Date", () => {
    const e = toActionQueueError(serverError(Code.AlreadyExists, "TASK_ID_RESERVED", { task_id: "t", reserved_until: "2030-01-02T03:04:05.000Z" }));
    expect(e).toBeInstanceOf(TaskIdReservedError);
    expect((e as TaskIdReservedError).reservedUntil?.toISOString()).toBe("2030-01-02T03:04:05.000Z");
  });

  it("keeps an unknown reason on a plain ActionQueueError", () => {
    const e = toActionQueueError(serverError(Code.FailedPrecondition, "SOMETHING_NEW", { x: "1" }));
    expect(Object.getPrototypeOf(e)).toBe(ActionQueueError.prototype);
    expect(e).toMatchObject({ code: Code.FailedPrecondition, reason: "SOMETHING_NEW", metadata: { x: "1" } });
  });

  it("ignores ErrorInfo of another domain and gives a ConnectError without details reason \"\"", () => {
    const foreign = new ConnectError("from a proxy", Code.Unavailable);
    foreign.details.push(wire(ErrorInfoSchema, { reason: "LEASE_LOST", domain: "proxy.example", metadata: {} }));
    const e = toActionQueueError(foreign);
    expect(Object.getPrototypeOf(e)).toBe(ActionQueueError.prototype);
    expect(e).toMatchObject({ code: Code.Unavailable, reason: "" });
    expect(toActionQueueError(new ConnectError("network", Code.Unavailable))).toMatchObject({ code: Code.Unavailable, reason: "" });
  });

  it("decodes details a ConnectError was built with locally (desc/value form)", () => {
    const local = new ConnectError("x", Code.NotFound, undefined, [{ desc: ErrorInfoSchema, value: { reason: "RUN_NOT_FOUND", domain: "actionqueue.v1", metadata: { run_id: "r5" } } }]);
    expect(toActionQueueError(local)).toMatchObject({ runId: "r5" });
  });

  it("survives a detail whose bytes do not decode", () => {
    const bad = new ConnectError("x", Code.NotFound);
    bad.details.push({ type: ErrorInfoSchema.typeName, value: new Uint8Array([0xff, 0xff, 0xff]) });
    expect(toActionQueueError(bad)).toMatchObject({ code: Code.NotFound, reason: "" });
  });

  it("returns values that are not ConnectErrors unchanged, and typed errors as they are", () => {
    const plain = new TypeError("bug");
    expect(toActionQueueError(plain)).toBe(plain);
    expect(toActionQueueError("str")).toBe("str");
    const typed = toActionQueueError(serverError(Code.NotFound, "RUN_NOT_FOUND", { run_id: "r" }));
    expect(toActionQueueError(typed)).toBe(typed);
  });
});

describe("fromBatchItemError", () => {
  it("gives the class the single-item call would have thrown, message as cause", () => {
    const e = fromBatchItemError({ code: 9, reason: "LEASE_LOST", message: "lease gone", metadata: { run_id: "r7" } });
    expect(e).toBeInstanceOf(LeaseLostError);
    expect(e).toMatchObject({ code: Code.FailedPrecondition, reason: "LEASE_LOST", runId: "r7", message: "lease gone", cause: "lease gone" });
  });

  it("maps an out-of-range code to UNKNOWN", () => {
    expect(fromBatchItemError({ code: 99, reason: "", message: "?", metadata: {} }).code).toBe(Code.Unknown);
  });
});

describe("ActionQueueError.is and isRetryable", () => {
  it("recognises errors structurally, by reason when asked", () => {
    const e = fromBatchItemError({ code: 5, reason: "RUN_NOT_FOUND", message: "", metadata: { run_id: "r" } });
    expect(ActionQueueError.is(e)).toBe(true);
    expect(ActionQueueError.is(e, "RUN_NOT_FOUND")).toBe(true);
    expect(ActionQueueError.is(e, "LEASE_LOST")).toBe(false);
    expect(ActionQueueError.is(new Error("x"))).toBe(false);
    expect(ActionQueueError.is({ reason: "RUN_NOT_FOUND" })).toBe(false);
  });

  it("retries unavailability and overload, not refusals or quotas", () => {
    expect(isRetryable(new ConnectError("down", Code.Unavailable))).toBe(true);
    expect(isRetryable(serverError(Code.ResourceExhausted, "OVERLOADED", {}))).toBe(true);
    expect(isRetryable(serverError(Code.ResourceExhausted, "STORAGE_QUOTA", {}))).toBe(false);
    expect(isRetryable(serverError(Code.FailedPrecondition, "LEASE_LOST", {}))).toBe(false);
    expect(isRetryable(new Error("bug"))).toBe(false);
  });
});
