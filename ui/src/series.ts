/**
 * Per-queue minute buckets of finished runs, as pure functions: the overview's throughput
 * chart (runs reaching COMPLETED per minute) and failure-rate chart (FAILED / (COMPLETED +
 * FAILED) per minute) over the last WINDOW_MINUTES, built from WatchRuns events. No clock:
 * callers pass "now". Unit-tested in test/unit/ui/series.test.ts.
 */

/** Minutes shown by the overview charts (the current, partial minute included). */
export const WINDOW_MINUTES = 15;

/** Finished runs of one minute. */
export interface MinuteCounts {
  completed: number;
  failed: number;
}

/** queue -> minute number (epoch ms / 60,000, floored) -> counts. Mutated in place by addOutcome/prune. */
export type Buckets = Map<string, Map<number, MinuteCounts>>;

/** The minute number of epoch milliseconds `ms`. */
export function minuteOf(ms: number): number {
  return Math.floor(ms / 60_000);
}

/** The first minute inside the window that ends with the minute of `nowMs`. */
export function windowStart(nowMs: number, windowMinutes = WINDOW_MINUTES): number {
  return minuteOf(nowMs) - windowMinutes + 1;
}

/**
 * Counts one finished run of `queue` at `timeMs`. Returns false (and counts nothing) when
 * the time is outside the window ending at `nowMs` — older, or in the future by more than a
 * minute (a skewed clock) — true otherwise.
 */
export function addOutcome(buckets: Buckets, queue: string, outcome: "completed" | "failed", timeMs: number, nowMs: number, windowMinutes = WINDOW_MINUTES): boolean {
  const m = minuteOf(timeMs);
  if (m < windowStart(nowMs, windowMinutes) || m > minuteOf(nowMs) + 1) return false;
  let perQueue = buckets.get(queue);
  if (perQueue === undefined) {
    perQueue = new Map();
    buckets.set(queue, perQueue);
  }
  let c = perQueue.get(m);
  if (c === undefined) {
    c = { completed: 0, failed: 0 };
    perQueue.set(m, c);
  }
  c[outcome]++;
  return true;
}

/** Drops every minute before the window ending at `nowMs` (and queues left empty). */
export function prune(buckets: Buckets, nowMs: number, windowMinutes = WINDOW_MINUTES): void {
  const first = windowStart(nowMs, windowMinutes);
  for (const [queue, perQueue] of buckets) {
    for (const m of perQueue.keys()) if (m < first) perQueue.delete(m);
    if (perQueue.size === 0) buckets.delete(queue);
  }
}

/** The chart data of one queue: one entry per minute of the window, oldest first. */
export interface QueueSeries {
  /** Start of each minute, epoch seconds (uPlot's x unit). */
  readonly minutes: number[];
  /** Runs that reached COMPLETED in each minute. */
  readonly completed: number[];
  /** Runs that reached FAILED in each minute. */
  readonly failed: number[];
  /** FAILED / (COMPLETED + FAILED) in percent; null for a minute where nothing finished. */
  readonly failureRate: (number | null)[];
}

/** The series of `queue` over the window ending at `nowMs` (zeros for a queue with no data). */
export function series(buckets: Buckets, queue: string, nowMs: number, windowMinutes = WINDOW_MINUTES): QueueSeries {
  const perQueue = buckets.get(queue);
  const first = windowStart(nowMs, windowMinutes);
  const out: QueueSeries = { minutes: [], completed: [], failed: [], failureRate: [] };
  for (let m = first; m < first + windowMinutes; m++) {
    const c = perQueue?.get(m);
    const completed = c?.completed ?? 0;
    const failed = c?.failed ?? 0;
    out.minutes.push(m * 60);
    out.completed.push(completed);
    out.failed.push(failed);
    out.failureRate.push(completed + failed === 0 ? null : (100 * failed) / (completed + failed));
  }
  return out;
}

/** Totals of a series over its window: finished runs and the overall failure rate (null when none finished). */
export function totals(s: QueueSeries): { completed: number; failed: number; failureRate: number | null } {
  const completed = s.completed.reduce((a, b) => a + b, 0);
  const failed = s.failed.reduce((a, b) => a + b, 0);
  return { completed, failed, failureRate: completed + failed === 0 ? null : (100 * failed) / (completed + failed) };
}

/**
 * The revision the overview's backfill watch starts from: max(oldest retained, latest −
 * `span`), at least 1 — the last `span` changes, or everything retained when that is less.
 */
export function backfillStart(oldestRevision: bigint, revision: bigint, span = 50_000n): bigint {
  const from = revision - span > oldestRevision ? revision - span : oldestRevision;
  return from < 1n ? 1n : from;
}
