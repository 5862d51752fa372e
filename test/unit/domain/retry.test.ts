import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { KeyGate } from "../../../src/domain/keys.js";
import { type RunAction, applyRunAction } from "../../../src/domain/lifecycle.js";
import { type BackoffPolicy, backoffDelayMs, isCounted, stateAfterOutcome } from "../../../src/domain/retry.js";
import type { Run } from "../../../src/domain/run.js";
import { attemptId } from "../../support/ids.js";
import { testRun } from "../../support/runs.js";

describe("retry decision (SPEC §5)", () => {
  it.each([
    ["SUCCESS", 1, 3, "COMPLETED"],
    ["TERMINAL_FAILURE", 1, 3, "FAILED"],
    ["RETRYABLE_FAILURE", 1, 3, "RETRY_WAIT"],
    ["RETRYABLE_FAILURE", 2, 3, "RETRY_WAIT"],
    ["RETRYABLE_FAILURE", 3, 3, "FAILED"],
    ["TIMEOUT", 2, 3, "RETRY_WAIT"],
    ["TIMEOUT", 3, 3, "FAILED"],
    ["RETRYABLE_FAILURE", 1, 1, "FAILED"],
    ["SUSPENDED", 5, 3, "SUSPENDED"],
  ] as const)("%s after %i counted of max %i -> %s", (outcome, counted, max, expected) => {
    expect(stateAfterOutcome(outcome, counted, max)).toBe(expected);
  });

  it("does not count SUSPENDED attempts", () => {
    expect(isCounted("SUSPENDED")).toBe(false);
    for (const o of ["SUCCESS", "TERMINAL_FAILURE", "RETRYABLE_FAILURE", "TIMEOUT", "CANCELED"] as const) expect(isCounted(o)).toBe(true);
  });

  it("retries after suspended attempts because they are not counted", () => {
    // max_attempts 1: a suspended attempt, a resume, then a retryable failure of the first counted attempt fails.
    const gate = new KeyGate();
    let run: Run = testRun(1, "READY");
    const actions: RunAction[] = [
      { type: "LEASE", at: 1 },
      { type: "START_ATTEMPT", at: 2, attemptId: attemptId(1) },
      { type: "FINISH_ATTEMPT", at: 3, attemptId: attemptId(1), outcome: "SUSPENDED", maxAttempts: 1 },
      { type: "RESUME", at: 4, priority: 0 },
      { type: "LEASE", at: 5 },
      { type: "START_ATTEMPT", at: 6, attemptId: attemptId(2) },
    ];
    for (const a of actions) {
      const r = applyRunAction(run, a, { gate, spec: null });
      if (!r.ok) throw new Error(JSON.stringify(r.error));
      run = r.value.run;
    }
    expect(run.attemptCount).toBe(2);
    expect(run.countedAttempts).toBe(1);
    const last = applyRunAction(
      run,
      { type: "FINISH_ATTEMPT", at: 7, attemptId: attemptId(2), outcome: "RETRYABLE_FAILURE", maxAttempts: 1 },
      { gate, spec: null },
    );
    expect(last.ok && last.value.run.state).toBe("FAILED");
  });
});

describe("backoff", () => {
  const exp: BackoffPolicy = { kind: "EXPONENTIAL", baseMs: 1_000, maxMs: 60_000, jitter: false };

  it("fixed: the same delay after every attempt", () => {
    for (const n of [1, 2, 10, 1_000]) expect(backoffDelayMs({ kind: "FIXED", intervalMs: 2_500 }, n, 0.5)).toBe(2_500);
  });

  it("exponential: doubles from base and saturates at max", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelayMs(exp, n, 0))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000,
    ]);
  });

  it("exponential: never overflows for huge attempt numbers", () => {
    for (const n of [64, 1_024, 1_025, 0xffff_ffff, Number.MAX_SAFE_INTEGER]) expect(backoffDelayMs(exp, n, 0)).toBe(60_000);
    const huge: BackoffPolicy = { kind: "EXPONENTIAL", baseMs: 7 * 86_400_000, maxMs: 7 * 86_400_000, jitter: false };
    expect(backoffDelayMs(huge, 0xffff_ffff, 0)).toBe(7 * 86_400_000);
  });

  fcTest.prop([fc.integer({ min: 1, max: 86_400_000 }), fc.integer({ min: 0, max: 86_400_000 }), fc.integer({ min: 1, max: 0xffff_ffff }), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true })])(
    "jittered exponential delays lie in [d/2, d] of the unjittered delay",
    (baseMs, extra, n, r) => {
      const maxMs = baseMs + extra;
      const plain = backoffDelayMs({ kind: "EXPONENTIAL", baseMs, maxMs, jitter: false }, n, r);
      const jittered = backoffDelayMs({ kind: "EXPONENTIAL", baseMs, maxMs, jitter: true }, n, r);
      expect(Number.isSafeInteger(jittered)).toBe(true);
      expect(jittered).toBeGreaterThanOrEqual(Math.floor(plain / 2));
      expect(jittered).toBeLessThanOrEqual(plain);
      expect(plain).toBeLessThanOrEqual(maxMs);
    },
  );

  fcTest.prop([fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 200 })])(
    "exponential delays never decrease with the attempt number",
    (baseMs, n) => {
      const p: BackoffPolicy = { kind: "EXPONENTIAL", baseMs, maxMs: baseMs * 1_000, jitter: false };
      expect(backoffDelayMs(p, n + 1, 0)).toBeGreaterThanOrEqual(backoffDelayMs(p, n, 0));
    },
  );
});
