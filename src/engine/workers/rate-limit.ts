/**
 * Queue dispatch rate limits (SPEC §4): a token bucket per queue, refilled at the queue's
 * rate up to its burst. Runs over the rate stay READY; a timer wakes waiting workers when
 * the next token is due.
 */
import type { QueueRecord } from "../records.js";

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets of every rate-limited queue. In memory only: a restart starts them full. With
 * several servers each keeps its own bucket per queue and spends a token for every run any
 * server hands out (follow.ts), so together they keep to the rate (each new bucket starts full).
 */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  #timer: NodeJS.Timeout | null = null;

  #refill(q: QueueRecord, now: number): Bucket {
    let b = this.#buckets.get(q.name);
    if (!b) {
      b = { tokens: q.burst, at: now };
      this.#buckets.set(q.name, b);
    }
    if (now > b.at) {
      b.tokens = Math.min(q.burst, b.tokens + ((now - b.at) / 1000) * q.ratePerSecond);
      b.at = now;
    }
    return b;
  }

  /** Whether `q` may hand out a run now (always, without a limit). */
  allows(q: QueueRecord | undefined, now: number): boolean {
    return !q || q.ratePerSecond <= 0 || this.#refill(q, now).tokens >= 1;
  }

  /** Spends a token of `q`; returns the undo, and whether the bucket is now empty. */
  take(q: QueueRecord | undefined, now: number): { undo: () => void; empty: boolean } | null {
    if (!q || q.ratePerSecond <= 0) return null;
    const b = this.#refill(q, now);
    b.tokens -= 1;
    return {
      undo: () => {
        b.tokens += 1;
      },
      empty: b.tokens < 1,
    };
  }

  /** Spends a token of `q` for a run another server handed out (the bucket may go below zero). */
  spent(q: QueueRecord | undefined, now: number): void {
    if (!q || q.ratePerSecond <= 0) return;
    this.#refill(q, now).tokens -= 1;
  }

  /** Forgets a queue's bucket (its limit changed). */
  reset(queue: string): void {
    this.#buckets.delete(queue);
  }

  /** Calls `wake` once the first of `queues` can hand out a run again (one timer at a time). */
  armWake(queues: readonly QueueRecord[], wake: () => void): void {
    if (this.#timer) return;
    let soonest = Number.POSITIVE_INFINITY;
    for (const q of queues) {
      if (q.ratePerSecond <= 0) continue;
      const b = this.#buckets.get(q.name);
      const missing = b ? Math.max(0, 1 - b.tokens) : 0;
      soonest = Math.min(soonest, Math.ceil((missing / q.ratePerSecond) * 1000));
    }
    if (!Number.isFinite(soonest)) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      wake();
    }, Math.max(1, soonest));
    this.#timer.unref();
  }

  /** Stops the wake timer. */
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
