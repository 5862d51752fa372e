/**
 * Operator commands on one run (SPEC §7): cancel, suspend, resume, re-prioritise.
 */
import type { RunId } from "../domain/ids.js";
import { applyRunAction } from "../domain/lifecycle.js";
import type { Unit } from "./commit/unit.js";
import { type Core, mustRun, mustTask } from "./core.js";
import { fromRefusal } from "./errors.js";
import type { RunRecord } from "./records.js";
import { move } from "./tasks/cascade.js";
import { readyInfoOf } from "./memory/ready-index.js";
import { touchRun } from "./runs/transition.js";

/** Any non-terminal state -> CANCELED. CANCELED: no-op; COMPLETED / FAILED: RUN_TERMINAL. */
export function cancelRun(core: Core, u: Unit, runId: RunId): RunRecord {
  const run = mustRun(u, runId);
  if (run.state === "CANCELED") return run;
  return move(core, u, run, { type: "CANCEL", at: u.now }, { reason: "CANCELED_BY_USER", error: "run canceled" });
}

/** Operator suspension: RUNNING -> SUSPENDED (the open attempt ends SUSPENDED, uncounted). */
export function suspendRun(core: Core, u: Unit, runId: RunId, reason: string): RunRecord {
  const why = reason || "SUSPENDED_BY_OPERATOR";
  return move(core, u, mustRun(u, runId), { type: "SUSPEND", at: u.now }, { reason: why, error: why });
}

/** SUSPENDED -> READY with a fresh priority snapshot. */
export function resumeRun(core: Core, u: Unit, runId: RunId): RunRecord {
  const run = mustRun(u, runId);
  const task = mustTask(u, run.taskId);
  return move(core, u, run, { type: "RESUME", at: u.now, priority: task.spec.metadata.priority });
}

/** Changes the effective priority of a READY run (an event, no transition). */
export function setRunPriority(core: Core, u: Unit, runId: RunId, priority: number): RunRecord {
  const run = mustRun(u, runId);
  const result = applyRunAction(run, { type: "SET_PRIORITY", priority }, { gate: core.gate, spec: null });
  if (!result.ok) throw fromRefusal(result.error);
  if (!result.value.changed) return run;
  const event = core.emit(u, {
    type: "PRIORITY_CHANGED",
    runId,
    taskId: run.taskId,
    queue: run.queue,
    from: "READY",
    to: "READY",
    at: u.now,
    attempt: null,
    reason: "",
    priority,
  });
  const stored = touchRun(core, u, run, { ...run, effectivePriority: priority, revision: event.revision }, undefined, null, event);
  core.ready.add(readyInfoOf(stored), u.journal);
  return stored;
}
