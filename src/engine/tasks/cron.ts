/**
 * Run derivation: creating the runs a task's policy implies at given times (submission,
 * repeat, the cron window) and rolling a cron task's window of upcoming runs forward.
 */
import { refillCronWindow } from "../../domain/derive.js";
import type { TaskId } from "../../domain/ids.js";
import { newReadyRun, newScheduledRun } from "../../domain/run.js";
import type { Unit } from "../commit/unit.js";
import { type Core, changeTask } from "../core.js";
import { EngineError } from "../errors.js";
import type { RunRecord, TaskRecord } from "../records.js";
import { readyInfoOf } from "../memory/ready-index.js";
import { withDue } from "../runs/transition.js";

/** Creates runs at `times` for `task`, numbering occurrences from `firstOccurrence`. */
export function deriveRuns(core: Core, u: Unit, task: TaskRecord, times: readonly number[], firstOccurrence: number): RunRecord[] {
  const out: RunRecord[] = [];
  const now = u.now;
  const c = task.spec.constraints;
  let scheduled = 0;
  times.forEach((at, i) => {
    const runId = core.ids.runId();
    const ready = at <= now && task.pendingDeps === 0;
    const base = ready ? newReadyRun(runId, task.id, at, now, task.spec.metadata.priority) : newScheduledRun(runId, task.id, at, now);
    if (!base.ok) throw new EngineError("INTERNAL", `cannot derive run: ${base.error.reason}`);
    if (!ready) scheduled++;
    const event = core.emit(u, {
      type: "CREATED",
      runId,
      taskId: task.id,
      queue: task.spec.queue,
      from: null,
      to: base.value.state,
      at: now,
      attempt: null,
      reason: "",
      priority: base.value.effectivePriority,
    });
    const run = withDue(
      core,
      u,
      {
        ...base.value,
        queue: task.spec.queue,
        occurrence: firstOccurrence + i,
        retryAt: null,
        attemptDeadline: null,
        waitingOnDeps: !ready && task.pendingDeps > 0,
        stateReason: "",
        revision: event.revision,
        lastLeaseToken: null,
        keyHold: null,
        finishedAt: null,
        capabilities: c.requiredCapabilities,
        keySlots: c.concurrency ? { key: c.concurrency.key, slots: c.concurrency.slots } : null,
      },
      undefined,
    );
    u.createRun(run, event);
    if (ready) {
      core.ready.add(readyInfoOf(run), u.journal);
      u.wake.add(task.spec.queue);
    }
    out.push(run);
  });
  if (scheduled > 0) changeTask(u, task.id, (t) => ({ ...t, pendingRuns: t.pendingRuns + scheduled }));
  return out;
}

/** Tops up a cron task's window of upcoming runs. */
export function refillCron(core: Core, u: Unit, taskId: TaskId): void {
  const task = u.task(taskId);
  if (!task || task.status !== "ACTIVE" || !task.cron || task.spec.policy.kind !== "CRON") return;
  const p = task.spec.policy;
  const schedule = core.schedule(p.expression, p.timeZone);
  if (!schedule) return;
  const r = refillCronWindow(schedule, task.cron, task.pendingRuns, core.options.cronWindow, p.maxOccurrences);
  if (r.times.length === 0 && r.cursor === task.cron) return;
  const t2: TaskRecord = { ...task, cron: r.cursor, runsDerived: task.runsDerived + r.times.length, openRuns: task.openRuns + r.times.length };
  u.updateTask(t2, task);
  deriveRuns(core, u, t2, r.times, task.runsDerived);
}
