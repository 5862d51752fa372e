/**
 * What a run change means for tasks, worked off as an explicit list instead of mutual
 * recursion: a run leaving SCHEDULED shrinks its cron window; a run finishing may settle its
 * task; a settled task tells its parent (which may settle in turn) and its dependents
 * (released when it COMPLETED, canceled otherwise); a canceled task cancels its runs, its
 * children and its dependents. Each step may add steps; the loop runs until none is left.
 *
 * Run changes come from runs/transition.ts, which never imports this file.
 */
import type { RunAction } from "../../domain/lifecycle.js";
import type { TaskId } from "../../domain/ids.js";
import { isTerminal } from "../../domain/state.js";
import { isTaskTerminal, settleTaskStatus } from "../../domain/task.js";
import type { Unit } from "../commit/unit.js";
import { type Core, changeTask, mustTask } from "../core.js";
import type { RunRecord, TaskRecord } from "../records.js";
import { type Effect, type Moved, type TransitionExtra, touchRun, transition } from "../runs/transition.js";
import { refillCron } from "./cron.js";

type Step =
  | Effect
  | { readonly kind: "SETTLE"; readonly taskId: TaskId }
  | { readonly kind: "TERMINAL"; readonly task: TaskRecord }
  | { readonly kind: "CANCEL_TASK"; readonly taskId: TaskId; readonly reason: string };

/** Counts of what a cancellation moved. */
export interface Canceled {
  runs: number;
  tasks: number;
}

/**
 * Applies `action` to `run` and works off everything it implies for tasks. The entry point
 * for every command that moves a run.
 */
export function move(core: Core, u: Unit, run: RunRecord, action: RunAction, extra: TransitionExtra = {}): RunRecord {
  const moved = transition(core, u, run, action, extra);
  drain(core, u, moved.effects);
  return moved.run;
}

/** Cancels a task with its runs, children and dependents. Terminal tasks are left alone. */
export function cancelTaskTree(core: Core, u: Unit, taskId: TaskId, reason: string): Canceled {
  const counts: Canceled = { runs: 0, tasks: 0 };
  drain(core, u, [{ kind: "CANCEL_TASK", taskId, reason }], counts);
  return counts;
}

/** Settles a task (for one that may be done the moment it is created). */
export function settleTask(core: Core, u: Unit, taskId: TaskId): void {
  drain(core, u, [{ kind: "SETTLE", taskId }]);
}

function drain(core: Core, u: Unit, initial: readonly Step[], counts: Canceled = { runs: 0, tasks: 0 }): void {
  const work: Step[] = [...initial].reverse();
  const push = (steps: readonly Step[]) => {
    for (let i = steps.length - 1; i >= 0; i--) work.push(steps[i] as Step);
  };
  for (let step = work.pop(); step !== undefined; step = work.pop()) {
    switch (step.kind) {
      case "LEFT_SCHEDULED": {
        const t = changeTask(u, step.taskId, (x) => ({ ...x, pendingRuns: x.pendingRuns - 1 }));
        // A cron window shrinks whenever a SCHEDULED run leaves it (promoted or canceled): top it up.
        if (t.cron) refillCron(core, u, t.id);
        break;
      }
      case "FINISHED": {
        changeTask(u, step.taskId, (x) => ({ ...x, openRuns: x.openRuns - 1, failedRuns: x.failedRuns + (step.state === "FAILED" ? 1 : 0) }));
        push([{ kind: "SETTLE", taskId: step.taskId }]);
        break;
      }
      case "SETTLE":
        push(settle(u, step.taskId));
        break;
      case "TERMINAL":
        push(terminal(core, u, step.task));
        break;
      case "CANCEL_TASK":
        push(cancelOne(core, u, step.taskId, step.reason, counts));
        break;
    }
  }
}

function cronExhausted(t: TaskRecord): boolean {
  const p = t.spec.policy;
  return p.kind === "CRON" && p.maxOccurrences > 0 && (t.cron?.derived ?? 0) >= p.maxOccurrences;
}

/** Moves an ACTIVE task to its terminal status when its runs and children are done. */
function settle(u: Unit, taskId: TaskId): Step[] {
  const task = u.task(taskId);
  if (!task || task.status !== "ACTIVE") return [];
  const status = settleTaskStatus({
    canceled: false,
    moreRuns: task.cron !== null && task.cron.nextAt !== null && !cronExhausted(task),
    openRuns: task.openRuns,
    failedRuns: task.failedRuns,
    openChildren: task.openChildren,
    failedChildren: task.failedChildren,
  });
  if (status === "ACTIVE") return [];
  const done: TaskRecord = { ...task, status, statusChangedAt: u.now, statusReason: status === "FAILED" ? "RUN_FAILED" : "" };
  u.updateTask(done, task);
  u.log({ task_id: done.id, status }, "task finished", "debug");
  return [{ kind: "TERMINAL", task: done }];
}

/** A task just settled: tell its parent and its dependents. */
function terminal(core: Core, u: Unit, task: TaskRecord): Step[] {
  const next: Step[] = [];
  if (task.spec.parentTaskId) {
    const parent = u.task(task.spec.parentTaskId);
    if (parent) {
      u.updateTask({ ...parent, openChildren: parent.openChildren - 1, failedChildren: parent.failedChildren + (task.status === "FAILED" ? 1 : 0) }, parent);
      next.push({ kind: "SETTLE", taskId: parent.id });
    }
  }
  for (const depId of u.dependentTaskIds(task.id)) {
    const dep = u.task(depId);
    if (!dep || isTaskTerminal(dep.status)) continue;
    if (task.status === "COMPLETED") {
      const d2 = { ...dep, pendingDeps: dep.pendingDeps - 1 };
      u.updateTask(d2, dep);
      if (d2.pendingDeps === 0) releaseDependents(core, u, d2);
    } else {
      next.push({ kind: "CANCEL_TASK", taskId: dep.id, reason: "DEPENDENCY_FAILED" });
    }
  }
  return next;
}

/** Prerequisites all done: SCHEDULED runs of the task may become due. */
function releaseDependents(core: Core, u: Unit, task: TaskRecord): void {
  for (const id of u.runIdsOfTask(task.id)) {
    const run = u.run(id);
    if (!run || run.state !== "SCHEDULED" || !run.waitingOnDeps) continue;
    touchRun(core, u, run, { ...run, waitingOnDeps: false }, undefined);
    u.timersChanged = true;
  }
}

function cancelOne(core: Core, u: Unit, id: TaskId, why: string, counts: Canceled): Step[] {
  const task = u.task(id);
  if (!task || isTaskTerminal(task.status)) return [];
  const canceled: TaskRecord = {
    ...task,
    status: "CANCELED",
    statusReason: why,
    statusChangedAt: u.now,
    cron: task.cron ? { ...task.cron, nextAt: null } : null,
  };
  u.updateTask(canceled, task);
  counts.tasks++;
  u.log({ task_id: id, reason: why }, "task canceled");
  const runReason = why === "CANCELED_BY_USER" ? "TASK_CANCELED" : why;
  const next: Step[] = [];
  for (const runId of u.runIdsOfTask(id)) {
    const run = u.run(runId);
    if (!run || isTerminal(run.state)) continue;
    const moved: Moved = transition(core, u, run, { type: "CANCEL", at: u.now }, { reason: runReason, error: "task canceled" });
    // The task is CANCELED already: its runs' effects only keep its counters right.
    next.push(...moved.effects);
    counts.runs++;
  }
  // Parent bookkeeping (the parent itself is not canceled by its child).
  const after = mustTask(u, id);
  if (after.spec.parentTaskId) {
    const parent = u.task(after.spec.parentTaskId);
    if (parent && !isTaskTerminal(parent.status)) {
      u.updateTask({ ...parent, openChildren: parent.openChildren - 1 }, parent);
      next.push({ kind: "SETTLE", taskId: parent.id });
    }
  }
  for (const child of u.childTaskIds(id)) next.push({ kind: "CANCEL_TASK", taskId: child, reason: "PARENT_CANCELED" });
  for (const dep of u.dependentTaskIds(id)) next.push({ kind: "CANCEL_TASK", taskId: dep, reason: "DEPENDENCY_FAILED" });
  return next;
}
