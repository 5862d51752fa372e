/**
 * Building blocks of the in-memory store (memory-store.ts):
 * - key ordering as lmdb-js's ordered-binary encoding sorts the keys the store uses (numbers
 *   numerically and before strings, strings by UTF-8 bytes, tuples element by element with a
 *   shorter prefix first);
 * - `Table`, a sorted key space with LMDB-style range reads (`start`, exclusive `end`,
 *   `exclusiveStart`, `limit`), so the reader can mirror the LMDB reader range for range;
 * - `Journal`, the undo log that makes a commit atomic;
 * - `storedCopy`, which keeps stored records apart from the caller's objects, and
 *   `estimateBytes`, the size estimate behind `usedBytes()`.
 */

/** One element of a key. */
export type KeyPart = string | number;
/** A key: a scalar or a tuple of scalars. */
export type Key = KeyPart | readonly KeyPart[];

/**
 * Compares strings as their UTF-8 bytes compare (ordered-binary stores UTF-8), which is code
 * point order: equal to code unit order except that a surrogate (half of a code point above
 * U+FFFF) sorts after U+E000–U+FFFF.
 */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        const xs = x <= 0xdfff;
        const ys = y <= 0xdfff;
        if (xs !== ys) return xs ? 1 : -1;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

function comparePart(a: KeyPart, b: KeyPart): number {
  if (typeof a === "number") {
    if (typeof b !== "number") return -1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof b === "number") return 1;
  return compareStrings(a, b);
}

/** Orders keys as LMDB does; a scalar compares like a one-element tuple. */
export function compareKeys(a: Key, b: Key): number {
  const at = typeof a === "object";
  const bt = typeof b === "object";
  if (!at && !bt) return comparePart(a, b);
  const x: readonly KeyPart[] = at ? a : [a];
  const y: readonly KeyPart[] = bt ? b : [b];
  const n = x.length < y.length ? x.length : y.length;
  for (let i = 0; i < n; i++) {
    const c = comparePart(x[i] as KeyPart, y[i] as KeyPart);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/** Undo log of the commit being applied; records nothing outside a commit. */
export class Journal {
  #undo: (() => void)[] | null = null;

  begin(): void {
    this.#undo = [];
  }

  record(undo: () => void): void {
    this.#undo?.push(undo);
  }

  /** Keeps what was applied. */
  end(): void {
    this.#undo = null;
  }

  /** Undoes everything applied since `begin`, newest first. */
  rollback(): void {
    const undo = this.#undo ?? [];
    this.#undo = null;
    for (let i = undo.length - 1; i >= 0; i--) (undo[i] as () => void)();
  }
}

/** A range read, as lmdb-js's getRange takes it (`end` is exclusive). */
export interface Range {
  readonly start?: Key;
  readonly end?: Key;
  readonly exclusiveStart?: boolean;
  readonly limit?: number;
}

/** One entry of a table: key, value and the size estimate of both. */
interface Entry<K, V> {
  readonly key: K;
  value: V;
  bytes: number;
}

/**
 * One sorted key space: entries in one array ordered by `compareKeys` (binary search;
 * appending in order is O(1), inserting elsewhere moves the entries after it). Tables with
 * scalar keys also keep a Map for O(1) point reads. Every change is recorded in the journal.
 */
export class Table<K extends Key, V> {
  readonly #entries: Entry<K, V>[] = [];
  readonly #hash: Map<K, Entry<K, V>> | null;
  readonly #journal: Journal;
  #bytes = 0;

  constructor(journal: Journal, options: { readonly hashed?: boolean } = {}) {
    this.#journal = journal;
    this.#hash = options.hashed === true ? new Map() : null;
  }

  /** Number of entries. */
  get size(): number {
    return this.#entries.length;
  }

  /** Estimated bytes of all entries (keys and values). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Removes every entry, outside the journal (a mirror reloaded whole). */
  clear(): void {
    this.#entries.length = 0;
    this.#hash?.clear();
    this.#bytes = 0;
  }

  get(key: K): V | undefined {
    if (this.#hash) return this.#hash.get(key)?.value;
    return this.#find(key)?.value;
  }

  /** Writes `value` under `key`, replacing what was there. */
  put(key: K, value: V): void {
    const entries = this.#entries;
    const bytes = estimateBytes(key) + estimateBytes(value);
    const last = entries[entries.length - 1];
    const i = last === undefined || compareKeys(last.key, key) < 0 ? entries.length : this.#lowerBound(key);
    const found = entries[i];
    if (found !== undefined && compareKeys(found.key, key) === 0) {
      const old = found.value;
      this.#bytes += bytes - found.bytes;
      found.value = value;
      found.bytes = bytes;
      this.#journal.record(() => this.put(found.key, old));
      return;
    }
    const entry: Entry<K, V> = { key, value, bytes };
    if (i === entries.length) entries.push(entry);
    else entries.splice(i, 0, entry);
    this.#hash?.set(key, entry);
    this.#bytes += bytes;
    this.#journal.record(() => this.remove(key));
  }

  /** Removes `key`; whether it was there. */
  remove(key: K): boolean {
    const i = this.#lowerBound(key);
    const found = this.#entries[i];
    if (found === undefined || compareKeys(found.key, key) !== 0) return false;
    this.#removeAt(i, i + 1);
    return true;
  }

  /** Removes every entry in `range`; how many. */
  /** Removes every key from `start` (inclusive) to `end` (exclusive); how many. */
  removeRange(start: K, end: K): number {
    const [from, to] = this.#bounds({ start, end });
    if (to > from) this.#removeAt(from, to);
    return Math.max(0, to - from);
  }

  keys(range: Range = {}): K[] {
    const [from, to] = this.#bounds(range);
    const out: K[] = [];
    for (let i = from; i < to; i++) out.push((this.#entries[i] as Entry<K, V>).key);
    return out;
  }

  values(range: Range = {}): V[] {
    const [from, to] = this.#bounds(range);
    const out: V[] = [];
    for (let i = from; i < to; i++) out.push((this.#entries[i] as Entry<K, V>).value);
    return out;
  }

  entries(range: Range = {}): { key: K; value: V }[] {
    const [from, to] = this.#bounds(range);
    const out: { key: K; value: V }[] = [];
    for (let i = from; i < to; i++) {
      const e = this.#entries[i] as Entry<K, V>;
      out.push({ key: e.key, value: e.value });
    }
    return out;
  }

  /** The first key in `range`, if any. */
  firstKey(range: Range = {}): K | undefined {
    const [from, to] = this.#bounds({ ...range, limit: 1 });
    return to > from ? this.#entries[from]?.key : undefined;
  }

  #find(key: Key): Entry<K, V> | undefined {
    const e = this.#entries[this.#lowerBound(key)];
    return e !== undefined && compareKeys(e.key, key) === 0 ? e : undefined;
  }

  #removeAt(from: number, to: number): void {
    const removed = this.#entries.splice(from, to - from);
    for (const e of removed) {
      this.#bytes -= e.bytes;
      this.#hash?.delete(e.key);
    }
    this.#journal.record(() => {
      this.#entries.splice(from, 0, ...removed);
      for (const e of removed) {
        this.#bytes += e.bytes;
        this.#hash?.set(e.key, e);
      }
    });
  }

  /** First index whose key is >= `key` (> `key` when `after`). */
  #lowerBound(key: Key, after = false): number {
    const entries = this.#entries;
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareKeys((entries[mid] as Entry<K, V>).key, key);
      if (c < 0 || (after && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * [from, to) of `range`. `limit` follows lmdb-js (it stops once `count++ >= limit`): no
   * limit when undefined or NaN, none returned when <= 0, a fraction rounds up.
   */
  #bounds(range: Range): [number, number] {
    const from = range.start === undefined ? 0 : this.#lowerBound(range.start, range.exclusiveStart === true);
    let to = range.end === undefined ? this.#entries.length : this.#lowerBound(range.end);
    const limit = range.limit;
    if (limit !== undefined && !Number.isNaN(limit)) to = Math.min(to, from + Math.max(0, Math.ceil(limit)));
    return [from, Math.max(from, to)];
  }
}

/**
 * A deep copy of a stored record, frozen (arrays and plain objects; byte arrays cannot be
 * frozen), so neither a later change to the caller's object nor a change through a read
 * reaches stored state. Uint8Array (and Buffer) fields are copied into a new Uint8Array;
 * anything that is not plain data falls back to structuredClone.
 */
export function storedCopy<T>(value: T): T {
  return copy(value) as T;
}

function copy(v: unknown): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) {
    const out: unknown[] = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = copy(v[i]);
    return Object.freeze(out);
  }
  if (v instanceof Uint8Array) return new Uint8Array(v);
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return structuredClone(v);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = copy((v as Record<string, unknown>)[k]);
  return Object.freeze(out);
}

/**
 * Estimated encoded size of a value, msgpack-like: one byte of tag per value, strings by
 * UTF-16 length (exact for ASCII), numbers 8 bytes, byte arrays by length, object field
 * names by their length.
 */
export function estimateBytes(v: unknown): number {
  switch (typeof v) {
    case "string":
      return 1 + v.length;
    case "number":
    case "bigint":
      return 9;
    case "object": {
      if (v === null) return 1;
      if (Array.isArray(v)) {
        let n = 1;
        for (const x of v) n += estimateBytes(x);
        return n;
      }
      if (ArrayBuffer.isView(v)) return 1 + v.byteLength;
      let n = 1;
      for (const k of Object.keys(v)) n += 1 + k.length + estimateBytes((v as Record<string, unknown>)[k]);
      return n;
    }
    default:
      return 1;
  }
}
