/**
 * Whole-store consistency check used after crashes, restarts and random command sequences.
 * Reads every record and index of an LMDB store and returns what disagrees (empty = sound):
 * a partial commit would leave an index, a counter, a key holder or the event log out of
 * step with the records.
 */
import type { RunId, TaskId } from "../../src/domain/ids.js";
import { runInvariantViolations } from "../../src/domain/run.js";
import { RUN_STATES, isTerminal } from "../../src/domain/state.js";
import type { EventRecord, KeyHolderRecord, RunRecord, TaskRecord } from "../../src/engine/records.js";
import type { TaskSpec } from "../../src/domain/task-spec.js";
import { joinTask } from "../../src/storage/layout.js";
import type { LmdbStore } from "../../src/storage/lmdb/store.js";

type Tuple = Array<string | number>;

/** Everything stored, in a comparable shape. */
export interface StoreSnapshot {
  revision: number;
  tasks: TaskRecord[];
  runs: RunRecord[];
  attempts: unknown[];
  leases: unknown[];
  keyHolders: KeyHolderRecord[];
  events: EventRecord[];
  counts: Array<[Tuple, number]>;
}

/** Reads the whole store. */
export function snapshot(store: LmdbStore): StoreSnapshot {
  const d = store.dbs;
  const all = <V>(db: { getRange(o?: object): Iterable<{ key: unknown; value: V }> }) => Array.from(db.getRange({}), (e) => e.value);
  return {
    revision: store.reader.meta().revision,
    tasks: all(d.tasks).map((t) => joinTask(t, d.taskSpecs.get(t.id) as TaskSpec)),
    runs: all(d.runs),
    attempts: all(d.attempts),
    leases: all(d.leases),
    keyHolders: all(d.keyholders),
    events: all(d.events),
    counts: Array.from(d.counts.getRange({}), (e) => [e.key as Tuple, e.value] as [Tuple, number]),
  };
}

/** Every inconsistency found in `store`. */
export function checkStore(store: LmdbStore): string[] {
  const problems: string[] = [];
  const bad = (m: string) => {
    if (problems.length < 50) problems.push(m);
  };
  const d = store.dbs;
  const r = store.reader;
  const s = snapshot(store);
  const tasks = new Map<TaskId, TaskRecord>(s.tasks.map((t) => [t.id, t]));
  const runs = new Map<RunId, RunRecord>(s.runs.map((x) => [x.id, x]));

  // Every task's progress has its spec, and no spec is left without its task.
  for (const id of d.taskSpecs.getKeys({})) if (!tasks.has(id as TaskId)) bad(`spec of task ${String(id)} without the task`);
  for (const t of s.tasks) if (!t.spec) bad(`task ${t.id} without its spec`);

  // Event log: contiguous from the oldest retained revision to meta.revision.
  const meta = r.meta();
  if (s.events.length > 0) {
    const last = s.events.at(-1) as EventRecord;
    if (last.revision !== meta.revision) bad(`meta.revision ${meta.revision} but last event ${last.revision}`);
    s.events.forEach((e, i) => {
      if (e.revision !== meta.oldestRevision + i) bad(`event log gap at ${e.revision}`);
    });
  } else if (meta.revision !== meta.oldestRevision - 1 && meta.revision !== 0) {
    bad(`no events but revision ${meta.revision}, oldest ${meta.oldestRevision}`);
  }

  const counts = new Map<string, number>();
  const openByTask = new Map<TaskId, number>();
  const failedByTask = new Map<TaskId, number>();
  for (const run of s.runs) {
    for (const p of runInvariantViolations(run)) bad(`run ${run.id}: ${p}`);
    const task = tasks.get(run.taskId);
    if (!task) bad(`run ${run.id} of missing task ${run.taskId}`);
    else if (run.countedAttempts > task.spec.constraints.maxAttempts) bad(`run ${run.id} counted ${run.countedAttempts} > max`);
    const ck = `${run.queue}\u0000${run.state}`;
    counts.set(ck, (counts.get(ck) ?? 0) + 1);
    if (!isTerminal(run.state)) openByTask.set(run.taskId, (openByTask.get(run.taskId) ?? 0) + 1);
    if (run.state === "FAILED") failedByTask.set(run.taskId, (failedByTask.get(run.taskId) ?? 0) + 1);
    if (d.idxState.get([run.queue, run.state, run.id]) === undefined) bad(`run ${run.id} missing from idx_state`);
    if (d.idxTaskRuns.get([run.taskId, run.id]) === undefined) bad(`run ${run.id} missing from idx_task_runs`);
    for (const [at, kind] of run.due) if (d.idxDue.get([at, kind, run.id]) === undefined) bad(`run ${run.id} due ${kind}@${at} missing`);
    const lease = r.getLease(run.id);
    if ((run.state === "LEASED" || run.state === "RUNNING") !== (lease !== undefined)) bad(`run ${run.id} ${run.state} lease ${lease ? "present" : "absent"}`);
    if (run.state === "RUNNING") {
      const a = r.getAttempt(run.id, run.attemptCount);
      if (!a || a.outcome !== null || a.id !== run.currentAttemptId) bad(`run ${run.id} RUNNING without its open attempt record`);
    }
    for (let n = 1; n <= run.attemptCount; n++) if (!r.getAttempt(run.id, n)) bad(`run ${run.id} attempt ${n} missing`);
    if (isTerminal(run.state) && run.keyHold !== null) bad(`terminal run ${run.id} holds a key`);
    const ev = d.events.get(run.revision);
    if (run.revision >= meta.oldestRevision && (!ev || ev.runId !== run.id || ev.to !== run.state)) {
      bad(`run ${run.id} revision ${run.revision} does not match its event`);
    }
  }
  for (const { key, value } of d.counts.getRange({})) {
    const [q, st] = key as [string, string];
    if ((counts.get(`${q}\u0000${st}`) ?? 0) !== value) bad(`count ${q}/${st} is ${value}`);
    counts.delete(`${q}\u0000${st}`);
  }
  for (const [k, n] of counts) bad(`count ${k} missing (${n} runs)`);
  for (const key of d.idxState.getKeys({})) {
    const [, st, id] = key as [string, string, RunId];
    if (runs.get(id)?.state !== st) bad(`idx_state entry ${String(key)} stale`);
  }
  for (const key of d.idxDue.getKeys({})) {
    const [at, kind, id] = key as [number, string, RunId];
    if (!runs.get(id)?.due.some(([a, k]) => a === at && k === kind)) bad(`idx_due entry ${String(key)} stale`);
  }

  // Key holders: only live runs that say they hold, never above any holder's slot limit.
  const perKey = new Map<string, KeyHolderRecord[]>();
  for (const h of s.keyHolders) {
    const run = runs.get(h.runId);
    if (!run || isTerminal(run.state)) bad(`key ${h.key} held by ${run ? "terminal" : "missing"} run ${h.runId}`);
    else if (run.keyHold !== h.hold) bad(`run ${h.runId} keyHold ${run.keyHold} but holder says ${h.hold}`);
    perKey.set(h.key, [...(perKey.get(h.key) ?? []), h]);
  }
  for (const [key, hs] of perKey) {
    const max = Math.max(...hs.map((h) => h.slots));
    if (hs.length > max) bad(`key ${key} has ${hs.length} occupants for ${max} slots`);
  }
  for (const run of s.runs) {
    if (run.keyHold !== null) {
      const spec = tasks.get(run.taskId)?.spec.constraints.concurrency;
      if (!spec || !s.keyHolders.some((h) => h.runId === run.id && h.key === spec.key)) bad(`run ${run.id} keyHold without holder record`);
    }
  }

  // Task counters.
  for (const t of s.tasks) {
    if (t.openRuns !== (openByTask.get(t.id) ?? 0)) bad(`task ${t.id} openRuns ${t.openRuns} != ${openByTask.get(t.id) ?? 0}`);
    if (t.failedRuns !== (failedByTask.get(t.id) ?? 0)) bad(`task ${t.id} failedRuns ${t.failedRuns}`);
    if (t.status === "ACTIVE" && t.openRuns === 0 && t.openChildren === 0 && (t.cron === null || t.cron.nextAt === null)) {
      bad(`task ${t.id} ACTIVE with nothing left`);
    }
  }
  void RUN_STATES;
  return problems;
}
