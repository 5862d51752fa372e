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
  ReadyEntry,
  ReservationRecord,
  RunRecord,
  TaskRecord,
} from "../../engine/records.js";

/** Value of a plain index entry. */
export const MARK = 1;

/** Value of a READY entry in idx_state. */
export interface ReadyValue {
  readonly p: number;
  readonly c: number;
  readonly caps: readonly string[];
  readonly ks: { readonly key: string; readonly slots: number } | null;
  readonly kh: ReadyEntry["keyHold"];
}

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

/** Whether a task belongs in the cron index (start-up misfire handling). */
export function inCronIndex(t: TaskRecord): boolean {
  return t.spec.policy.kind === "CRON" && t.status === "ACTIVE";
}
