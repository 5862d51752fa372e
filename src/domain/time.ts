/**
 * Time in the domain is epoch milliseconds (a safe integer); durations are milliseconds and
 * their names end in `Ms`. The domain never reads a clock: callers pass `now`.
 */

/** 9999-12-31T23:59:59.999Z, the largest instant the service stores. */
export const MAX_TIME_MS = 253_402_300_799_999;

/** 1970-01-01T00:00:00.000Z, the smallest instant the service stores. */
export const MIN_TIME_MS = 0;

/** Source of the current time, injected wherever time matters. */
export interface Clock {
  /** Current time in epoch milliseconds. */
  now(): number;
}

/** True when `ms` is an instant the service can store. */
export function isValidInstant(ms: number): boolean {
  return Number.isSafeInteger(ms) && ms >= MIN_TIME_MS && ms <= MAX_TIME_MS;
}

/** `a + b` clamped to [MIN_TIME_MS, MAX_TIME_MS]; never overflows, never returns NaN. */
export function saturatingAdd(a: number, b: number): number {
  const sum = a + b;
  if (!Number.isFinite(sum) || sum > MAX_TIME_MS) return MAX_TIME_MS;
  if (sum < MIN_TIME_MS) return MIN_TIME_MS;
  return Math.trunc(sum);
}
