/**
 * Which google.rpc.ErrorInfo a protocol-level error gets — an error connect-es raises itself
 * while reading, decoding or writing a call, which therefore carries no details — decided
 * from the error's code and cause as it was thrown, never from its message text (with one
 * exception, documented on `isUnparseableInput`).
 *
 * The thrown error is caught on its way out: every connect-es protocol handler (gRPC,
 * gRPC-Web, Connect unary and streaming) aborts the call's HandlerContext with the error it
 * is about to serialize (`context.abort(e)`) before writing it, and `recordThrownError`, run
 * as the router's request gate, listens for that abort.
 */
import { Code, ConnectError, createContextKey, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";

/** The error one call ended with, as thrown (undefined until then, or when not a ConnectError). */
export interface ThrownErrorSlot {
  error: ConnectError | undefined;
}

const THROWN_ERROR = createContextKey<ThrownErrorSlot | undefined>(undefined, { description: "actionqueue thrown-error slot" });

/** Context values for one call, holding a fresh slot the request gate fills. */
export function contextValuesWithSlot(): { values: ContextValues; slot: ThrownErrorSlot } {
  const slot: ThrownErrorSlot = { error: undefined };
  const values = createContextValues();
  values.set(THROWN_ERROR, slot);
  return { values, slot };
}

/**
 * Request gate (runs before the body is read): records in the call's slot the ConnectError
 * the call's context is aborted with. A context aborted for another reason first (the
 * client hung up, the deadline passed, shutdown) keeps that reason; classification then
 * falls back to the code alone.
 */
export function recordThrownError(context: HandlerContext): void {
  const slot = context.values.get(THROWN_ERROR);
  if (!slot || context.signal.aborted) return;
  context.signal.addEventListener(
    "abort",
    () => {
      const reason: unknown = context.signal.reason;
      if (reason instanceof ConnectError) slot.error = reason;
    },
    { once: true },
  );
}

/** A protocol error's final status code and ErrorInfo. */
export interface Classified {
  readonly code: Code;
  readonly reason: "MESSAGE_TOO_LARGE" | "MALFORMED_MESSAGE" | "PROTOCOL_ERROR" | "INTERNAL";
  readonly metadata: Record<string, string>;
}

/**
 * Classifies a detail-less error answered with `code`; `thrown` is the error as thrown when
 * it was recorded (it is used only when its code is the one answered).
 *
 * - RESOURCE_EXHAUSTED: only the size limits raise it without details (the read limit, before
 *   or after decompression, and the write limit, which the server sets equal) →
 *   MESSAGE_TOO_LARGE with the limit.
 * - a body that does not parse (`isUnparseableInput`) → INVALID_ARGUMENT MALFORMED_MESSAGE.
 * - any other INTERNAL → INTERNAL; anything else (broken framing, a bad timeout or encoding
 *   header, a missing or extra message, corrupt compression) → PROTOCOL_ERROR, code kept.
 */
export function classify(code: Code, thrown: ConnectError | undefined, maxMessageBytes: number): Classified {
  if (code === Code.ResourceExhausted) return { code, reason: "MESSAGE_TOO_LARGE", metadata: { limit_bytes: String(maxMessageBytes) } };
  if (thrown?.code === code && isUnparseableInput(thrown)) return { code: Code.InvalidArgument, reason: "MALFORMED_MESSAGE", metadata: {} };
  if (code === Code.Internal) return { code, reason: "INTERNAL", metadata: {} };
  return { code, reason: "PROTOCOL_ERROR", metadata: {} };
}

/**
 * Whether connect-es raised `e` because a request message did not parse.
 *
 * JSON (Connect, gRPC+json, gRPC-Web+json): connect-es wraps the parser's error — a
 * SyntaxError from JSON.parse, an Error from @bufbuild/protobuf's fromJson — as
 * INVALID_ARGUMENT with that error as `cause`. The only other INVALID_ARGUMENT with a cause
 * on the request path is a decompression failure, whose cause is a zlib error: a Node.js
 * system error, recognisable by its string `code` ("Z_DATA_ERROR", ...).
 *
 * Binary: connect-es (`createBinarySerialization` in protocol/serialization.js) rethrows
 * @bufbuild/protobuf's error as INTERNAL "parse binary: <message>" with no cause — the same
 * code, and the same absent cause, as the other INTERNAL errors of the request path, in
 * particular "received compressed envelope, but do not know how to decompress" (the
 * compressed flag without grpc-encoding, which the gRPC spec answers with INTERNAL). Nothing
 * but the message tells these apart, so this one case checks the message prefix. Covered by
 * test/e2e/protocol-error-reasons.test.ts ("unparseable protobuf ...", "the compressed flag
 * without grpc-encoding"), test/e2e/protocol-errors.test.ts ("are INVALID_ARGUMENT with
 * MALFORMED_MESSAGE in grpc-status-details-bin over gRPC") and test/e2e/bad-input.test.ts
 * ("SubmitTask: the compressed flag without grpc-encoding → grpc-status 13 (gRPC spec)").
 */
export function isUnparseableInput(e: ConnectError): boolean {
  if (e.code === Code.InvalidArgument) {
    const cause: unknown = e.cause;
    return cause instanceof Error && !(cause instanceof ConnectError) && typeof (cause as { code?: unknown }).code !== "string";
  }
  return e.code === Code.Internal && e.cause === undefined && e.rawMessage.startsWith("parse binary:");
}
