/**
 * Decoding rules of the wire form itself: well-known types (Timestamp, Duration) to epoch
 * milliseconds, ids and lease tokens to branded strings, and the list that collects every
 * field violation with its proto path. What a value means (ranges, defaults, limits) is the
 * domain's business (src/domain); only what the wire can get wrong is checked here.
 */
import { create } from "@bufbuild/protobuf";
import { type Duration, type Timestamp, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { type AttemptId, type LeaseToken, type RunId, type TaskId, asAttemptId, asRunId, asTaskId, parseUuid } from "../../domain/ids.js";
import { MAX_TIME_MS } from "../../domain/time.js";
import type { FieldViolation } from "../../engine/api.js";

/** Collects field violations while decoding a request. */
export class Violations {
  readonly list: FieldViolation[] = [];
  add(field: string, description: string): void {
    this.list.push({ field, description });
  }
  get empty(): boolean {
    return this.list.length === 0;
  }
}

const MAX_SECONDS = 253_402_300_799n;

/** Epoch ms of a Timestamp (truncated to ms); null when unset. Adds a violation when out of range. */
export function tsToMs(ts: Timestamp | undefined, field: string, v: Violations): number | null {
  if (!ts) return null;
  if (ts.seconds < 0n || ts.seconds > MAX_SECONDS || ts.nanos < 0 || ts.nanos > 999_999_999) {
    v.add(field, "must lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z with nanos in [0, 999999999]");
    return null;
  }
  return Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000);
}

/**
 * Milliseconds of a Duration (truncated toward zero); null when unset. Adds a violation when
 * it is not a valid google.protobuf.Duration; ranges are checked by the domain.
 */
export function durToMs(d: Duration | undefined, field: string, v: Violations): number | null {
  if (!d) return null;
  const nanosOk = d.nanos > -1_000_000_000 && d.nanos < 1_000_000_000 && (d.seconds === 0n || d.nanos === 0 || d.seconds > 0n === d.nanos > 0);
  if (!nanosOk || d.seconds < -315_576_000_000n || d.seconds > 315_576_000_000n) {
    v.add(field, "is not a valid google.protobuf.Duration");
    return null;
  }
  return Number(d.seconds) * 1000 + Math.trunc(d.nanos / 1_000_000);
}

/** Timestamp of epoch ms. */
export function msToTs(ms: number): Timestamp {
  const clamped = Math.min(Math.max(ms, 0), MAX_TIME_MS);
  return create(TimestampSchema, { seconds: BigInt(Math.floor(clamped / 1000)), nanos: (clamped % 1000) * 1_000_000 });
}

function idOf(raw: string, field: string, v: Violations): string {
  const r = parseUuid(raw);
  if (!r.ok) {
    v.add(field, r.error === "EMPTY" ? "is required" : r.error === "NIL" ? "must not be the nil UUID" : "must be a canonical UUID (8-4-4-4-12 hex)");
    return raw;
  }
  return r.value;
}

/** A required run id. */
export const runIdOf = (raw: string, field: string, v: Violations): RunId => asRunId(idOf(raw, field, v));
/** A required task id. */
export const taskIdOf = (raw: string, field: string, v: Violations): TaskId => asTaskId(idOf(raw, field, v));
/** A required attempt id. */
export const attemptIdOf = (raw: string, field: string, v: Violations): AttemptId => asAttemptId(idOf(raw, field, v));
/** An optional task id ("" = absent). */
export const optionalTaskId = (raw: string, field: string, v: Violations): TaskId | null => (raw === "" ? null : taskIdOf(raw, field, v));
/** An optional run id ("" = absent). */
export const optionalRunId = (raw: string, field: string, v: Violations): RunId | null => (raw === "" ? null : runIdOf(raw, field, v));

/** A lease token: any non-empty printable string up to 64 characters (tokens are UUIDs). */
export function tokenOf(raw: string, field: string, v: Violations): LeaseToken {
  if (raw.length === 0) v.add(field, "is required");
  else if (raw.length > 64 || !/^[\x21-\x7e]+$/.test(raw)) v.add(field, "is not a lease token");
  return raw as LeaseToken;
}
