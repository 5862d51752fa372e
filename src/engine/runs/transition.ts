/**
 * Applies one lifecycle action to a stored run: the domain rules (domain/lifecycle.ts) with
 * the key gate, then everything that goes with the move — the lease, the attempt record,
 * the retry time, the timers, the event, the ready index — written as one "updateRun" verb.
 *
 * A transition never touches tasks: it returns its effects on the task (a run left
 * SCHEDULED, a run finished) and the caller hands them to tasks/cascade.ts, which works
 * them off as a list. This file must not import the task modules (no recursion).
 */
import type { Applied, RunAction } from "../../domain/lifecycle.js";
import type { RunId } from "../../domain/ids.js";
import { applyRunAction } from "../../domain/lifecycle.js";
import { backoffDelayMs } from "../../domain/retry.js";
import { type RunState, isTerminal } from "../../domain/state.js";
import { saturatingAdd } from "../../domain/time.js";
import type { Unit } from "../commit/unit.js";
import { type Core, mustTask } from "../core.js";
import { fromRefusal } from "../errors.js";
import { readyInfoOf } from "../memory/ready-index.js";
import type { KeyHolderChange, LeaseChange } from "../ports.js";
import type { AttemptRecord, DueKind, EventRecord, LeaseRecord, RunRecord, TaskRecord } from "../records.js";

/** What a run change means for its task; worked off by tasks/cascade.ts. */
export type Effect =
  | { readonly kind: "LEFT_SCHEDULED"; readonly taskId: RunRecord["taskId"] }
  | { readonly kind: "FINISHED"; readonly taskId: RunRecord["taskId"]; readonly state: RunState };

/** Details a transition records besides the action. */
export interface TransitionExtra {
  readonly reason?: string;
  /** The new lease (LEASE) or the lease the caller holds. */
  readonly lease?: LeaseRecord;
  readonly error?: string;
  readonly output?: Uint8Array;
}

/** A moved run and its effects on its task. */
export interface Moved {
  readonly run: RunRecord;
  readonly effects: Effect[];
}

const EMPTY_BYTES = new Uint8Array(0);

/** Reason recorded on a run that failed because no further attempt could start. */
export const ATTEMPT_COUNT_EXHAUSTED = "ATTEMPT_COUNT_EXHAUSTED";

/** Timer entries a run owns in its state: promotion, retry, lease expiry, attempt timeout. */
export function dueOf(run: Omit<RunRecord, "due">, lease: LeaseRecord | undefined): Array<[number, DueKind]> {
  const due: Array<[number, DueKind]> = [];
  switch (run.state) {
    case "SCHEDULED":
      if (!run.waitingOnDeps) due.push([run.scheduledAt, "PROMOTE"]);
      break;
    case "RETRY_WAIT":
      if (run.retryAt !== null) due.push([run.retryAt, "RETRY"]);
      break;
    case "LEASED":
      if (lease) due.push([lease.expiresAt, "LEASE"]);
      break;
    case "RUNNING":
      if (lease) due.push([lease.expiresAt, "LEASE"]);
      if (run.attemptDeadline !== null) due.push([run.attemptDeadline, "TIMEOUT"]);
      break;
    default:
      break;
  }
  return due.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
}

/** The run with its timer entries filled in; flags the unit when a timer may move earlier. */
export function withDue(core: Core, u: Unit, run: Omit<RunRecord, "due">, lease: LeaseRecord | undefined): RunRecord {
  const full: RunRecord = { ...run, due: dueOf(run, lease) };
  const firstDue = full.due[0]?.[0];
  if (firstDue !== undefined && firstDue < core.timerAt) u.timersChanged = true;
  return full;
}

/**
 * Mirrors the gate's change of `runId` on `key` into a key-holder change, and undoes the
 * gate (and re-places the key's ready groups) if the command fails. The one place where the
 * in-memory gate and the stored holders are kept in step.
 */
function keyHolderChange(core: Core, u: Unit, key: string, slots: number, runId: RunId, before: { hold: "RESERVED" | "HELD"; since: number } | undefined): KeyHolderChange {
  u.journal.record(() => {
    core.gate.release(key, runId);
    if (before) core.gate.restore(key, runId, before.hold, before.since);
    core.ready.keyChanged(key);
  });
  core.ready.keyChanged(key);
  const hold = core.gate.holdOf(key, runId);
  return hold ? { put: { key, runId, hold, since: u.now, slots } } : { remove: { key, runId } };
}

function attemptRecords(u: Unit, run: RunRecord, task: TaskRecord, applied: Applied, extra: TransitionExtra, lease: LeaseRecord | undefined) {
  const now = u.now;
  let attempt: AttemptRecord | null = null;
  let summary: EventRecord["attempt"] = null;
  let attemptDeadline = run.attemptDeadline;
  if (applied.startedAttempt) {
    const workerId = lease?.workerId ?? "";
    attempt = {
      id: applied.startedAttempt.attemptId,
      runId: run.id,
      number: applied.startedAttempt.number,
      workerId,
      outcome: null,
      error: "",
      output: EMPTY_BYTES,
      startedAt: now,
      finishedAt: null,
      counted: true,
    };
    const timeout = task.spec.constraints.attemptTimeoutMs;
    attemptDeadline = timeout > 0 ? saturatingAdd(now, timeout) : null;
    summary = { id: attempt.id, number: attempt.number, outcome: null, error: "", workerId };
  }
  if (applied.finishedAttempt) {
    const f = applied.finishedAttempt;
    const number = run.attemptCount;
    const open = u.attempt(run.id, number);
    attempt = {
      id: f.attemptId,
      runId: run.id,
      number,
      workerId: open?.workerId ?? "",
      outcome: f.outcome,
      error: extra.error ?? "",
      output: f.outcome === "SUCCESS" ? (extra.output ?? EMPTY_BYTES) : EMPTY_BYTES,
      startedAt: open?.startedAt ?? now,
      finishedAt: now,
      counted: f.counted,
    };
    attemptDeadline = null;
    summary = { id: attempt.id, number, outcome: f.outcome, error: attempt.error.slice(0, 1024), workerId: attempt.workerId };
  }
  if (applied.to !== "RUNNING") attemptDeadline = null;
  return { attempt, summary, attemptDeadline };
}

/**
 * Applies `action` to `run`. Throws the domain refusal as an EngineError (the unit's journal
 * undoes every memory change). Returns the stored run and its effects on the task.
 */
export function transition(core: Core, u: Unit, run: RunRecord, action: RunAction, extra: TransitionExtra = {}): Moved {
  const task = mustTask(u, run.taskId);
  const spec = task.spec.constraints.concurrency;
  // Only this run's own slot is needed for the undo, not a copy of every occupant.
  const beforeHold = spec ? core.gate.occupantOf(spec.key, run.id) : undefined;
  const result = applyRunAction(run, action, { gate: core.gate, spec });
  if (!result.ok) throw fromRefusal(result.error);
  const applied = result.value;
  if (!applied.changed) return { run, effects: [] };
  const now = u.now;

  let keyHolder: KeyHolderChange = null;
  if (spec && applied.key.kind !== "UNCHANGED" && applied.key.kind !== "FULL") {
    keyHolder = keyHolderChange(core, u, spec.key, spec.slots, run.id, beforeHold);
    // A slot given back may unblock runs of this key in any queue.
    if (applied.key.kind === "GIVEN_BACK") u.wakeAll = true;
  }
  const keyHold = spec ? (core.gate.holdOf(spec.key, run.id) ?? null) : null;

  let lease = extra.lease ?? u.lease(run.id);
  let leaseChange: LeaseChange = null;
  if (applied.to !== "LEASED" && applied.to !== "RUNNING" && lease) {
    leaseChange = { remove: run.id };
    lease = undefined;
  }
  if (applied.to === "LEASED" && extra.lease) leaseChange = { put: extra.lease };

  const { attempt, summary, attemptDeadline } = attemptRecords(u, run, task, applied, extra, lease);
  let retryAt: number | null = null;
  if (applied.to === "RETRY_WAIT") {
    retryAt = saturatingAdd(now, backoffDelayMs(task.spec.constraints.backoff, applied.run.countedAttempts, core.random.next()));
  }
  const stateReason = applied.exhausted ? ATTEMPT_COUNT_EXHAUSTED : (extra.reason ?? "");
  const event = core.emit(u, {
    type: "TRANSITION",
    runId: run.id,
    taskId: run.taskId,
    queue: run.queue,
    from: applied.from,
    to: applied.to,
    at: now,
    attempt: summary,
    reason: stateReason,
    priority: applied.run.effectivePriority,
  });
  const stored = withDue(
    core,
    u,
    {
      ...run,
      ...applied.run,
      retryAt,
      attemptDeadline,
      stateReason,
      keyHold,
      lastLeaseToken: applied.to === "LEASED" && extra.lease ? extra.lease.token : run.lastLeaseToken,
      finishedAt: isTerminal(applied.to) ? now : null,
      waitingOnDeps: false,
      revision: event.revision,
    },
    lease,
  );
  u.updateRun({ verb: "updateRun", run: stored, prev: run, event, lease: leaseChange, attempt, keyHolder });

  if (applied.from === "READY") core.ready.remove(run.id, u.journal);
  if (applied.to === "READY") {
    core.ready.add(readyInfoOf(stored), u.journal);
    u.wake.add(run.queue);
  }
  u.log(
    {
      task_id: run.taskId,
      run_id: run.id,
      attempt_id: summary?.id,
      worker_id: summary?.workerId || lease?.workerId || extra.lease?.workerId,
      from: applied.from,
      to: applied.to,
      reason: stateReason || undefined,
      revision: event.revision,
    },
    "run transition",
    "debug",
  );

  const effects: Effect[] = [];
  if (applied.from === "SCHEDULED") effects.push({ kind: "LEFT_SCHEDULED", taskId: run.taskId });
  if (isTerminal(applied.to)) effects.push({ kind: "FINISHED", taskId: run.taskId, state: applied.to });
  return { run: stored, effects };
}

/**
 * A run change that is not a transition: a dependency wait, a lease extension (no event), a
 * priority change (its PRIORITY_CHANGED event).
 */
export function touchRun(
  core: Core,
  u: Unit,
  run: RunRecord,
  next: Omit<RunRecord, "due">,
  lease: LeaseRecord | undefined,
  leaseChange: LeaseChange = null,
  event: EventRecord | null = null,
): RunRecord {
  const stored = withDue(core, u, next, lease);
  u.updateRun({ verb: "updateRun", run: stored, prev: run, event, lease: leaseChange, attempt: null, keyHolder: null });
  return stored;
}
