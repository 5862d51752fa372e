/**
 * The LMDB key layout (docs/storage.md): one named database per key space. Index keys are
 * ordered tuples, so range scans give natural secondary indexes; index values are a mark,
 * except READY entries of idx_state, which carry what the selection index needs.
 */
import type { Database, Key, RootDatabase } from "lmdb";
import type {
  AttemptRecord,
  EventRecord,
  KeyHolderRecord,
  LeaseRecord,
  QueueRecord,
  ReservationRecord,
  RunRecord,
  TaskRecord,
} from "../../engine/records.js";
import type { KeySpace, KeySpaces, ReadyValue } from "../layout.js";


/** Opens the named databases, one per key space. */
export function openDatabases(env: RootDatabase) {
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
    reserved: db<ReservationRecord, string>("reserved"),
    idxState: db<number | ReadyValue, Key>("idx_state"),
    idxTaskRuns: db<number, Key>("idx_task_runs"),
    idxDue: db<number, Key>("idx_due"),
    idxTaskQueue: db<number, Key>("idx_task_queue"),
    idxChildren: db<number, Key>("idx_children"),
    idxDependents: db<number, Key>("idx_dependents"),
    idxCron: db<number, string>("idx_cron"),
    idxFinished: db<number, Key>("idx_finished"),
    idxReserved: db<number, Key>("idx_reserved"),
  };
}

/** The opened databases, plus all of them as a list (storage size, consistency checks). */
export type Databases = ReturnType<typeof openDatabases> & { readonly all: Database<unknown, Key>[] };

function keySpace<K extends Key, V>(db: Database<V, K>): KeySpace<K, V> {
  return {
    get: (key) => db.get(key),
    put: (key, value) => {
      db.putSync(key, value);
    },
    remove: (key) => {
      db.removeSync(key);
    },
    removeRange: (start, end) => {
      for (const key of Array.from(db.getKeys({ start, end }))) db.removeSync(key);
    },
  };
}

/** The databases as the shared verbs see them (src/storage/layout.ts). */
export function keySpaces(d: Databases): KeySpaces {
  const spaces = Object.fromEntries(Object.entries(d).filter(([name]) => name !== "all").map(([name, db]) => [name, keySpace(db as Database<unknown, Key>)]));
  return spaces as unknown as KeySpaces;
}
