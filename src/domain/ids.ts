/**
 * Identifiers. Every id is a canonical lowercase UUID string, branded per kind so a run id
 * cannot be passed where a task id is expected. The nil UUID and the empty string are never
 * valid ids. Ids are parsed once at the boundary; inside, the brands are trusted.
 */
import { type Result, err, ok } from "./result.js";

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Identifier of a run (server-generated UUIDv7). */
export type RunId = Brand<string, "RunId">;
/** Identifier of a task (server UUIDv7, or any non-nil UUID chosen by the caller). */
export type TaskId = Brand<string, "TaskId">;
/** Identifier of an attempt (server-generated UUIDv7). */
export type AttemptId = Brand<string, "AttemptId">;
/** Secret proving ownership of a lease (random UUIDv4). */
export type LeaseToken = Brand<string, "LeaseToken">;

/** The nil UUID, always rejected as an id. */
export const NIL_UUID = "00000000-0000-0000-0000-000000000000";

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Why a string is not an id. */
export type IdProblem = "EMPTY" | "NIL" | "MALFORMED";

/**
 * Parses a UUID in canonical 8-4-4-4-12 hex form (either case) into its lowercase form.
 * Refuses the empty string, the nil UUID and anything else.
 */
export function parseUuid(raw: string): Result<string, IdProblem> {
  if (raw.length === 0) return err("EMPTY");
  const lower = raw.toLowerCase();
  if (!UUID_PATTERN.test(lower)) return err("MALFORMED");
  if (lower === NIL_UUID) return err("NIL");
  return ok(lower);
}

/** Brands an already validated string. Only for values that passed `parseUuid`. */
export const asRunId = (s: string): RunId => s as RunId;
/** Brands an already validated string. Only for values that passed `parseUuid`. */
export const asTaskId = (s: string): TaskId => s as TaskId;
/** Brands an already validated string. Only for values that passed `parseUuid`. */
export const asAttemptId = (s: string): AttemptId => s as AttemptId;
/** Brands an already validated string. Only for values that passed `parseUuid`. */
export const asLeaseToken = (s: string): LeaseToken => s as LeaseToken;

/** Source of new identifiers, injected (UUIDv7 in production, sequential in tests). */
export interface IdSource {
  runId(): RunId;
  taskId(): TaskId;
  attemptId(): AttemptId;
  leaseToken(): LeaseToken;
}

function hex(bytes: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) s += (bytes[i] ?? 0).toString(16).padStart(2, "0");
  return s;
}

/**
 * Formats a UUIDv7 (RFC 9562): 48-bit big-endian milliseconds, version 7, a 12-bit sequence
 * in `rand_a` (so ids made in the same millisecond still sort in creation order), variant
 * 10, and 62 random bits. Pure: the caller supplies time, sequence and 8 random bytes. Ids
 * made later sort after ids made earlier, which keeps LMDB appends at the end of the B-tree
 * and listings in creation order.
 */
export function formatUuidV7(ms: number, seq: number, random: Uint8Array): string {
  if (random.length < 8) throw new RangeError("formatUuidV7 needs 8 random bytes");
  const b = new Uint8Array(16);
  let t = Math.max(0, Math.trunc(ms));
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  const s = seq & 0x0fff;
  b[6] = 0x70 | (s >> 8);
  b[7] = s & 0xff;
  b[8] = 0x80 | ((random[0] ?? 0) & 0x3f);
  for (let i = 9; i < 16; i++) b[i] = random[i - 8] ?? 0;
  return `${hex(b, 0, 4)}-${hex(b, 4, 6)}-${hex(b, 6, 8)}-${hex(b, 8, 10)}-${hex(b, 10, 16)}`;
}
