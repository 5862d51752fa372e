/**
 * Reads of committed state over the LMDB databases (the engine's StoreReader).
 */
import type { Database, Key } from "lmdb";
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
} from "../../engine/records.js";
import type { TaskSpec } from "../../domain/task-spec.js";
import { type ReadyValue, joinTask } from "../layout.js";
import { SpecCache } from "./spec-cache.js";
import type { Databases } from "./databases.js";

function first<T>(it: Iterable<T>): T | undefined {
  for (const x of it) return x;
  return undefined;
}

/** Second elements of index keys under `prefix`, after `after`. */
export function keysAfter<K>(db: Database<unknown, Key>, prefix: Array<string | number>, after: string | undefined, limit: number, pick: (k: readonly (string | number)[]) => K): K[] {
  const out: K[] = [];
  const start = after === undefined ? [...prefix] : [...prefix, after];
  for (const key of db.getKeys({ start, end: [...prefix, "\uffff"], exclusiveStart: after !== undefined, limit })) {
    out.push(pick(key as readonly (string | number)[]));
  }
  return out;
}

/**
 * The spec with its payload as a plain Uint8Array: msgpackr decodes binary as a Buffer in
 * one decoder state and as a Uint8Array in another; readers always get the same type.
 */
function plainBytes(spec: TaskSpec | undefined): TaskSpec | undefined {
  const data = spec?.payload.data;
  if (!spec || !data || data.constructor === Uint8Array) return spec;
  return { ...spec, payload: { ...spec.payload, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) } };
}

/** The LMDB StoreReader. */
export class LmdbReader implements StoreReader {
  readonly #d: Databases;
  /** Decoded specs of recently read tasks: immutable once stored, so always current. */
  readonly #specs = new SpecCache();
  constructor(dbs: Databases) {
    this.#d = dbs;
  }

  meta(): MetaRecord {
    return (this.#d.meta.get("meta") as MetaRecord | undefined) ?? { revision: 0, oldestRevision: 1, enginePaused: false };
  }
  getTask(id: TaskId): TaskRecord | undefined {
    const state = this.#d.tasks.get(id);
    if (!state) return undefined;
    const spec = this.#specs.get(id, () => plainBytes(this.#d.taskSpecs.get(id)));
    return spec ? joinTask(state, spec) : undefined;
  }

  /** A purged task's spec leaves the cache (its id may later name another task). */
  forgetTask(id: TaskId): void {
    this.#specs.forget(id);
  }
  getRun(id: RunId): RunRecord | undefined {
    return this.#d.runs.get(id);
  }
  getLease(runId: RunId): LeaseRecord | undefined {
    return this.#d.leases.get(runId);
  }
  getAttempt(runId: RunId, number: number): AttemptRecord | undefined {
    return this.#d.attempts.get([runId, number]);
  }
  getQueue(name: string): QueueRecord | undefined {
    return this.#d.queues.get(name);
  }
  getReservation(id: TaskId): ReservationRecord | undefined {
    return this.#d.reserved.get(id);
  }
  queueNames(): string[] {
    const names = new Set<string>();
    for (const k of this.#d.queues.getKeys()) names.add(k as string);
    let last: string | undefined;
    // Queues with runs: walk the counts index one queue at a time.
    for (;;) {
      const start = last === undefined ? [""] : [last, "\uffff"];
      const next = first(this.#d.counts.getKeys({ start, limit: 1 })) as readonly (string | number)[] | undefined;
      if (!next) break;
      last = next[0] as string;
      names.add(last);
    }
    return [...names].sort();
  }
  attempts(runId: RunId, afterNumber: number, limit: number): AttemptRecord[] {
    return Array.from(
      this.#d.attempts.getRange({ start: [runId, afterNumber], end: [runId, Number.MAX_SAFE_INTEGER], exclusiveStart: true, limit }).map(({ value }) => value),
    );
  }
  runIdsOfTask(taskId: TaskId, afterRunId?: RunId, limit = Number.MAX_SAFE_INTEGER): RunId[] {
    return keysAfter(this.#d.idxTaskRuns, [taskId], afterRunId, limit, (k) => k[1] as RunId);
  }
  runIdsByState(queue: string, state: RunState, afterRunId?: RunId, limit = Number.MAX_SAFE_INTEGER): RunId[] {
    return keysAfter(this.#d.idxState, [queue, state], afterRunId, limit, (k) => k[2] as RunId);
  }
  readyEntries(queue: string, afterRunId: RunId | undefined, limit: number): ReadyEntry[] {
    const start = afterRunId === undefined ? [queue, "READY"] : [queue, "READY", afterRunId];
    return Array.from(
      this.#d.idxState.getRange({ start, end: [queue, "READY", "\uffff"], exclusiveStart: afterRunId !== undefined, limit, snapshot: false }),
      ({ key, value }) => {
        const v = value as ReadyValue;
        return { runId: (key as [string, string, RunId])[2], effectivePriority: v.p, createdAt: v.c, capabilities: v.caps, keySlots: v.ks, keyHold: v.kh };
      },
    );
  }
  runIds(afterRunId?: RunId, limit = Number.MAX_SAFE_INTEGER): RunId[] {
    return Array.from(this.#d.runs.getKeys({ start: afterRunId ?? "", exclusiveStart: afterRunId !== undefined, limit })) as RunId[];
  }
  taskIds(filter: { queue?: string; parent?: TaskId }, afterTaskId?: TaskId, limit = Number.MAX_SAFE_INTEGER): TaskId[] {
    if (filter.parent !== undefined) return keysAfter(this.#d.idxChildren, [filter.parent], afterTaskId, limit, (k) => k[1] as TaskId);
    if (filter.queue !== undefined) return keysAfter(this.#d.idxTaskQueue, [filter.queue], afterTaskId, limit, (k) => k[1] as TaskId);
    return Array.from(this.#d.tasks.getKeys({ start: afterTaskId ?? "", exclusiveStart: afterTaskId !== undefined, limit })) as TaskId[];
  }
  childTaskIds(parent: TaskId): TaskId[] {
    return keysAfter(this.#d.idxChildren, [parent], undefined, Number.MAX_SAFE_INTEGER, (k) => k[1] as TaskId);
  }
  dependentTaskIds(prerequisite: TaskId): TaskId[] {
    return keysAfter(this.#d.idxDependents, [prerequisite], undefined, Number.MAX_SAFE_INTEGER, (k) => k[1] as TaskId);
  }
  cronTaskIds(): TaskId[] {
    return Array.from(this.#d.idxCron.getKeys()) as TaskId[];
  }
  dueEntries(until: number, limit: number): DueEntry[] {
    return Array.from(this.#d.idxDue.getKeys({ start: [0], end: [until, "\uffff"], limit }), (k) => {
      const [at, kind, runId] = k as [number, DueKind, RunId];
      return { at, kind, runId };
    });
  }
  hasDue(e: DueEntry): boolean {
    return this.#d.idxDue.doesExist([e.at, e.kind, e.runId]);
  }
  nextDue(): DueEntry | undefined {
    const k = first(this.#d.idxDue.getKeys({ start: [0], limit: 1 })) as [number, DueKind, RunId] | undefined;
    return k ? { at: k[0], kind: k[1], runId: k[2] } : undefined;
  }
  keyHolders(key: string): KeyHolderRecord[] {
    return Array.from(this.#d.keyholders.getRange({ start: [key], end: [key, "\uffff"] }).map(({ value }) => value));
  }
  occupiedKeys(afterKey?: string, limit = Number.MAX_SAFE_INTEGER): string[] {
    const out: string[] = [];
    let last = afterKey;
    while (out.length < limit) {
      const start = last === undefined ? [""] : [last, "\uffff"];
      const next = first(this.#d.keyholders.getKeys({ start, limit: 1 })) as readonly (string | number)[] | undefined;
      if (!next) break;
      last = next[0] as string;
      out.push(last);
    }
    return out;
  }
  *allKeyHolders(): Iterable<KeyHolderRecord> {
    for (const { value } of this.#d.keyholders.getRange({ snapshot: false })) yield value;
  }
  events(from: number, limit: number): EventRecord[] {
    return Array.from(this.#d.events.getRange({ start: from, limit }).map(({ value }) => value));
  }
  counts(queue: string): Record<RunState, number> {
    const out = Object.fromEntries(RUN_STATES.map((s) => [s, 0])) as Record<RunState, number>;
    for (const { key, value } of this.#d.counts.getRange({ start: [queue], end: [queue, "\uffff"] })) {
      out[(key as [string, RunState])[1]] = value;
    }
    return out;
  }
  taskCount(): number {
    return this.#d.tasks.getKeysCount();
  }
  finishedRuns(until: number, limit: number): RunId[] {
    return Array.from(this.#d.idxFinished.getKeys({ start: [0], end: [until, "\uffff"], limit }).map((k) => (k as [number, RunId])[1]));
  }
  expiredReservations(until: number, limit: number): TaskId[] {
    return Array.from(this.#d.idxReserved.getKeys({ start: [0], end: [until, "\uffff"], limit }).map((k) => (k as [number, TaskId])[1]));
  }
  usedBytes(): number {
    let pages = 0;
    let pageSize = 4096;
    for (const db of this.#d.all) {
      const s = db.getStats() as { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
      pageSize = s.pageSize;
      pages += s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
    }
    return pages * pageSize;
  }
}
