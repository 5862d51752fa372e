/**
 * The key layout every store keeps (docs/storage.md) and the verbs applied to it, written
 * once for every key-value backend: each verb writes its records and keeps every index of
 * them in step. The LMDB store runs it over its named databases, the in-memory store over
 * its sorted tables; what differs between them is only how a key space reads and writes.
 */
import type { RunState } from "../domain/state.js";
import { isTerminal } from "../domain/state.js";
import type { MetaRecord, StoreVerb } from "../engine/ports.js";
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
  TaskStateRecord,
} from "../engine/records.js";
import type { TaskSpec } from "../domain/task-spec.js";

/** Value of a plain index entry. */
export const MARK = 1;

/** Value of a READY entry in idx_state: what the selection index needs. */
export interface ReadyValue {
  readonly p: number;
  readonly c: number;
  readonly caps: readonly string[];
  readonly ks: { readonly key: string; readonly slots: number } | null;
  readonly kh: ReadyEntry["keyHold"];
}

/** One key space as the verbs use it. */
export interface KeySpace<K, V> {
  get(key: K): V | undefined;
  put(key: K, value: V): void;
  remove(key: K): void;
  /** Removes every key from `start` (inclusive) to `end` (exclusive). */
  removeRange(start: K, end: K): void;
}

type T2 = readonly [string, string];

/** The key spaces, one per LMDB database. */
export interface KeySpaces {
  readonly meta: KeySpace<string, unknown>;
  /** A task's progress; its spec is in `taskSpecs`, written once. */
  readonly tasks: KeySpace<string, TaskStateRecord>;
  readonly taskSpecs: KeySpace<string, TaskSpec>;
  readonly runs: KeySpace<string, RunRecord>;
  readonly attempts: KeySpace<readonly [string, number], AttemptRecord>;
  readonly leases: KeySpace<string, LeaseRecord>;
  readonly keyholders: KeySpace<T2, KeyHolderRecord>;
  readonly queues: KeySpace<string, QueueRecord>;
  readonly events: KeySpace<number, EventRecord>;
  readonly counts: KeySpace<T2, number>;
  readonly reserved: KeySpace<string, ReservationRecord>;
  readonly idxState: KeySpace<readonly [string, string, string], number | ReadyValue>;
  readonly idxTaskRuns: KeySpace<T2, number>;
  readonly idxDue: KeySpace<readonly [number, string, string], number>;
  readonly idxTaskQueue: KeySpace<T2, number>;
  readonly idxChildren: KeySpace<T2, number>;
  readonly idxDependents: KeySpace<T2, number>;
  readonly idxCron: KeySpace<string, number>;
  readonly idxFinished: KeySpace<readonly [number, string], number>;
  readonly idxReserved: KeySpace<readonly [number, string], number>;
}

/**
 * The name of every key space (the LMDB database name; docs/storage.md). The one list of key
 * spaces: the LMDB store opens exactly these databases.
 */
export const KEY_SPACE_NAMES = {
  meta: "meta",
  tasks: "tasks",
  taskSpecs: "task_specs",
  runs: "runs",
  attempts: "attempts",
  leases: "leases",
  keyholders: "keyholders",
  queues: "queues",
  events: "events",
  counts: "counts",
  reserved: "reserved",
  idxState: "idx_state",
  idxTaskRuns: "idx_task_runs",
  idxDue: "idx_due",
  idxTaskQueue: "idx_task_queue",
  idxChildren: "idx_children",
  idxDependents: "idx_dependents",
  idxCron: "idx_cron",
  idxFinished: "idx_finished",
  idxReserved: "idx_reserved",
} as const satisfies Record<keyof KeySpaces, string>;

/** Value type of a key space. */
export type ValueOf<S> = S extends KeySpace<unknown, infer V> ? V : never;

/** Whether a task belongs in the cron index (start-up misfire handling). */
export function inCronIndex(t: TaskRecord): boolean {
  return t.spec.policy.kind === "CRON" && t.status === "ACTIVE";
}

/** The stored form of a record (a frozen copy in memory; the record itself where it is serialised). */
export type Keep = <T>(value: T) => T;

/**
 * Run-count changes of one commit, per queue and state: summed while the verbs apply and
 * written once per (queue, state) at the end, instead of a read and a write per transition.
 */
class CountDeltas {
  readonly #deltas = new Map<string, { queue: string; state: RunState; delta: number }>();

  add(queue: string, state: RunState, delta: number): void {
    const k = `${queue}\u0000${state}`;
    const e = this.#deltas.get(k);
    if (e) e.delta += delta;
    else this.#deltas.set(k, { queue, state, delta });
  }

  write(d: KeySpaces): void {
    for (const { queue, state, delta } of this.#deltas.values()) {
      if (delta === 0) continue;
      const key = [queue, state] as const;
      const n = (d.counts.get(key) ?? 0) + delta;
      if (n === 0) d.counts.remove(key);
      else d.counts.put(key, n);
    }
  }
}

/** A task's progress without its spec. */
export function taskState(task: TaskRecord): TaskStateRecord {
  const { spec: _spec, ...state } = task;
  return state;
}

/** A task from its two stored parts. */
export function joinTask(state: TaskStateRecord, spec: TaskSpec): TaskRecord {
  return { ...state, spec };
}

function putTask(d: KeySpaces, task: TaskRecord, prev: TaskRecord | undefined, keep: Keep): void {
  d.tasks.put(task.id, keep(taskState(task)));
  if (!prev) {
    d.taskSpecs.put(task.id, keep(task.spec));
    d.idxTaskQueue.put([task.spec.queue, task.id], MARK);
    if (task.spec.parentTaskId) d.idxChildren.put([task.spec.parentTaskId, task.id], MARK);
    for (const dep of task.spec.dependsOn) d.idxDependents.put([dep, task.id], MARK);
  }
  const cron = inCronIndex(task);
  const wasCron = prev ? inCronIndex(prev) : false;
  if (cron && !wasCron) d.idxCron.put(task.id, MARK);
  if (!cron && wasCron) d.idxCron.remove(task.id);
}

function putRun(d: KeySpaces, counts: CountDeltas, run: RunRecord, prev: RunRecord | undefined, keep: Keep): void {
  d.runs.put(run.id, run);
  if (!prev) d.idxTaskRuns.put([run.taskId, run.id], MARK);
  const stateChanged = !prev || prev.state !== run.state;
  if (stateChanged) {
    if (prev) {
      d.idxState.remove([prev.queue, prev.state, prev.id]);
      counts.add(prev.queue, prev.state, -1);
    }
    counts.add(run.queue, run.state, 1);
  }
  if (run.state === "READY") {
    // READY entries carry what the selection index needs, so start-up rebuilds it from one
    // range scan without reading runs or tasks.
    if (stateChanged || prev?.effectivePriority !== run.effectivePriority || prev?.keyHold !== run.keyHold) {
      const v: ReadyValue = { p: run.effectivePriority, c: run.createdAt, caps: run.capabilities, ks: run.keySlots, kh: run.keyHold };
      d.idxState.put([run.queue, run.state, run.id], keep(v));
    }
  } else if (stateChanged) {
    d.idxState.put([run.queue, run.state, run.id], MARK);
  }
  const before = prev?.due ?? [];
  const same = before.length === run.due.length && before.every(([a, k], i) => run.due[i]?.[0] === a && run.due[i]?.[1] === k);
  if (!same) {
    for (const [at, kind] of before) d.idxDue.remove([at, kind, run.id]);
    for (const [at, kind] of run.due) d.idxDue.put([at, kind, run.id], MARK);
  }
  if (isTerminal(run.state) && run.finishedAt !== null && (!prev || !isTerminal(prev.state))) {
    d.idxFinished.put([run.finishedAt, run.id], MARK);
  }
}

function purgeRun(d: KeySpaces, counts: CountDeltas, run: RunRecord): void {
  d.runs.remove(run.id);
  d.idxTaskRuns.remove([run.taskId, run.id]);
  d.idxState.remove([run.queue, run.state, run.id]);
  counts.add(run.queue, run.state, -1);
  for (const [at, kind] of run.due) d.idxDue.remove([at, kind, run.id]);
  if (run.finishedAt !== null) d.idxFinished.remove([run.finishedAt, run.id]);
  d.attempts.removeRange([run.id, 0], [run.id, Number.MAX_SAFE_INTEGER]);
  d.leases.remove(run.id);
}

function purgeTask(d: KeySpaces, task: TaskRecord, reservation: ReservationRecord, keep: Keep): void {
  d.tasks.remove(task.id);
  d.taskSpecs.remove(task.id);
  d.idxTaskQueue.remove([task.spec.queue, task.id]);
  if (task.spec.parentTaskId) d.idxChildren.remove([task.spec.parentTaskId, task.id]);
  for (const dep of task.spec.dependsOn) d.idxDependents.remove([dep, task.id]);
  d.idxCron.remove(task.id);
  const previous = d.reserved.get(task.id);
  if (previous) d.idxReserved.remove([previous.until, task.id]);
  d.reserved.put(task.id, keep(reservation));
  d.idxReserved.put([reservation.until, task.id], MARK);
}

/**
 * Applies the verbs of one commit in order; `keep` gives the stored form of each record
 * written. Run counts are summed over the verbs and written once at the end.
 */
export function applyVerbs(d: KeySpaces, verbs: readonly StoreVerb[], keep: Keep): void {
  const counts = new CountDeltas();
  for (const v of verbs) applyVerb(d, counts, v, keep);
  counts.write(d);
}

function applyVerb(d: KeySpaces, counts: CountDeltas, v: StoreVerb, keep: Keep): void {
  switch (v.verb) {
    case "createTask":
      putTask(d, v.task, undefined, keep);
      return;
    case "updateTask":
      putTask(d, v.task, v.prev, keep);
      return;
    case "createRun":
      putRun(d, counts, keep(v.run), undefined, keep);
      d.events.put(v.event.revision, keep(v.event));
      return;
    case "updateRun": {
      putRun(d, counts, keep(v.run), v.prev, keep);
      if (v.event) d.events.put(v.event.revision, keep(v.event));
      if (v.lease && "put" in v.lease) d.leases.put(v.run.id, keep(v.lease.put));
      if (v.lease && "remove" in v.lease) d.leases.remove(v.lease.remove);
      if (v.attempt) d.attempts.put([v.attempt.runId, v.attempt.number], keep(v.attempt));
      if (v.keyHolder && "put" in v.keyHolder) d.keyholders.put([v.keyHolder.put.key, v.keyHolder.put.runId], keep(v.keyHolder.put));
      if (v.keyHolder && "remove" in v.keyHolder) d.keyholders.remove([v.keyHolder.remove.key, v.keyHolder.remove.runId]);
      return;
    }
    case "dropTimer":
      d.idxDue.remove([v.entry.at, v.entry.kind, v.entry.runId]);
      return;
    case "saveQueue":
      d.queues.put(v.queue.name, keep(v.queue));
      return;
    case "saveMeta":
      d.meta.put("meta", keep<MetaRecord>(v.meta));
      return;
    case "purgeRun":
      purgeRun(d, counts, v.run);
      return;
    case "purgeTask":
      purgeTask(d, v.task, v.reservation, keep);
      return;
    case "purgeEvents":
      d.events.removeRange(0, v.before);
      return;
    case "releaseReservation": {
      const r = d.reserved.get(v.taskId);
      if (!r) return;
      d.reserved.remove(v.taskId);
      d.idxReserved.remove([r.until, v.taskId]);
      return;
    }
    default: {
      const never: never = v;
      throw new Error(`unknown store verb ${JSON.stringify(never)}`);
    }
  }
}
