/**
 * Attempt outcomes, the retry decision (SPEC §5) and backoff delays.
 */
import { assertNever } from "./result.js";
import type { RunState } from "./state.js";

/** Outcomes a worker may report. */
export const WORKER_OUTCOMES = ["SUCCESS", "TERMINAL_FAILURE", "RETRYABLE_FAILURE", "TIMEOUT", "SUSPENDED"] as const;

/**
 * How an attempt ended. CANCELED is set by the service only (the run was canceled while the
 * attempt was open); the others may come from a worker, and TIMEOUT also from the service
 * when a lease or the attempt timeout expires.
 */
export type AttemptOutcome = (typeof WORKER_OUTCOMES)[number] | "CANCELED";

/** Whether an attempt with this outcome counts toward max_attempts. */
export function isCounted(outcome: AttemptOutcome): boolean {
  return outcome !== "SUSPENDED";
}

/**
 * The state a RUNNING run moves to when its attempt ends with `outcome`.
 * `countedAttempts` already includes the attempt just finished (and excludes it when it was
 * SUSPENDED). Retryable failures and timeouts retry while counted attempts < max_attempts.
 */
export function stateAfterOutcome(outcome: AttemptOutcome, countedAttempts: number, maxAttempts: number): RunState {
  switch (outcome) {
    case "SUCCESS":
      return "COMPLETED";
    case "TERMINAL_FAILURE":
      return "FAILED";
    case "RETRYABLE_FAILURE":
    case "TIMEOUT":
      return countedAttempts < maxAttempts ? "RETRY_WAIT" : "FAILED";
    case "SUSPENDED":
      return "SUSPENDED";
    case "CANCELED":
      return "CANCELED";
    default:
      return assertNever(outcome, "attempt outcome");
  }
}

/** Delay rule between attempts. */
export type BackoffPolicy =
  | { readonly kind: "FIXED"; readonly intervalMs: number }
  | { readonly kind: "EXPONENTIAL"; readonly baseMs: number; readonly maxMs: number; readonly jitter: boolean };

/** Backoff used when a task declares none: exponential, base 1 s, max 5 min, no jitter. */
export const DEFAULT_BACKOFF: BackoffPolicy = { kind: "EXPONENTIAL", baseMs: 1_000, maxMs: 300_000, jitter: false };

/**
 * Delay in ms before retrying after the `failedAttempts`-th counted attempt (1-based).
 *
 * - FIXED: always `intervalMs`.
 * - EXPONENTIAL: `min(maxMs, baseMs * 2^(n-1))`, computed so it saturates at `maxMs` for any
 *   n (no overflow, no Infinity). With jitter, the delay is drawn from [d/2, d] using
 *   `random01` in [0, 1) ("equal jitter"), so a retry never fires at once.
 *
 * The result is a whole number of ms >= 0.
 */
export function backoffDelayMs(policy: BackoffPolicy, failedAttempts: number, random01: number): number {
  switch (policy.kind) {
    case "FIXED":
      return Math.max(0, Math.trunc(policy.intervalMs));
    case "EXPONENTIAL": {
      const exponent = Math.max(0, Math.trunc(failedAttempts) - 1);
      const max = Math.max(0, policy.maxMs);
      // 2^exponent overflows to Infinity past 1023; any exponent where base * 2^e > max is
      // already saturated, so compare in the log domain first.
      const base = Math.max(0, policy.baseMs);
      let d: number;
      if (base === 0) d = 0;
      else if (exponent >= 64 || base * 2 ** exponent > max) d = max;
      else d = base * 2 ** exponent;
      d = Math.trunc(d);
      if (!policy.jitter) return d;
      const r = Number.isFinite(random01) ? Math.min(Math.max(random01, 0), 1 - Number.EPSILON) : 0;
      const half = Math.floor(d / 2);
      // r < 1, so the draw is at most d - half: the result lies in [half, d].
      return half + Math.floor(r * (d - half + 1));
    }
    default:
      return assertNever(policy, "backoff policy");
  }
}
