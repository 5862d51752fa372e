/**
 * The in-memory store's key spaces and its StoreReader. The key spaces are those of the LMDB
 * layout (docs/storage.md, src/storage/lmdb/databases.ts), and each read mirrors the LMDB
 * reader (src/storage/lmdb/reader.ts) range for range, so orderings, bounds and limits match.
 */
import type { RunId, TaskId } from "../../domain/ids.js";
import { RUN_STATES, type RunState } from "../../domain/state.js";
import type { DueEntry, MetaRecord, StoreReader } from "../../engine/ports.js";
import type {
  AttemptRecord,
  DueKind,
  EventRecord,
  KeyHolderRecord,
  LeaseRecord,
  QueueRecord,
  ReadyEntry,
  ReservationRecord,
  RunRecord,
  TaskRecord,
  TaskStateRecord,
} from "../../engine/records.js";
import type { TaskSpec } from "../../domain/task-spec.js";
import { type ReadyValue, joinTask } from "../layout.js";
import { type Journal, type KeyPart, Table } from "./tables.js";


type T2 = readonly [string, string];
type T3 = readonly [string, string, string];

/** The key spaces, one per LMDB database, all journaled by `journal`. */
export function createTables(journal: Journal) {
  const hashed = <K extends string | number, V>() => new Table<K, V>(journal, { hashed: true });
  const sorted = <K extends readonly KeyPart[], V>() => new Table<K, V>(journal);
  return {
    meta: hashed<string, MetaRecord>(),
    tasks: hashed<string, TaskStateRecord>(),
    taskSpecs: hashed<string, TaskSpec>(),
    runs: hashed<string, RunRecord>(),
    attempts: sorted<readonly [string, number], AttemptRecord>(),
    leases: hashed<string, LeaseRecord>(),
    keyholders: sorted<T2, KeyHolderRecord>(),
    queues: hashed<string, QueueRecord>(),
    events: hashed<number, EventRecord>(),
    counts: sorted<T2, number>(),
    reserved: hashed<string, ReservationRecord>(),
    idxState: sorted<T3, number | ReadyValue>(),
    idxTaskRuns: sorted<T2, number>(),
    idxDue: sorted<readonly [number, string, string], number>(),
    idxTaskQueue: sorted<T2, number>(),
    idxChildren: sorted<T2, number>(),
    idxDependents: sorted<T2, number>(),
    idxCron: hashed<string, number>(),
    idxFinished: sorted<readonly [number, string], number>(),
    idxReserved: sorted<readonly [number, string], number>(),
  };
}

/** The in-memory key spaces. */
export type Tables = ReturnType<typeof createTables>;

/** Second (or last) elements of index keys under `prefix`, after `after` (LMDB's keysAfter). */
function keysAfter<R>(t: Table<readonly KeyPart[], unknown>, prefix: KeyPart[], after: string | undefined, limit: number, pick: (k: readonly KeyPart[]) => R): R[] {
  const start = after === undefined ? [...prefix] : [...prefix, after];
  return t.keys({ start, end: [...prefix, "\uffff"], exclusiveStart: after !== undefined, limit }).map(pick);
}

/**
 * The StoreReader over the in-memory key spaces. Records come back as stored: frozen copies
 * (see storedCopy), shared between reads; lists are fresh arrays.
 */
export class MemoryReader implements StoreReader {
  readonly #t: Tables;
  constructor(tables: Tables) {
    this.#t = tables;
  }

  meta(): MetaRecord {
    return this.#t.meta.get("meta") ?? { revision: 0, oldestRevision: 1, enginePaused: false };
  }
  getTask(id: TaskId): TaskRecord | undefined {
    const state = this.#t.tasks.get(id);
    const spec = state && this.#t.taskSpecs.get(id);
    return state && spec ? joinTask(state, spec) : undefined;
  }
  getRun(id: RunId): RunRecord | undefined {
    return this.#t.runs.get(id);
  }
  getLease(runId: RunId): LeaseRecord | undefined {
    return this.#t.leases.get(runId);
  }
  getAttempt(runId: RunId, number: number): AttemptRecord | undefined {
    return this.#t.attempts.get([runId, number]);
  }
  getQueue(name: string): QueueRecord | undefined {
    return this.#t.queues.get(name);
  }
  getReservation(id: TaskId): ReservationRecord | undefined {
    return this.#t.reserved.get(id);
  }
  queueNames(): string[] {
    const names = new Set<string>(this.#t.queues.keys());
    let last: string | undefined;
    // Queues with runs: walk the counts index one queue at a time.
    for (;;) {
      const next = this.#t.counts.firstKey({ start: last === undefined ? [""] : [last, "\uffff"] });
      if (!next) break;
      last = next[0];
      names.add(last);
    }
    return [...names].sort();
  }
  attempts(runId: RunId, afterNumber: number, limit: number): AttemptRecord[] {
    return this.#t.attempts.values({ start: [runId, afterNumber], end: [runId, Number.MAX_SAFE_INTEGER], exclusiveStart: true, limit });
  }
  runIdsOfTask(taskId: TaskId, afterRunId?: RunId, limit = Number.MAX_SAFE_INTEGER): RunId[] {
    return keysAfter(this.#t.idxTaskRuns, [taskId], afterRunId, limit, (k) => k[1] as RunId);
  }
  runIdsByState(queue: string, state: RunState, afterRunId?: RunId, limit = Number.MAX_SAFE_INTEGER): RunId[] {
    return keysAfter(this.#t.idxState, [queue, state], afterRunId, limit, (k) => k[2] as RunId);
  }
  readyEntries(queue: string, afterRunId: RunId | undefined, limit: number): ReadyEntry[] {
    const start = afterRunId === undefined ? [queue, "READY"] : [queue, "READY", afterRunId];
    return this.#t.idxState.entries({ start, end: [queue, "READY", "\uffff"], exclusiveStart: afterRunId !== undefined, limit }).map(({ key, value }) => {
      const v = value as ReadyValue;
      return { runId: key[2] as RunId, effectivePriority: v.p, createdAt: v.c, capabilities: v.caps, keySlots: v.ks, keyHold: v.kh };
    });
  }
  runIds(afterRunId?: RunId, limit = Number.MAX_SAFE_INTEGER): RunId[] {
    return this.#t.runs.keys({ start: afterRunId ?? "", exclusiveStart: afterRunId !== undefined, limit }) as RunId[];
  }
  taskIds(filter: { queue?: string; parent?: TaskId }, afterTaskId?: TaskId, limit = Number.MAX_SAFE_INTEGER): TaskId[] {
    if (filter.parent !== undefined) return keysAfter(this.#t.idxChildren, [filter.parent], afterTaskId, limit, (k) => k[1] as TaskId);
    if (filter.queue !== undefined) return keysAfter(this.#t.idxTaskQueue, [filter.queue], afterTaskId, limit, (k) => k[1] as TaskId);
    return this.#t.tasks.keys({ start: afterTaskId ?? "", exclusiveStart: afterTaskId !== undefined, limit }) as TaskId[];
  }
  childTaskIds(parent: TaskId): TaskId[] {
    return keysAfter(this.#t.idxChildren, [parent], undefined, Number.MAX_SAFE_INTEGER, (k) => k[1] as TaskId);
  }
  dependentTaskIds(prerequisite: TaskId): TaskId[] {
    return keysAfter(this.#t.idxDependents, [prerequisite], undefined, Number.MAX_SAFE_INTEGER, (k) => k[1] as TaskId);
  }
  cronTaskIds(): TaskId[] {
    return this.#t.idxCron.keys() as TaskId[];
  }
  dueEntries(until: number, limit: number): DueEntry[] {
    return this.#t.idxDue.keys({ start: [0], end: [until, "\uffff"], limit }).map(([at, kind, runId]) => ({ at, kind: kind as DueKind, runId: runId as RunId }));
  }
  hasDue(e: DueEntry): boolean {
    return this.#t.idxDue.get([e.at, e.kind, e.runId]) !== undefined;
  }
  nextDue(): DueEntry | undefined {
    const k = this.#t.idxDue.firstKey({ start: [0] });
    return k ? { at: k[0], kind: k[1] as DueKind, runId: k[2] as RunId } : undefined;
  }
  keyHolders(key: string): KeyHolderRecord[] {
    return this.#t.keyholders.values({ start: [key], end: [key, "\uffff"] });
  }
  occupiedKeys(afterKey?: string, limit = Number.MAX_SAFE_INTEGER): string[] {
    const out: string[] = [];
    let last = afterKey;
    while (out.length < limit) {
      const next = this.#t.keyholders.firstKey({ start: last === undefined ? [""] : [last, "\uffff"] });
      if (!next) break;
      last = next[0];
      out.push(last);
    }
    return out;
  }
  allKeyHolders(): Iterable<KeyHolderRecord> {
    return this.#t.keyholders.values();
  }
  events(from: number, limit: number): EventRecord[] {
    return this.#t.events.values({ start: from, limit });
  }
  counts(queue: string): Record<RunState, number> {
    const out = Object.fromEntries(RUN_STATES.map((s) => [s, 0])) as Record<RunState, number>;
    for (const { key, value } of this.#t.counts.entries({ start: [queue], end: [queue, "\uffff"] })) out[key[1] as RunState] = value;
    return out;
  }
  taskCount(): number {
    return this.#t.tasks.size;
  }
  finishedRuns(until: number, limit: number): RunId[] {
    return this.#t.idxFinished.keys({ start: [0], end: [until, "\uffff"], limit }).map((k) => k[1] as RunId);
  }
  expiredReservations(until: number, limit: number): TaskId[] {
    return this.#t.idxReserved.keys({ start: [0], end: [until, "\uffff"], limit }).map((k) => k[1] as TaskId);
  }
  /**
   * Estimated bytes of live data: the sum over every key space of `estimateBytes` of each
   * entry's key and value (records, index entries, counters). Not LMDB's page count: there
   * is no page overhead or free-page slack, so it reads lower than LMDB for the same data, but
   * it grows with what is stored and falls when retention purges it, as a quota needs.
   */
  usedBytes(): number {
    let n = 0;
    for (const t of Object.values(this.#t)) n += t.bytes;
    return n;
  }
}
