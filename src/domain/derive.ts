/**
 * Derivation of run due-times from a task's run policy (SPEC §3), the rolling cron window,
 * and the misfire policies applied after an outage. Pure: cron arithmetic comes in through
 * the `CronSchedule` port (a croner adapter in production, simple fakes in unit tests).
 */
import type { DerivationRefusal } from "./refusal.js";
import { type Result, assertNever, err, ok } from "./result.js";
import { MAX_TIME_MS, isValidInstant } from "./time.js";

/** Occurrences of a cron expression in a time zone. */
export interface CronSchedule {
  /** The first occurrence strictly after `afterMs`, or null when there is none. */
  nextAfter(afterMs: number): number | null;
}

/** What to do with cron occurrences that fell due while the service was down. */
export type MisfirePolicy = "CATCH_UP" | "SKIP" | "COALESCE";

/** Due-time of the single run of a `once` policy. */
export function deriveOnce(startAt: number): Result<number[], DerivationRefusal> {
  if (!isValidInstant(startAt)) return err({ reason: "INVALID_INSTANT", at: startAt });
  return ok([startAt]);
}

/**
 * Due-times of a `repeat(count, interval)` policy: exactly `count` instants
 * `startAt + i * intervalMs`. Anything out of range — a count outside [1, maxCount], a
 * negative or non-integer interval, a last instant past 9999-12-31 — is refused before a
 * single instant is produced.
 */
export function deriveRepeat(
  count: number,
  intervalMs: number,
  startAt: number,
  maxCount: number,
): Result<number[], DerivationRefusal> {
  if (!Number.isSafeInteger(count) || count < 1 || count > maxCount) {
    return err({ reason: "REPEAT_COUNT_OUT_OF_RANGE", count, max: maxCount });
  }
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 0) return err({ reason: "INVALID_INTERVAL", intervalMs });
  if (!isValidInstant(startAt)) return err({ reason: "INVALID_INSTANT", at: startAt });
  // (count - 1) * interval is exact: both factors are safe integers and the product is
  // compared against MAX_TIME_MS - startAt before any addition can lose precision.
  const span = (count - 1) * intervalMs;
  if (!Number.isSafeInteger(span) || span > MAX_TIME_MS - startAt) {
    return err({ reason: "SCHEDULE_OVERFLOW", lastAt: startAt + span });
  }
  const times = new Array<number>(count);
  for (let i = 0; i < count; i++) times[i] = startAt + i * intervalMs;
  return ok(times);
}

/** Where a cron task's derivation stands. */
export interface CronCursor {
  /** Next occurrence not yet derived as a run; null when the schedule is exhausted. */
  readonly nextAt: number | null;
  /** Runs derived so far. */
  readonly derived: number;
}

/** The first cursor of a cron task: the first occurrence at or after `startAt`. */
export function firstCronCursor(schedule: CronSchedule, startAt: number): CronCursor {
  const first = schedule.nextAfter(startAt - 1);
  return { nextAt: first !== null && first <= MAX_TIME_MS ? first : null, derived: 0 };
}

function exhausted(c: CronCursor, maxOccurrences: number): boolean {
  return c.nextAt === null || (maxOccurrences > 0 && c.derived >= maxOccurrences);
}

/** A cursor that reached `maxOccurrences` has no next occurrence: nextAt becomes null. */
function settled(c: CronCursor, maxOccurrences: number): CronCursor {
  return c.nextAt !== null && exhausted(c, maxOccurrences) ? { nextAt: null, derived: c.derived } : c;
}

function advance(schedule: CronSchedule, c: CronCursor, derivedNow: boolean): CronCursor {
  const at = c.nextAt;
  if (at === null) return c;
  const next = schedule.nextAfter(at);
  return { nextAt: next !== null && next <= MAX_TIME_MS ? next : null, derived: c.derived + (derivedNow ? 1 : 0) };
}

/**
 * Rolls the cron window: derives occurrences until `window` runs are pending (not yet
 * due-and-promoted), the schedule is exhausted, or `maxOccurrences` (0 = unlimited) is
 * reached. Returns the new due-times and the advanced cursor.
 */
export function refillCronWindow(
  schedule: CronSchedule,
  cursor: CronCursor,
  pending: number,
  window: number,
  maxOccurrences: number,
): { times: number[]; cursor: CronCursor } {
  const times: number[] = [];
  let c = cursor;
  while (pending + times.length < window && !exhausted(c, maxOccurrences)) {
    times.push(c.nextAt as number);
    c = advance(schedule, c, true);
  }
  return { times, cursor: settled(c, maxOccurrences) };
}

/** An already derived run that is overdue at start-up. */
export interface OverdueRun<Id> {
  readonly runId: Id;
  readonly scheduledAt: number;
}

/** What a misfire policy decides after an outage. */
export interface MisfirePlan<Id> {
  /** Overdue runs that stay and are promoted as usual. */
  readonly keep: Id[];
  /** Overdue runs canceled as MISSED. */
  readonly cancel: Id[];
  /** Not-yet-derived overdue occurrences to derive now (they are due at once). */
  readonly derive: number[];
  /** Cursor after the missed window. */
  readonly cursor: CronCursor;
  /** Missed occurrences neither kept nor derived (skipped, coalesced, or over the cap). */
  readonly skipped: number;
}

/**
 * Applies a misfire policy at start-up (`now`) to a cron task's overdue runs and to the
 * occurrences that fell due but were never derived (the window only looks a few runs ahead).
 *
 * - CATCH_UP: keep every overdue run and derive every missed occurrence (at most
 *   `catchUpLimit`; the rest are skipped and counted).
 * - SKIP: cancel every overdue run; derive none of the missed occurrences.
 * - COALESCE: one run stands for the window: the latest overdue occurrence is kept (or
 *   derived when it was never derived); every other overdue run is canceled.
 *
 * `maxOccurrences` bounds derivation as usual. Overdue means scheduled at or before `now`.
 */
export function planMisfire<Id>(
  policy: MisfirePolicy,
  schedule: CronSchedule,
  overdue: readonly OverdueRun<Id>[],
  cursor: CronCursor,
  now: number,
  maxOccurrences: number,
  catchUpLimit: number,
): MisfirePlan<Id> {
  const sorted = [...overdue].sort((a, b) => a.scheduledAt - b.scheduledAt);
  // Missed occurrences never derived: walk the cursor up to `now`.
  const missed: number[] = [];
  let c = cursor;
  let overflow = 0;
  while (!exhausted(c, maxOccurrences) && (c.nextAt as number) <= now) {
    if (policy === "CATCH_UP" && missed.length >= catchUpLimit) {
      overflow++;
      c = advance(schedule, c, false);
      continue;
    }
    missed.push(c.nextAt as number);
    // SKIP and COALESCE do not derive these, so they do not use up max_occurrences
    // except the one COALESCE run (accounted below).
    c = advance(schedule, c, policy === "CATCH_UP");
  }
  switch (policy) {
    case "CATCH_UP":
      return { keep: sorted.map((r) => r.runId), cancel: [], derive: missed, cursor: settled(c, maxOccurrences), skipped: overflow };
    case "SKIP":
      return { keep: [], cancel: sorted.map((r) => r.runId), derive: [], cursor: c, skipped: missed.length };
    case "COALESCE": {
      const lastMissed = missed.at(-1);
      const lastOverdue = sorted.at(-1);
      if (lastMissed !== undefined && (lastOverdue === undefined || lastMissed > lastOverdue.scheduledAt)) {
        return {
          keep: [],
          cancel: sorted.map((r) => r.runId),
          derive: [lastMissed],
          cursor: settled({ nextAt: c.nextAt, derived: c.derived + 1 }, maxOccurrences),
          skipped: missed.length - 1,
        };
      }
      return {
        keep: lastOverdue ? [lastOverdue.runId] : [],
        cancel: sorted.slice(0, -1).map((r) => r.runId),
        derive: [],
        cursor: c,
        skipped: missed.length,
      };
    }
    default:
      return assertNever(policy, "misfire policy");
  }
}
