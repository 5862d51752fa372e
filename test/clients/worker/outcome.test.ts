/**
 * The pure parts of the worker SDK: what a handler's return value or throw becomes on the
 * wire, and the reconnect backoff's bounds. (No server needed; the end-to-end mapping is
 * checked against a real server in signals.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { NonRetryableError, SuspendError } from "../../../clients/typescript/src/index.js";
import { failureOutcome, successOutcome, timeoutOutcome } from "../../../clients/typescript/src/worker/outcome.js";
import { backoffDelay } from "../../../clients/typescript/src/worker/options.js";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("handler result to outcome", () => {
  it("keeps bytes as they are, encodes strings as UTF-8, undefined as empty and other values as JSON", () => {
    const bytes = new Uint8Array([0, 255, 7]);
    expect(successOutcome(bytes).output).toBe(bytes);
    expect([...successOutcome(Buffer.from([1, 2])).output]).toEqual([1, 2]);
    expect([...successOutcome(new Uint8Array([9, 8]).buffer).output]).toEqual([9, 8]);
    expect(text(successOutcome("héllo").output)).toBe("héllo");
    expect(successOutcome(undefined).output).toHaveLength(0);
    expect(text(successOutcome({ a: [1, null] }).output)).toBe('{"a":[1,null]}');
    expect(text(successOutcome(null).output)).toBe("null");
    expect(text(successOutcome(42).output)).toBe("42");
    for (const v of [bytes, "x", undefined, { a: 1 }]) expect(successOutcome(v)).toMatchObject({ outcome: "SUCCESS", error: "" });
  });

  it("fails for good on a value JSON cannot encode", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    expect(successOutcome(cyclic).outcome).toBe("TERMINAL_FAILURE");
    expect(successOutcome(10n).outcome).toBe("TERMINAL_FAILURE");
    expect(successOutcome(() => 1)).toMatchObject({ outcome: "TERMINAL_FAILURE", error: expect.stringMatching(/^OutputEncodingError: /) as unknown });
  });

  it("maps NonRetryableError (or nonRetryable: true) to TERMINAL_FAILURE, SuspendError to SUSPENDED, anything else to RETRYABLE_FAILURE with name and message", () => {
    expect(failureOutcome(new NonRetryableError("bad"))).toMatchObject({ outcome: "TERMINAL_FAILURE", error: "NonRetryableError: bad" });
    expect(failureOutcome(Object.assign(new Error("x"), { nonRetryable: true })).outcome).toBe("TERMINAL_FAILURE");
    expect(failureOutcome(new SuspendError("WAIT"))).toMatchObject({ outcome: "SUSPENDED", error: "WAIT" });
    expect(failureOutcome(new SuspendError())).toMatchObject({ outcome: "SUSPENDED", error: "SUSPENDED_BY_WORKER" });
    expect(failureOutcome(new RangeError("out"))).toMatchObject({ outcome: "RETRYABLE_FAILURE", error: "RangeError: out" });
    expect(failureOutcome("plain string")).toMatchObject({ outcome: "RETRYABLE_FAILURE", error: "NonErrorThrown: plain string" });
    expect(failureOutcome(new Error("e".repeat(100_000))).error.length).toBeLessThanOrEqual(16 * 1024);
  });

  it("reports TIMEOUT after a timed-out attempt, with the handler's error when it threw", () => {
    expect(timeoutOutcome(500, { ok: true })).toMatchObject({ outcome: "TIMEOUT", error: "AttemptTimeout: the attempt exceeded its timeout of 500 ms" });
    expect(timeoutOutcome(500, { ok: false, error: new Error("late") }).error).toContain("Error: late");
  });
});

describe("reconnect backoff", () => {
  it("doubles from the initial delay, stays within [d/2, d] and never exceeds the cap", () => {
    const o = { reconnectInitialDelayMs: 100, reconnectMaxDelayMs: 1_000 };
    expect([0, 1, 2, 3, 10, 1_000].map((n) => backoffDelay(o, n, 0.999999))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(o, n, 0))).toEqual([50, 100, 200, 400, 500]);
  });
});
