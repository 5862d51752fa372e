/**
 * The store verbs on LMDB: each writes its records and keeps every index of them in step
 * (docs/storage.md). Runs inside the commit's write transaction only.
 */
import { isTerminal } from "../../domain/state.js";
import type { RunState } from "../../domain/state.js";
import type { StoreVerb } from "../../engine/ports.js";
import type { RunRecord, TaskRecord } from "../../engine/records.js";
import { type Databases, MARK, type ReadyValue, inCronIndex } from "./databases.js";

function count(d: Databases, queue: string, state: RunState, delta: number): void {
  const key = [queue, state];
  const n = (d.counts.get(key) ?? 0) + delta;
  if (n === 0) d.counts.removeSync(key);
  else d.counts.putSync(key, n);
}

function putTask(d: Databases, task: TaskRecord, prev: TaskRecord | undefined): void {
  d.tasks.putSync(task.id, task);
  if (!prev) {
    d.idxTaskQueue.putSync([task.spec.queue, task.id], MARK);
    if (task.spec.parentTaskId) d.idxChildren.putSync([task.spec.parentTaskId, task.id], MARK);
    for (const dep of task.spec.dependsOn) d.idxDependents.putSync([dep, task.id], MARK);
  }
  const cron = inCronIndex(task);
  const wasCron = prev ? inCronIndex(prev) : false;
  if (cron && !wasCron) d.idxCron.putSync(task.id, MARK);
  if (!cron && wasCron) d.idxCron.removeSync(task.id);
}

function putRun(d: Databases, run: RunRecord, prev: RunRecord | undefined): void {
  d.runs.putSync(run.id, run);
  if (!prev) d.idxTaskRuns.putSync([run.taskId, run.id], MARK);
  const stateChanged = !prev || prev.state !== run.state;
  if (stateChanged) {
    if (prev) {
      d.idxState.removeSync([prev.queue, prev.state, prev.id]);
      count(d, prev.queue, prev.state, -1);
    }
    count(d, run.queue, run.state, 1);
  }
  if (run.state === "READY") {
    // READY entries carry what the selection index needs, so start-up rebuilds it from one
    // range scan without reading runs or tasks.
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

function purgeRun(d: Databases, run: RunRecord): void {
  d.runs.removeSync(run.id);
  d.idxTaskRuns.removeSync([run.taskId, run.id]);
  d.idxState.removeSync([run.queue, run.state, run.id]);
  count(d, run.queue, run.state, -1);
  for (const [at, kind] of run.due) d.idxDue.removeSync([at, kind, run.id]);
  if (run.finishedAt !== null) d.idxFinished.removeSync([run.finishedAt, run.id]);
  for (const key of Array.from(d.attempts.getKeys({ start: [run.id, 0], end: [run.id, Number.MAX_SAFE_INTEGER] }))) d.attempts.removeSync(key);
  d.leases.removeSync(run.id);
}

function purgeTask(d: Databases, task: TaskRecord): void {
  d.tasks.removeSync(task.id);
  d.idxTaskQueue.removeSync([task.spec.queue, task.id]);
  if (task.spec.parentTaskId) d.idxChildren.removeSync([task.spec.parentTaskId, task.id]);
  for (const dep of task.spec.dependsOn) d.idxDependents.removeSync([dep, task.id]);
  d.idxCron.removeSync(task.id);
}

/** Applies one verb. */
export function applyVerb(d: Databases, v: StoreVerb): void {
  switch (v.verb) {
    case "createTask":
      putTask(d, v.task, undefined);
      return;
    case "updateTask":
      putTask(d, v.task, v.prev);
      return;
    case "createRun":
      putRun(d, v.run, undefined);
      d.events.putSync(v.event.revision, v.event);
      return;
    case "updateRun": {
      putRun(d, v.run, v.prev);
      if (v.event) d.events.putSync(v.event.revision, v.event);
      if (v.lease && "put" in v.lease) d.leases.putSync(v.run.id, v.lease.put);
      if (v.lease && "remove" in v.lease) d.leases.removeSync(v.lease.remove);
      if (v.attempt) d.attempts.putSync([v.attempt.runId, v.attempt.number], v.attempt);
      if (v.keyHolder && "put" in v.keyHolder) d.keyholders.putSync([v.keyHolder.put.key, v.keyHolder.put.runId], v.keyHolder.put);
      if (v.keyHolder && "remove" in v.keyHolder) d.keyholders.removeSync([v.keyHolder.remove.key, v.keyHolder.remove.runId]);
      return;
    }
    case "dropTimer":
      d.idxDue.removeSync([v.entry.at, v.entry.kind, v.entry.runId]);
      return;
    case "saveQueue":
      d.queues.putSync(v.queue.name, v.queue);
      return;
    case "saveMeta":
      d.meta.putSync("meta", v.meta);
      return;
    case "purgeRun":
      purgeRun(d, v.run);
      return;
    case "purgeTask": {
      purgeTask(d, v.task);
      const previous = d.reserved.get(v.task.id);
      if (previous) d.idxReserved.removeSync([previous.until, v.task.id]);
      d.reserved.putSync(v.task.id, v.reservation);
      d.idxReserved.putSync([v.reservation.until, v.task.id], MARK);
      return;
    }
    case "purgeEvents":
      for (const key of Array.from(d.events.getKeys({ start: 0, end: v.before }))) d.events.removeSync(key);
      return;
    case "releaseReservation": {
      const r = d.reserved.get(v.taskId);
      if (!r) return;
      d.reserved.removeSync(v.taskId);
      d.idxReserved.removeSync([r.until, v.taskId]);
      return;
    }
    default: {
      const never: never = v;
      throw new Error(`unknown store verb ${JSON.stringify(never)}`);
    }
  }
}
