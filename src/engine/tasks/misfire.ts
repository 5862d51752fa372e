/**
 * Cron misfire policies after an outage (SPEC §3): at start-up, before any timer runs, each
 * active cron task's overdue runs and missed occurrences are kept, canceled or coalesced by
 * its policy (domain/derive.ts planMisfire).
 */
import { planMisfire } from "../../domain/derive.js";
import type { TaskId } from "../../domain/ids.js";
import type { Unit } from "../commit/unit.js";
import { type Core, mustTask } from "../core.js";
import type { TaskRecord } from "../records.js";
import { move, settleTask } from "./cascade.js";
import { deriveRuns, refillCron } from "./cron.js";

/** Applies the task's misfire policy for everything due at or before `now`. */
export function applyMisfire(core: Core, u: Unit, taskId: TaskId, now: number): void {
  const task = u.task(taskId);
  if (!task || task.status !== "ACTIVE" || !task.cron || task.spec.policy.kind !== "CRON") return;
  const p = task.spec.policy;
  const schedule = core.schedule(p.expression, p.timeZone);
  if (!schedule) return;
  const overdue = u
    .runIdsOfTask(taskId)
    .flatMap((id) => u.run(id) ?? [])
    .filter((r) => r.state === "SCHEDULED" && r.scheduledAt <= now)
    .map((r) => ({ runId: r.id, scheduledAt: r.scheduledAt }));
  const plan = planMisfire(p.misfire, schedule, overdue, task.cron, now, p.maxOccurrences, core.options.catchUpLimit);
  if (plan.cancel.length === 0 && plan.derive.length === 0 && plan.cursor === task.cron) return;
  u.log({ task_id: taskId, policy: p.misfire, canceled: plan.cancel.length, derived: plan.derive.length, skipped: plan.skipped }, "cron misfire");
  // Move the cursor past the missed window first, so the refills that cancellations
  // trigger derive from there and never re-create a missed occurrence.
  const t2: TaskRecord = {
    ...task,
    cron: plan.cursor,
    runsDerived: task.runsDerived + plan.derive.length,
    openRuns: task.openRuns + plan.derive.length,
    skippedOccurrences: task.skippedOccurrences + plan.skipped,
  };
  u.updateTask(t2, task);
  deriveRuns(core, u, t2, plan.derive, task.runsDerived);
  for (const id of plan.cancel) {
    const run = u.run(id);
    if (run) move(core, u, run, { type: "CANCEL", at: now }, { reason: "MISSED" });
  }
  refillCron(core, u, taskId);
  settleTask(core, u, mustTask(u, taskId).id);
}
