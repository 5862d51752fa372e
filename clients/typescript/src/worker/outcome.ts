/**
 * From what a handler did to the attempt outcome the worker reports (pure; no I/O):
 *
 * | handler                                   | outcome            | output / error text            |
 * | ----------------------------------------- | ------------------ | ------------------------------ |
 * | returns a Uint8Array (Buffer included)    | SUCCESS            | the bytes as they are          |
 * | returns an ArrayBuffer                    | SUCCESS            | its bytes                      |
 * | returns a string                          | SUCCESS            | UTF-8                          |
 * | returns undefined                         | SUCCESS            | empty                          |
 * | returns anything else (object, number, …) | SUCCESS            | JSON.stringify, UTF-8          |
 * | returns something JSON cannot encode      | TERMINAL_FAILURE   | "OutputEncodingError: …"       |
 * | throws NonRetryableError / nonRetryable   | TERMINAL_FAILURE   | "<name>: <message>"            |
 * | throws SuspendError                       | SUSPENDED          | its reason                     |
 * | throws anything else                      | RETRYABLE_FAILURE  | "<name>: <message>"            |
 * | signal aborted with TIMEOUT, then settles | TIMEOUT            | "AttemptTimeout: …"            |
 *
 * Output has no content type on the wire (Attempt.output is bytes only), so JSON output is
 * recognisable only by convention. Output larger than the server's limit (1 MiB by default)
 * is refused by the server; the worker then reports TERMINAL_FAILURE (see worker.ts).
 */
import { AttemptOutcome } from "../gen/actionqueue/v1/run_pb.js";

/** The outcomes a worker reports (ATTEMPT_OUTCOME_* without prefix). */
export type OutcomeName = "SUCCESS" | "TERMINAL_FAILURE" | "RETRYABLE_FAILURE" | "TIMEOUT" | "SUSPENDED";

/** What the worker sends for one attempt. */
export interface Outcome {
  readonly outcome: OutcomeName;
  /** SUCCESS only; empty otherwise. */
  readonly output: Uint8Array;
  /** Failure text or suspension reason; "" for SUCCESS. */
  readonly error: string;
}

/** OutcomeName to the wire enum. */
export const OUTCOME_PB: Readonly<Record<OutcomeName, AttemptOutcome>> = {
  SUCCESS: AttemptOutcome.SUCCESS,
  TERMINAL_FAILURE: AttemptOutcome.TERMINAL_FAILURE,
  RETRYABLE_FAILURE: AttemptOutcome.RETRYABLE_FAILURE,
  TIMEOUT: AttemptOutcome.TIMEOUT,
  SUSPENDED: AttemptOutcome.SUSPENDED,
};

/**
 * Error texts are cut to this many UTF-16 units: at most 48 KiB of UTF-8, under the server's
 * default 64 KiB limit (a stack trace is not worth failing the completion for).
 */
export const MAX_ERROR_CHARS = 16 * 1024;

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

/** Cuts `text` to MAX_ERROR_CHARS (or `max`), marking the cut. */
export function truncateError(text: string, max = MAX_ERROR_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max - 14)}… (truncated)`;
}

/** "<name>: <message>" of any thrown value (non-Errors are stringified). */
export function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  if (typeof e === "object" && e !== null && "message" in e) {
    const name = "name" in e && typeof e.name === "string" ? e.name : "Error";
    return `${name}: ${String(e.message)}`;
  }
  return `NonErrorThrown: ${String(e)}`;
}

/** Outcome of a handler that returned `value`. */
export function successOutcome(value: unknown): Outcome {
  if (value === undefined) return { outcome: "SUCCESS", output: EMPTY, error: "" };
  if (value instanceof Uint8Array) return { outcome: "SUCCESS", output: value, error: "" };
  if (value instanceof ArrayBuffer) return { outcome: "SUCCESS", output: new Uint8Array(value), error: "" };
  if (typeof value === "string") return { outcome: "SUCCESS", output: utf8.encode(value), error: "" };
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (e) {
    // Cycles, BigInt: the same value would fail again, so retrying cannot help.
    return { outcome: "TERMINAL_FAILURE", output: EMPTY, error: truncateError(`OutputEncodingError: ${describeError(e)}`) };
  }
  if (json === undefined) {
    return { outcome: "TERMINAL_FAILURE", output: EMPTY, error: `OutputEncodingError: a ${typeof value} cannot be encoded as output` };
  }
  return { outcome: "SUCCESS", output: utf8.encode(json), error: "" };
}

/** Outcome of a handler that threw `e`. */
export function failureOutcome(e: unknown): Outcome {
  if (isFlagged(e, "suspend")) {
    const reason = typeof (e as { reason?: unknown }).reason === "string" ? (e as { reason: string }).reason : "SUSPENDED_BY_WORKER";
    return { outcome: "SUSPENDED", output: EMPTY, error: truncateError(reason) };
  }
  const error = truncateError(describeError(e));
  return { outcome: isFlagged(e, "nonRetryable") ? "TERMINAL_FAILURE" : "RETRYABLE_FAILURE", output: EMPTY, error };
}

/** Outcome of an attempt the worker timed out (signal aborted with TIMEOUT) after it settled. */
export function timeoutOutcome(timeoutMs: number, settled: { ok: true } | { ok: false; error: unknown }): Outcome {
  const base = `AttemptTimeout: the attempt exceeded its timeout of ${timeoutMs} ms`;
  return { outcome: "TIMEOUT", output: EMPTY, error: truncateError(settled.ok ? base : `${base}; the handler then threw ${describeError(settled.error)}`) };
}

// Structural, not instanceof: an error class from a second copy of this package (two
// versions in node_modules) must map the same way.
function isFlagged(e: unknown, flag: "suspend" | "nonRetryable"): boolean {
  return typeof e === "object" && e !== null && (e as Record<string, unknown>)[flag] === true;
}
