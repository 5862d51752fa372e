/**
 * The one generator of server identifiers: UUIDv7 run, task and attempt ids, strictly
 * increasing within the process, and random UUIDv4 lease tokens. Used by the server
 * (`src/main.ts`), the benchmarks and the test child processes alike.
 */
import { randomFillSync, randomUUID } from "node:crypto";
import { asAttemptId, asLeaseToken, asRunId, asTaskId, formatUuidV7, type IdSource } from "../domain/ids.js";

/** Largest value of the 12-bit sequence carried in a UUIDv7's `rand_a` field. */
export const MAX_UUIDV7_SEQUENCE = 0xfff;

/**
 * A generator of UUIDv7 strings, strictly increasing across calls. Ids made in the same
 * millisecond carry a 12-bit sequence; when it would pass 0xfff the id moves on to the next
 * millisecond (sequence 0), so at most 4,096 ids share a millisecond and order is never
 * lost. A clock that goes backwards does not break the order: ids keep counting from the
 * last millisecond used until the clock passes it.
 *
 * @param now the clock, in epoch milliseconds (injected by tests).
 */
export function uuidV7Generator(now: () => number = Date.now): () => string {
  let lastMs = 0;
  let seq = 0;
  const random = randomPool(8);
  return () => {
    const ms = Math.trunc(now());
    if (ms > lastMs) {
      lastMs = ms;
      seq = 0;
    } else if (++seq > MAX_UUIDV7_SEQUENCE) {
      lastMs++;
      seq = 0;
    }
    return formatUuidV7(lastMs, seq, random());
  };
}

/** Bytes fetched from the system's CSPRNG per refill: one call serves 512 ids. */
const POOL_BYTES = 4096;

/**
 * Slices of `size` random bytes from a pool refilled by one `randomFillSync` call when used
 * up, instead of one system call per id (the randomness is the same CSPRNG's).
 */
function randomPool(size: number): () => Uint8Array {
  const pool = new Uint8Array(POOL_BYTES - (POOL_BYTES % size));
  let at = pool.length;
  return () => {
    if (at + size > pool.length) {
      randomFillSync(pool);
      at = 0;
    }
    const slice = pool.subarray(at, at + size);
    at += size;
    return slice;
  };
}

/**
 * The production IdSource: run, task and attempt ids from one shared UUIDv7 generator (so
 * all kinds together are strictly increasing), lease tokens as random UUIDv4 (a secret, so
 * nothing about it is predictable from time).
 *
 * @param now the clock, in epoch milliseconds (injected by tests).
 */
export function uuidV7Source(now: () => number = Date.now): IdSource {
  const v7 = uuidV7Generator(now);
  return {
    runId: () => asRunId(v7()),
    taskId: () => asTaskId(v7()),
    attemptId: () => asAttemptId(v7()),
    leaseToken: () => asLeaseToken(randomUUID()),
  };
}
