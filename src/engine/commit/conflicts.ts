/**
 * The retry rule of concurrent commits (pipeline.ts #runShared, docs/scaling.md "Concurrent
 * commits"): a batch whose commit lost a race with another server's is decided again, after a
 * short random wait, at most MAX_CONFLICT_ROUNDS times.
 *
 * Why wait: servers that keep meeting on one row (a repeat task whose runs complete through
 * several servers at once all change the task's row) would otherwise decide again at once and
 * meet again; a random wait that grows with each lost round spreads them out, so each round is
 * likelier to commit (test/integration/postgres/concurrent-commits.test.ts, "a hot task row":
 * 31–51 batches decided again in four runs with the wait, 52–62 without). The limit is high
 * because a run of lost rounds on such a row is likely enough at 16 that it failed that test.
 */

/** Rounds a batch is decided at most; after the last one lost, its commands fail with STORAGE_IO. */
export const MAX_CONFLICT_ROUNDS = 64;

/** The default longest wait before deciding a batch again (ms). */
export const DEFAULT_CONFLICT_BACKOFF_MS = 50;

/**
 * The wait (ms) before deciding again a batch that lost `round` races in a row ("full
 * jitter"): `draw` (uniform in [0, 1)) times the smaller of 2^(round-1) ms and `capMs`. 0 when
 * `capMs` is 0 (no wait).
 */
export function conflictBackoffMs(round: number, draw: number, capMs: number): number {
  if (capMs <= 0 || round < 1) return 0;
  const ceiling = Math.min(capMs, 2 ** Math.min(round - 1, 30));
  return Math.max(0, Math.min(draw, 1)) * ceiling;
}
