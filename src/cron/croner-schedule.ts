/**
 * CronSchedule adapter over croner (https://github.com/Hexagon/croner).
 *
 * Why croner: no dependencies, maintained, time zones through the platform's Intl data
 * (no bundled tz database to go stale), documented DST rules, 5- and 6-field expressions
 * with names, steps, L/W/# and @nicknames, and a pure `nextRun(from)` that computes without
 * scheduling timers.
 */
import { Cron } from "croner";
import type { CronSchedule } from "../domain/derive.js";
import { type Result, err, ok } from "../domain/result.js";

/** Longest cron expression accepted. */
export const MAX_CRON_EXPRESSION_LENGTH = 256;

/** Parses `expression` in IANA `timeZone`; refuses with the parser's own message. */
export function parseCron(expression: string, timeZone: string): Result<CronSchedule, string> {
  if (expression.trim().length === 0) return err("cron expression is empty");
  if (expression.length > MAX_CRON_EXPRESSION_LENGTH) {
    return err(`cron expression is longer than ${MAX_CRON_EXPRESSION_LENGTH} characters`);
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
  } catch {
    return err(`unknown time zone "${timeZone}"`);
  }
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone: timeZone, mode: "5-or-6-parts", paused: true });
  } catch (e) {
    return err(e instanceof Error ? e.message : String(e));
  }
  const schedule: CronSchedule = {
    nextAfter(afterMs: number): number | null {
      const next = cron.nextRun(new Date(afterMs));
      return next ? next.getTime() : null;
    },
  };
  // An expression that never fires (e.g. February 30th) is as useless as an invalid one.
  if (schedule.nextAfter(Date.UTC(2000, 0, 1)) === null) return err("cron expression never matches");
  return ok(schedule);
}
