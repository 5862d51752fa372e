/**
 * The LMDB store: one environment in the data directory, one named database per key space
 * (see docs/storage.md for the layout). Reads are synchronous; writes go through `write`,
 * which runs a batch of engine commands in one transaction (each in a child transaction)
 * and resolves after the commit is flushed to disk (`overlappingSync` is off, so a commit
 * promise resolves only once the data is durable).
 */
import { mkdirSync, accessSync, constants as fsConstants } from "node:fs";
import { type Database, type Key, type RootDatabase, open } from "lmdb";
import type { RunId, TaskId } from "../../domain/ids.js";
import { RUN_STATES, type RunState, isTerminal } from "../../domain/state.js";
import { EngineError } from "../../engine/errors.js";
import type { DueEntry, MetaRecord, Store, StoreReader, StoreWriter } from "../../engine/ports.js";
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
} from "../../engine/records.js";
import { type DirectoryLock, lockDirectory } from "./lock.js";

/** Version of the on-disk layout. A directory written by another version is refused. */
export const SCHEMA_VERSION = 1;
const FORMAT = "actionqueue";


/** Options of the LMDB store. */
export interface LmdbStoreOptions {
  /** Directory of the environment; created when missing. */
  readonly path: string;
  /**
   * Skip the flush on commit ("relaxed" durability): commits survive a process crash but the
   * last moments can be lost on power failure or kernel panic. Never the default.
   */
  readonly relaxedDurability?: boolean;
}

/** Why opening failed, in one line. */
export class StoreOpenError extends Error {
  override readonly name = "StoreOpenError";
}

const MARK = 1;

/** Value of a READY entry in idx_state. */
interface ReadyValue {
  readonly p: number;
  readonly c: number;
  readonly caps: readonly string[];
  readonly ks: { readonly key: string; readonly slots: number } | null;
  readonly kh: ReadyEntry["keyHold"];
}

/** Translates a failed commit into a clear engine error (the call applied nothing). */
export async function storageError(e: unknown): Promise<EngineError> {
  // lmdb-js rejects a failed commit with "Commit failed" and the cause in a second promise.
  let cause: unknown = e;
  const inner = (e as { commitError?: Promise<unknown> } | null)?.commitError;
  if (inner && typeof inner.then === "function") {
    cause = await inner.then(
      () => e,
      (x: unknown) => x,
    );
  }
  const code = (cause as NodeJS.ErrnoException | null)?.code;
  const text = cause instanceof Error ? `${cause.message}${code !== undefined ? ` (code ${code})` : ""}` : String(cause);
  if (/MAP_FULL|ENOSPC|No space left|EFBIG|File too large|EDQUOT|quota/i.test(text)) {
    return new EngineError("STORAGE_FULL", `storage is full: ${text.trim()}`, { cause: e });
  }
  return new EngineError("STORAGE_IO", `storage write failed: ${text.trim()}`, { cause: e });
}

/** The named databases, one per key space (see docs/storage.md). */
function openDatabases(env: RootDatabase) {
  const db = <V, K extends Key>(name: string) => env.openDB<V, K>(name, {}) as unknown as Database<V, K>;
  return {
    meta: db<unknown, string>("meta"),
    tasks: db<TaskRecord, string>("tasks"),
    runs: db<RunRecord, string>("runs"),
    attempts: db<AttemptRecord, Key>("attempts"),
    leases: db<LeaseRecord, string>("leases"),
    keyholders: db<KeyHolderRecord, Key>("keyholders"),
    queues: db<QueueRecord, string>("queues"),
    events: db<EventRecord, number>("events"),
    counts: db<number, Key>("counts"),
    idxState: db<number | ReadyValue, Key>("idx_state"),
    idxTaskRuns: db<number, Key>("idx_task_runs"),
    idxDue: db<number, Key>("idx_due"),
    idxTaskQueue: db<number, Key>("idx_task_queue"),
    idxChildren: db<number, Key>("idx_children"),
    idxDependents: db<number, Key>("idx_dependents"),
    idxCron: db<number, string>("idx_cron"),
    idxFinished: db<number, Key>("idx_finished"),
  };
}

type Databases = ReturnType<typeof openDatabases>;

/** The LMDB implementation of the engine's Store port. */
export class LmdbStore implements Store {
  readonly #env: RootDatabase;
  readonly #lock: DirectoryLock;
  readonly #dbs: Databases & { readonly all: Database<unknown, Key>[] };
  readonly reader: StoreReader;
  #closed = false;

  private constructor(env: RootDatabase, lock: DirectoryLock) {
    this.#env = env;
    this.#lock = lock;
    const dbs = openDatabases(env);
    this.#dbs = { ...dbs, all: Object.values(dbs) as Database<unknown, Key>[] };
    this.reader = new Access(this);
  }

  /**
   * Opens (creating when empty) the store in `options.path`. Refuses, with a one-line
   * StoreOpenError, a directory that cannot be created or written, one held by another
   * process, and one written by an unknown schema version.
   */
  static async open(options: LmdbStoreOptions): Promise<LmdbStore> {
    const path = options.path;
    try {
      mkdirSync(path, { recursive: true });
      accessSync(path, fsConstants.W_OK | fsConstants.R_OK);
    } catch (e) {
      throw new StoreOpenError(`data directory ${path} is not writable: ${(e as Error).message}`);
    }
    let lock: DirectoryLock;
    try {
      lock = await lockDirectory(path);
    } catch (e) {
      throw new StoreOpenError((e as Error).message);
    }
    let env: RootDatabase;
    try {
      env = open({
        path,
        maxDbs: 24,
        // The reply waits for the flush: with overlappingSync a commit promise would resolve
        // before the data is durable.
        overlappingSync: false,
        noSync: options.relaxedDurability === true,
        // Child transactions (one per command in a batch) need no cache and no write map.
        cache: false,
        useWritemap: false,
        compression: false,
        // Every write goes through an explicit transaction; event-turn batching would add an
        // internal commit promise that nobody awaits and that rejects unhandled when a commit
        // fails (disk full), crashing the process.
        eventTurnBatching: false,
      });
    } catch (e) {
      await lock.release();
      throw new StoreOpenError(`cannot open LMDB in ${path}: ${(e as Error).message}`);
    }
    const store = new LmdbStore(env, lock);
    try {
      await store.#checkSchema(path);
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  async #checkSchema(path: string): Promise<void> {
    const format = this.#dbs.meta.get("format");
    const version = this.#dbs.meta.get("schemaVersion");
    if (format === undefined && version === undefined) {
      if (this.#dbs.tasks.getKeysCount({ limit: 1 }) > 0) {
        throw new StoreOpenError(`data directory ${path} holds data without an ActionQueue schema record`);
      }
      await this.#env.transaction(() => {
        this.#dbs.meta.putSync("format", FORMAT);
        this.#dbs.meta.putSync("schemaVersion", SCHEMA_VERSION);
        this.#dbs.meta.putSync("meta", { revision: 0, oldestRevision: 1, enginePaused: false } satisfies MetaRecord);
      });
      return;
    }
    if (format !== FORMAT) throw new StoreOpenError(`data directory ${path} does not hold ActionQueue data (format ${String(format)})`);
    if (version !== SCHEMA_VERSION) {
      throw new StoreOpenError(
        `data directory ${path} was written by schema version ${String(version)}; this build reads version ${SCHEMA_VERSION} only`,
      );
    }
  }

  async write<T>(items: readonly T[], body: (w: StoreWriter, item: T) => void): Promise<void> {
    if (this.#closed) throw new EngineError("SHUTTING_DOWN", "the store is closed");
    const writer = this.reader as Access;
    try {
      await this.#env.transaction(() => {
        for (const item of items) {
          try {
            // A child transaction per item: an item that throws is rolled back alone.
            this.#env.transactionSync(() => body(writer, item));
          } catch {
            // The engine recorded the failure for this item; its writes were aborted.
          }
        }
      });
    } catch (e) {
      throw await storageError(e);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#env.close();
    } finally {
      await this.#lock.release();
    }
  }

  /** @internal */ get env(): RootDatabase {
    return this.#env;
  }

  /** @internal The databases, for the store's own accessors and consistency tests. */
  get dbs(): Databases & { readonly all: Database<unknown, Key>[] } {
    return this.#dbs;
  }
}

function first<T>(it: Iterable<T>): T | undefined {
  for (const x of it) return x;
  return undefined;
}

function keysAfter<K>(db: Database<unknown, Key>, prefix: Array<string | number>, after: string | undefined, limit: number, pick: (k: readonly (string | number)[]) => K): K[] {
  const out: K[] = [];
  const start = after === undefined ? [...prefix] : [...prefix, after];
  for (const key of db.getKeys({ start, end: [...prefix, "\uffff"], exclusiveStart: after !== undefined, limit })) {
    out.push(pick(key as readonly (string | number)[]));
  }
  return out;
}

/** Reads and writes over the store's databases (writes only inside `write`). */
class Access implements StoreWriter {
  readonly #s: LmdbStore;
  constructor(store: LmdbStore) {
    this.#s = store;
  }
  get #d() {
    return this.#s.dbs;
  }

  meta(): MetaRecord {
    return (this.#d.meta.get("meta") as MetaRecord | undefined) ?? { revision: 0, oldestRevision: 1, enginePaused: false };
  }
  getTask(id: TaskId): TaskRecord | undefined {
    return this.#d.tasks.get(id);
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
    return Array.from(this.#d.attempts
      .getRange({ start: [runId, afterNumber], end: [runId, Number.MAX_SAFE_INTEGER], exclusiveStart: true, limit })
      .map(({ value }) => value));
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

  // Writes (inside LmdbStore.write only).

  atomic<T>(fn: () => T): T {
    // transactionSync inside a write is a child transaction: a throw aborts it and rethrows.
    return this.#s.env.transactionSync(fn) as T;
  }

  putMeta(meta: MetaRecord): void {
    this.#d.meta.putSync("meta", meta);
  }

  putTask(task: TaskRecord, prev: TaskRecord | undefined): void {
    const d = this.#d;
    d.tasks.putSync(task.id, task);
    if (!prev) {
      d.idxTaskQueue.putSync([task.spec.queue, task.id], MARK);
      if (task.spec.parentTaskId) d.idxChildren.putSync([task.spec.parentTaskId, task.id], MARK);
      for (const dep of task.spec.dependsOn) d.idxDependents.putSync([dep, task.id], MARK);
    }
    const cronActive = task.spec.policy.kind === "CRON" && task.status === "ACTIVE" && task.cron?.nextAt != null;
    const wasCron = prev ? prev.spec.policy.kind === "CRON" && prev.status === "ACTIVE" && prev.cron?.nextAt != null : false;
    if (cronActive && !wasCron) d.idxCron.putSync(task.id, MARK);
    if (!cronActive && wasCron) d.idxCron.removeSync(task.id);
  }

  deleteTask(task: TaskRecord): void {
    const d = this.#d;
    d.tasks.removeSync(task.id);
    d.idxTaskQueue.removeSync([task.spec.queue, task.id]);
    if (task.spec.parentTaskId) d.idxChildren.removeSync([task.spec.parentTaskId, task.id]);
    for (const dep of task.spec.dependsOn) d.idxDependents.removeSync([dep, task.id]);
    d.idxCron.removeSync(task.id);
  }

  #count(queue: string, state: RunState, delta: number): void {
    const key = [queue, state];
    const n = (this.#d.counts.get(key) ?? 0) + delta;
    if (n === 0) this.#d.counts.removeSync(key);
    else this.#d.counts.putSync(key, n);
  }

  putRun(run: RunRecord, prev: RunRecord | undefined): void {
    const d = this.#d;
    d.runs.putSync(run.id, run);
    if (!prev) {
      d.idxTaskRuns.putSync([run.taskId, run.id], MARK);
    }
    const stateChanged = !prev || prev.state !== run.state;
    if (stateChanged) {
      if (prev) {
        d.idxState.removeSync([prev.queue, prev.state, prev.id]);
        this.#count(prev.queue, prev.state, -1);
      }
      this.#count(run.queue, run.state, 1);
    }
    if (run.state === "READY") {
      // READY entries carry what the selection index needs, so start-up rebuilds it from
      // one range scan without reading runs or tasks.
      if (stateChanged || prev?.effectivePriority !== run.effectivePriority || prev?.keyHold !== run.keyHold) {
        const v: ReadyValue = { p: run.effectivePriority, c: run.createdAt, caps: run.capabilities, ks: run.keySlots, kh: run.keyHold };
        d.idxState.putSync([run.queue, run.state, run.id], v);
      }
    } else if (stateChanged) {
      d.idxState.putSync([run.queue, run.state, run.id], MARK);
    }
    const before = prev?.due ?? [];
    const same = before.length === run.due.length && before.every(([a, k], i) => run.due[i]?.[0] === a && run.due[i]?.[1] === k);
    if (!same) {
      for (const [at, kind] of before) d.idxDue.removeSync([at, kind, run.id]);
      for (const [at, kind] of run.due) d.idxDue.putSync([at, kind, run.id], MARK);
    }
    if (isTerminal(run.state) && run.finishedAt !== null && (!prev || !isTerminal(prev.state))) {
      d.idxFinished.putSync([run.finishedAt, run.id], MARK);
    }
  }

  deleteRun(run: RunRecord): void {
    const d = this.#d;
    d.runs.removeSync(run.id);
    d.idxTaskRuns.removeSync([run.taskId, run.id]);
    d.idxState.removeSync([run.queue, run.state, run.id]);
    this.#count(run.queue, run.state, -1);
    for (const [at, kind] of run.due) d.idxDue.removeSync([at, kind, run.id]);
    if (run.finishedAt !== null) d.idxFinished.removeSync([run.finishedAt, run.id]);
    for (const key of Array.from(d.attempts.getKeys({ start: [run.id, 0], end: [run.id, Number.MAX_SAFE_INTEGER] }))) {
      d.attempts.removeSync(key);
    }
    d.leases.removeSync(run.id);
  }

  putAttempt(attempt: AttemptRecord): void {
    this.#d.attempts.putSync([attempt.runId, attempt.number], attempt);
  }
  putLease(lease: LeaseRecord): void {
    this.#d.leases.putSync(lease.runId, lease);
  }
  deleteLease(runId: RunId): void {
    this.#d.leases.removeSync(runId);
  }
  putKeyHolder(holder: KeyHolderRecord): void {
    this.#d.keyholders.putSync([holder.key, holder.runId], holder);
  }
  deleteKeyHolder(key: string, runId: RunId): void {
    this.#d.keyholders.removeSync([key, runId]);
  }
  putQueue(queue: QueueRecord): void {
    this.#d.queues.putSync(queue.name, queue);
  }
  deleteDue(entry: DueEntry): void {
    this.#d.idxDue.removeSync([entry.at, entry.kind, entry.runId]);
  }
  appendEvent(event: EventRecord): void {
    this.#d.events.putSync(event.revision, event);
  }
  deleteEventsBefore(revision: number, limit: number): number {
    let n = 0;
    for (const key of Array.from(this.#d.events.getKeys({ start: 0, end: revision, limit }))) {
      this.#d.events.removeSync(key);
      n++;
    }
    return n;
  }
}
