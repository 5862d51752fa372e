/**
 * The in-memory index of READY runs that LeaseRuns selects from, in O(log n) per run handed
 * out, without scanning the backlog.
 *
 * Runs are grouped by (queue, required capabilities, concurrency key, slot limit). Within a
 * group, runs sit in a heap in hand-out order (priority, created_at, run id). Each
 * (queue, capabilities) bucket keeps a heap of its groups ordered by their best run, holding
 * only the groups whose key has a free slot: a full key's group leaves the heap and comes
 * back when a slot frees, so runs waiting on a full key cost nothing and never starve other
 * keys. A worker's selection looks at the top of each bucket its capabilities satisfy in each
 * of its queues (a handful) and takes the best.
 *
 * A run that already holds its key's slot (kept through a retry) is indexed as keyless: it
 * needs no new slot.
 *
 * The index is rebuilt from storage at start-up and after a failed commit; it is advisory:
 * the engine re-reads each selected run inside the write before leasing it.
 */
import type { RunId } from "../../domain/ids.js";
import { hasCapabilities } from "../../domain/selection.js";
import { type HeapItem, IndexedHeap } from "./heap.js";
import type { Journal } from "../commit/journal.js";
import type { ReadyEntry, RunRecord } from "../records.js";

/** What the index needs to know about a READY run. */
export interface ReadyInfo {
  readonly runId: RunId;
  readonly queue: string;
  readonly effectivePriority: number;
  readonly createdAt: number;
  /** Sorted required capabilities. */
  readonly capabilities: readonly string[];
  /** The key the run still needs a slot of (null: no key, or the run already holds one). */
  readonly key: { readonly key: string; readonly slots: number } | null;
}

/**
 * One indexed run: only what ordering needs (kept small: a million of these may live in
 * memory); its queue, capabilities and key are its group's.
 */
interface Entry extends HeapItem {
  readonly runId: RunId;
  readonly priority: number;
  readonly createdAt: number;
  readonly group: Group;
}

/**
 * Hand-out order of two entries, the same order as the domain's compareReady (checked by a
 * test), written out without allocating: heaps call it O(log n) times per operation.
 */
const before = (a: Entry, b: Entry): boolean => {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt;
  return a.runId < b.runId;
};




function infoOf(e: Entry): ReadyInfo {
  const g = e.group;
  return {
    runId: e.runId,
    queue: g.bucket.queue,
    effectivePriority: e.priority,
    createdAt: e.createdAt,
    capabilities: g.bucket.capabilities,
    key: g.key === null ? null : { key: g.key, slots: g.slots },
  };
}

class Group implements HeapItem {
  heapIndex = -1;
  readonly runs = new IndexedHeap<Entry>(before);
  constructor(
    readonly bucket: Bucket,
    readonly id: string,
    readonly key: string | null,
    readonly slots: number,
  ) {}
}

class Bucket {
  readonly groups = new Map<string, Group>();
  readonly heap = new IndexedHeap<Group>((a, b) => before(a.runs.peek() as Entry, b.runs.peek() as Entry));
  constructor(
    readonly queue: string,
    readonly sig: string,
    readonly capabilities: readonly string[],
  ) {}
}

/** Tells whether a key has no free slot for a run whose task declares `slots`. */
export type KeyIsFull = (key: string, slots: number) => boolean;

export class ReadyIndex {
  readonly #queues = new Map<string, Map<string, Bucket>>();
  readonly #entries = new Map<RunId, Entry>();
  readonly #groupsByKey = new Map<string, Set<Group>>();
  readonly #isFull: KeyIsFull;

  constructor(isFull: KeyIsFull) {
    this.#isFull = isFull;
  }

  /** READY runs indexed. */
  get size(): number {
    return this.#entries.size;
  }

  has(runId: RunId): boolean {
    return this.#entries.has(runId);
  }

  get(runId: RunId): ReadyInfo | undefined {
    const e = this.#entries.get(runId);
    return e ? infoOf(e) : undefined;
  }

  /** Forgets everything (before a rebuild). */
  clear(): void {
    this.#queues.clear();
    this.#entries.clear();
    this.#groupsByKey.clear();
  }

  /** Indexes a READY run (replacing any previous entry of the same run). */
  add(info: ReadyInfo, journal?: Journal): void {
    if (this.#entries.has(info.runId)) this.remove(info.runId, journal);
    let buckets = this.#queues.get(info.queue);
    if (!buckets) {
      buckets = new Map();
      this.#queues.set(info.queue, buckets);
    }
    const sig = info.capabilities.join("\u0000");
    let bucket = buckets.get(sig);
    if (!bucket) {
      bucket = new Bucket(info.queue, sig, info.capabilities);
      buckets.set(sig, bucket);
    }
    const gid = info.key ? `${info.key.slots}\u0000${info.key.key}` : "";
    let group = bucket.groups.get(gid);
    if (!group) {
      group = new Group(bucket, gid, info.key?.key ?? null, info.key?.slots ?? 0);
      bucket.groups.set(gid, group);
      if (group.key !== null) {
        let set = this.#groupsByKey.get(group.key);
        if (!set) {
          set = new Set();
          this.#groupsByKey.set(group.key, set);
        }
        set.add(group);
      }
    }
    const entry: Entry = { heapIndex: -1, runId: info.runId, priority: info.effectivePriority, createdAt: info.createdAt, group };
    this.#entries.set(info.runId, entry);
    group.runs.push(entry);
    this.#place(group);
    journal?.record(() => this.remove(info.runId));
  }

  /** Removes a run from the index (no-op when absent). */
  remove(runId: RunId, journal?: Journal): void {
    const entry = this.#entries.get(runId);
    if (!entry) return;
    this.#entries.delete(runId);
    const group = entry.group;
    group.runs.remove(entry);
    if (group.runs.size === 0) {
      group.bucket.heap.remove(group);
      group.bucket.groups.delete(group.id);
      if (group.key !== null) {
        const set = this.#groupsByKey.get(group.key);
        set?.delete(group);
        if (set?.size === 0) this.#groupsByKey.delete(group.key);
      }
      if (group.bucket.groups.size === 0) {
        const buckets = this.#queues.get(group.bucket.queue);
        buckets?.delete(group.bucket.sig);
        if (buckets?.size === 0) this.#queues.delete(group.bucket.queue);
      }
    } else {
      this.#place(group);
    }
    journal?.record(() => this.add(infoOf(entry)));
  }

  /** Re-evaluates the groups of `key` after its occupancy changed. */
  keyChanged(key: string): void {
    const groups = this.#groupsByKey.get(key);
    if (groups) for (const g of groups) this.#place(g);
  }

  #place(group: Group): void {
    const heap = group.bucket.heap;
    const eligible = group.runs.size > 0 && (group.key === null || !this.#isFull(group.key, group.slots));
    if (!eligible) heap.remove(group);
    else if (heap.has(group)) heap.update(group);
    else heap.push(group);
  }

  /**
   * The best READY run for a worker: across `queues` (skipping those `skipQueue` rejects),
   * among buckets whose capabilities the worker has, the top run of the top group.
   */
  best(queues: Iterable<string>, capabilities: ReadonlySet<string>, skipQueue: (queue: string) => boolean): ReadyInfo | undefined {
    let bestEntry: Entry | undefined;
    for (const q of queues) {
      const buckets = this.#queues.get(q);
      if (!buckets || skipQueue(q)) continue;
      for (const bucket of buckets.values()) {
        const group = bucket.heap.peek();
        if (!group || !hasCapabilities(bucket.capabilities, capabilities)) continue;
        const top = group.runs.peek();
        if (top && (!bestEntry || before(top, bestEntry))) bestEntry = top;
      }
    }
    return bestEntry ? infoOf(bestEntry) : undefined;
  }

  /** Indexed READY runs of a queue (all groups, blocked or not). */
  countOf(queue: string): number {
    let n = 0;
    for (const b of this.#queues.get(queue)?.values() ?? []) for (const g of b.groups.values()) n += g.runs.size;
    return n;
  }

  /** Whether any run of `queue` could be handed to a worker with `capabilities` now. */
  hasEligible(queue: string, capabilities: ReadonlySet<string>): boolean {
    for (const b of this.#queues.get(queue)?.values() ?? []) {
      if (b.heap.size > 0 && hasCapabilities(b.capabilities, capabilities)) return true;
    }
    return false;
  }
}

/** What the ready index needs of a READY run. A run still holding its slot needs none. */
export function readyInfo(queue: string, run: ReadyEntry): ReadyInfo {
  return {
    runId: run.runId,
    queue,
    effectivePriority: run.effectivePriority,
    createdAt: run.createdAt,
    capabilities: run.capabilities,
    key: run.keySlots && run.keyHold !== "HELD" ? run.keySlots : null,
  };
}

/** readyInfo of a stored run. */
export function readyInfoOf(run: RunRecord): ReadyInfo {
  return readyInfo(run.queue, { ...run, runId: run.id });
}
