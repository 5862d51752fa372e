/**
 * The change log's rows (schema version 2, docs/scaling.md "Several servers"): one commit's
 * verbs, as other servers read them to bring their mirror and their engine up to it.
 *
 * A row holds the verbs without their `prev` records: every server applies the log in order,
 * so when it applies change N its mirror holds exactly what the committing server decided on
 * (state N-1, under the commit lock), and `prev` is read back from it (`withPrev`). That
 * halves what is written. The rest is V8's structured-clone format (Uint8Array, undefined and
 * numbers round-trip exactly, unlike JSON), deflated at the fastest level: the encoding runs
 * under the commit lock, so speed matters more than size.
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { deserialize, serialize } from "node:v8";
import type { StoreReader, StoreVerb } from "../../engine/ports.js";

/** A row of the change log as a follow reads it (seq and revision_delta may come as strings: bigint). */
export interface ChangeRow {
  readonly seq: number;
  readonly verbs: Uint8Array;
  readonly revision_delta: number;
}

/** A verb as the log stores it: updateTask and updateRun without `prev`. */
type Logged = StoreVerb extends infer V ? (V extends { prev: unknown } ? Omit<V, "prev"> : V) : never;

/** The bytes of one commit's verbs. */
export function encodeChange(verbs: readonly StoreVerb[]): Buffer {
  const logged = verbs.map((v): Logged => {
    if (v.verb === "updateRun" || v.verb === "updateTask") {
      const { prev: _prev, ...rest } = v;
      return rest as Logged;
    }
    return v;
  });
  return deflateRawSync(serialize(logged), { level: 1 });
}

/** The logged verbs of one change (without `prev`: see `withPrev`). */
export function decodeChange(bytes: Uint8Array): readonly Logged[] {
  const value: unknown = deserialize(inflateRawSync(bytes));
  if (!Array.isArray(value)) throw new Error("change log: a row is not a list of verbs");
  return value.map((v) => normalise(v) as Logged);
}

/**
 * The verb with the `prev` it was decided on, read from `reader` as it stands just before the
 * verb is applied (the caller applies the verbs of a change one at a time, in order).
 */
export function withPrev(v: Logged, reader: StoreReader): StoreVerb {
  if (v.verb === "updateRun") {
    const prev = reader.getRun(v.run.id);
    if (!prev) throw new Error(`change log: updateRun of run ${v.run.id}, which this server does not hold`);
    return { ...v, prev };
  }
  if (v.verb === "updateTask") {
    const prev = reader.getTask(v.task.id);
    if (!prev) throw new Error(`change log: updateTask of task ${v.task.id}, which this server does not hold`);
    return { ...v, prev };
  }
  return v;
}

/**
 * V8 gives a Buffer back for bytes serialized as a Buffer, a plain Uint8Array for a
 * Uint8Array; records hold plain Uint8Arrays (what every other store gives), so any Buffer
 * is turned into one view of the same memory.
 */
function normalise(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Buffer.isBuffer(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof Uint8Array) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = normalise(v[i]);
    return v;
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) o[k] = normalise(o[k]);
  return o;
}
