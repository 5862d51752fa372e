/**
 * The run instance and its rules (seed 000): construction, transitions, attempt ownership,
 * the attempt counter and the priority snapshot. Runs are immutable values; every function
 * returns a new run or a refusal and never changes its argument.
 */
import { type AttemptId, NIL_UUID, type RunId, type TaskId, parseUuid } from "./ids.js";
import type { RunConstructionRefusal, RunRefusal } from "./refusal.js";
import { type Result, err, ok } from "./result.js";
import { type RunState, canTransition, isTerminal } from "./state.js";

/** Largest attempt counter value (the seed's u32); starting one more attempt is refused. */
export const MAX_ATTEMPT_COUNT = 0xffff_ffff;

/** One scheduled occurrence of a task. */
export interface Run {
  readonly id: RunId;
  readonly taskId: TaskId;
  readonly state: RunState;
  /** The open attempt; only ever set while RUNNING. */
  readonly currentAttemptId: AttemptId | null;
  /** Attempts started so far, suspended ones included. Never exceeds MAX_ATTEMPT_COUNT. */
  readonly attemptCount: number;
  /** Attempts that count toward max_attempts (all but those finished SUSPENDED). */
  readonly countedAttempts: number;
  /** Epoch ms the run was derived. */
  readonly createdAt: number;
  /** Epoch ms the run is due. */
  readonly scheduledAt: number;
  /** Priority snapshot taken on entering READY; higher is handed out first. */
  readonly effectivePriority: number;
  /** Epoch ms of the latest transition (creation counts); retry backoff counts from it. */
  readonly lastStateChangeAt: number;
}

function checkIds(id: string, taskId: string): RunConstructionRefusal | null {
  if (!parseUuid(id).ok) return { reason: "INVALID_RUN_ID", runId: id };
  if (!parseUuid(taskId).ok) return { reason: "INVALID_TASK_ID", taskId };
  return null;
}

/** Creates a SCHEDULED run. Refuses empty, nil or malformed ids. */
export function newScheduledRun(
  id: RunId,
  taskId: TaskId,
  scheduledAt: number,
  createdAt: number,
): Result<Run, RunConstructionRefusal> {
  const bad = checkIds(id, taskId);
  if (bad) return err(bad);
  return ok({
    id,
    taskId,
    state: "SCHEDULED",
    currentAttemptId: null,
    attemptCount: 0,
    countedAttempts: 0,
    createdAt,
    scheduledAt,
    effectivePriority: 0,
    lastStateChangeAt: createdAt,
  });
}

/**
 * Creates a run directly in READY with a priority snapshot. Refuses a schedule later than
 * the creation time: a READY run is due by definition.
 */
export function newReadyRun(
  id: RunId,
  taskId: TaskId,
  scheduledAt: number,
  createdAt: number,
  effectivePriority: number,
): Result<Run, RunConstructionRefusal> {
  const bad = checkIds(id, taskId);
  if (bad) return err(bad);
  if (scheduledAt > createdAt) {
    return err({ reason: "READY_SCHEDULED_IN_FUTURE", runId: id, scheduledAt, createdAt });
  }
  return ok({
    id,
    taskId,
    state: "READY",
    currentAttemptId: null,
    attemptCount: 0,
    countedAttempts: 0,
    createdAt,
    scheduledAt,
    effectivePriority,
    lastStateChangeAt: createdAt,
  });
}

/**
 * Moves a run to `to` at time `at`, following the transition table. A terminal run refuses
 * everything (RUN_TERMINAL); a pair outside the table is INVALID_TRANSITION; leaving RUNNING
 * with an open attempt is ATTEMPT_IN_PROGRESS except toward CANCELED (cancel interrupts the
 * attempt). Leaving RUNNING clears the open attempt.
 */
export function transition(run: Run, to: RunState, at: number): Result<Run, RunRefusal> {
  if (isTerminal(run.state)) return err({ reason: "RUN_TERMINAL", runId: run.id, state: run.state });
  if (!canTransition(run.state, to)) {
    return err({ reason: "INVALID_TRANSITION", runId: run.id, from: run.state, to });
  }
  if (run.state === "RUNNING" && to !== "CANCELED" && run.currentAttemptId !== null) {
    return err({ reason: "ATTEMPT_IN_PROGRESS", runId: run.id, attemptId: run.currentAttemptId });
  }
  return ok({
    ...run,
    state: to,
    currentAttemptId: to === "RUNNING" ? run.currentAttemptId : null,
    lastStateChangeAt: at,
  });
}

/** Opens a new attempt: only in RUNNING, only with none open, never past MAX_ATTEMPT_COUNT. */
export function startAttempt(run: Run, attemptId: AttemptId): Result<Run, RunRefusal> {
  if (run.state !== "RUNNING") return err({ reason: "ATTEMPT_REQUIRES_RUNNING", runId: run.id, state: run.state });
  if (run.currentAttemptId !== null) {
    return err({ reason: "ATTEMPT_ALREADY_ACTIVE", runId: run.id, attemptId: run.currentAttemptId });
  }
  if (run.attemptCount >= MAX_ATTEMPT_COUNT) return err({ reason: "ATTEMPT_COUNT_OVERFLOW", runId: run.id });
  return ok({
    ...run,
    attemptCount: run.attemptCount + 1,
    countedAttempts: run.countedAttempts + 1,
    currentAttemptId: attemptId,
  });
}

/**
 * Closes the open attempt: only in RUNNING and only by its own id. `counted` false (a
 * SUSPENDED outcome) gives the attempt back to the max_attempts budget.
 */
export function finishAttempt(run: Run, attemptId: AttemptId, counted: boolean): Result<Run, RunRefusal> {
  if (run.state !== "RUNNING") return err({ reason: "ATTEMPT_REQUIRES_RUNNING", runId: run.id, state: run.state });
  if (run.currentAttemptId === null) return err({ reason: "NO_ACTIVE_ATTEMPT", runId: run.id });
  if (run.currentAttemptId !== attemptId) {
    return err({
      reason: "ATTEMPT_MISMATCH",
      runId: run.id,
      expectedAttemptId: run.currentAttemptId,
      attemptId,
    });
  }
  return ok({
    ...run,
    currentAttemptId: null,
    countedAttempts: counted ? run.countedAttempts : run.countedAttempts - 1,
  });
}

/** Changes the priority snapshot; only while READY. */
export function setEffectivePriority(run: Run, priority: number): Result<Run, RunRefusal> {
  if (run.state !== "READY") return err({ reason: "PRIORITY_REQUIRES_READY", runId: run.id, state: run.state });
  return ok({ ...run, effectivePriority: priority });
}

/** Checks a stored run for the invariants the constructors and transitions guarantee. */
export function runInvariantViolations(run: Run): string[] {
  const problems: string[] = [];
  if (run.id === NIL_UUID || run.taskId === NIL_UUID) problems.push("nil id");
  if (run.state !== "RUNNING" && run.currentAttemptId !== null) problems.push("open attempt outside RUNNING");
  if (run.countedAttempts < 0 || run.countedAttempts > run.attemptCount) problems.push("counted attempts out of range");
  if (run.attemptCount > MAX_ATTEMPT_COUNT) problems.push("attempt counter overflow");
  return problems;
}
