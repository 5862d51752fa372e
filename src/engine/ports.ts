/**
 * What the engine needs from the outside world. Storage implements `Store` (LMDB in
 * src/storage/lmdb); time, ids and randomness are injected so tests control them.
 */
import type { RunId, TaskId } from "../domain/ids.js";
import type { RunState } from "../domain/state.js";
import type {
  AttemptRecord,
  DueKind,
  EventRecord,
  KeyHolderRecord,
  LeaseRecord,
  QueueRecord,
  ReadyEntry,
  RunRecord,
  TaskRecord,
} from "./records.js";

export type { Clock } from "../domain/time.js";
export type { IdSource } from "../domain/ids.js";

/** Uniform random numbers in [0, 1) (jitter). */
export interface Random {
  next(): number;
}

/** Engine-wide flags and counters kept in storage. */
export interface MetaRecord {
  readonly revision: number;
  /** Oldest revision still in the event log (1 when nothing was purged). */
  readonly oldestRevision: number;
  readonly enginePaused: boolean;
}

/** One entry of the timer index. */
export interface DueEntry {
  readonly at: number;
  readonly kind: DueKind;
  readonly runId: RunId;
}

/** A page of keys after an opaque position. */
export interface Page<T> {
  readonly items: T[];
  /** Position after the last item, or null when there is no more. */
  readonly next: string | null;
}

/** Synchronous reads. Inside a write they see the write's own changes. */
export interface StoreReader {
  meta(): MetaRecord;
  getTask(id: TaskId): TaskRecord | undefined;
  getRun(id: RunId): RunRecord | undefined;
  getLease(runId: RunId): LeaseRecord | undefined;
  getAttempt(runId: RunId, number: number): AttemptRecord | undefined;
  getQueue(name: string): QueueRecord | undefined;
  /** Every queue with settings or runs, by name. */
  queueNames(): string[];
  /** Attempts of a run by number, starting after `afterNumber`. */
  attempts(runId: RunId, afterNumber: number, limit: number): AttemptRecord[];
  /** Run ids of a task, in id order, after `afterRunId`. */
  runIdsOfTask(taskId: TaskId, afterRunId?: RunId, limit?: number): RunId[];
  /** Run ids of a queue in a state, in id order, after `afterRunId`. */
  runIdsByState(queue: string, state: RunState, afterRunId?: RunId, limit?: number): RunId[];
  /** READY runs of a queue with what selection needs, in id order after `afterRunId`. */
  readyEntries(queue: string, afterRunId: RunId | undefined, limit: number): ReadyEntry[];
  /** All run ids in id order after `afterRunId`. */
  runIds(afterRunId?: RunId, limit?: number): RunId[];
  /** Task ids in id order after `afterTaskId`, optionally only of one queue or one parent. */
  taskIds(filter: { queue?: string; parent?: TaskId }, afterTaskId?: TaskId, limit?: number): TaskId[];
  childTaskIds(parent: TaskId): TaskId[];
  dependentTaskIds(prerequisite: TaskId): TaskId[];
  /** Active cron tasks (start-up misfire handling). */
  cronTaskIds(): TaskId[];
  /** Timer entries due at or before `until`, earliest first. */
  dueEntries(until: number, limit: number): DueEntry[];
  /** The earliest timer entry, if any. */
  nextDue(): DueEntry | undefined;
  /** Occupants of a key, by run id. */
  keyHolders(key: string): KeyHolderRecord[];
  /** Every occupied key in order after `afterKey`. */
  occupiedKeys(afterKey?: string, limit?: number): string[];
  /** Every key occupant (start-up rebuild). */
  allKeyHolders(): Iterable<KeyHolderRecord>;
  /** Events with revision >= `from`, in revision order. */
  events(from: number, limit: number): EventRecord[];
  /** Run counts per state of one queue. */
  counts(queue: string): Record<RunState, number>;
  taskCount(): number;
  /** Terminal runs that finished at or before `until`, oldest first. */
  finishedRuns(until: number, limit: number): RunId[];
  /** Bytes of live data (pages in use × page size). */
  usedBytes(): number;
}

/** Writes, only inside `Store.write`. Every put keeps the indexes of the record in step. */
export interface StoreWriter extends StoreReader {
  /** Runs `fn` in a nested transaction: if it throws, its writes are undone and the error rethrown. */
  atomic<T>(fn: () => T): T;
  putMeta(meta: MetaRecord): void;
  /** Stores a task; `prev` is the stored version (undefined when new). */
  putTask(task: TaskRecord, prev: TaskRecord | undefined): void;
  deleteTask(task: TaskRecord): void;
  /** Stores a run; `prev` is the stored version (undefined when new). */
  putRun(run: RunRecord, prev: RunRecord | undefined): void;
  deleteRun(run: RunRecord): void;
  putAttempt(attempt: AttemptRecord): void;
  putLease(lease: LeaseRecord): void;
  deleteLease(runId: RunId): void;
  putKeyHolder(holder: KeyHolderRecord): void;
  deleteKeyHolder(key: string, runId: RunId): void;
  putQueue(queue: QueueRecord): void;
  appendEvent(event: EventRecord): void;
  /** Removes one timer entry (a stale or failing one, so it cannot fire forever). */
  deleteDue(entry: DueEntry): void;
  deleteEventsBefore(revision: number, limit: number): number;
}

/**
 * The durable store. `write` runs `body` for each item of a batch inside one transaction:
 * each item in its own child transaction, so an item that throws leaves no trace while the
 * others commit. The returned promise settles after the commit is flushed to disk (or
 * rejects when the commit failed: then nothing of the batch was stored).
 */
export interface Store {
  readonly reader: StoreReader;
  write<T>(items: readonly T[], body: (w: StoreWriter, item: T) => void): Promise<void>;
  close(): Promise<void>;
}
