/**
 * When a queue's longest-waiting READY run became READY (GetStats' `oldest_ready_at`): the
 * smallest `lastStateChangeAt` among the queue's READY runs, found without reading them all.
 *
 * READY runs are scanned in run id order, which is creation order (UUIDv7 ids from one
 * strictly increasing generator). A run becomes READY no earlier than it is created
 * (`lastStateChangeAt >= createdAt`), so once a run's `createdAt` is at or past the smallest
 * `lastStateChangeAt` seen so far, neither it nor any later run (created later still) can be
 * smaller: the scan stops there. In a queue served first-in first-out that is after two
 * runs; runs that came back to READY late (a retry, a released lease, a resume) make it read
 * further, up to them.
 *
 * The scan is bounded (`OLDEST_READY_SCAN` runs): past the bound the answer is the oldest
 * among the runs scanned, which may be younger than the true one. A wall clock that steps
 * back can also break the premise (ids keep their order, `createdAt` does not); the answer
 * is then the oldest among the runs read before the stop.
 */
import type { Run } from "./run.js";

/** Most READY runs one `oldestReadyAt` reads (per queue, per GetStats). */
export const OLDEST_READY_SCAN = 10_000;

/** The two times of a READY run the rule reads. */
export type ReadySince = Pick<Run, "createdAt" | "lastStateChangeAt">;

/**
 * The smallest `lastStateChangeAt` of `readyInIdOrder` (a queue's READY runs in run id
 * order; pulled lazily, so stopping early reads no more of them), or null when there are
 * none. Reads at most `bound` runs (see the module comment).
 */
export function oldestReadyAt(readyInIdOrder: Iterable<ReadySince>, bound = OLDEST_READY_SCAN): number | null {
  let oldest: number | null = null;
  let scanned = 0;
  for (const run of readyInIdOrder) {
    if (oldest !== null && run.createdAt >= oldest) break;
    if (run.lastStateChangeAt < (oldest ?? Number.POSITIVE_INFINITY)) oldest = run.lastStateChangeAt;
    if (++scanned >= bound) break;
  }
  return oldest;
}
