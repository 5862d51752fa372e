/**
 * The one place a run's state changes. Every lifecycle command of the service is expressed
 * as a RunAction and applied here, together with its concurrency-key effect, so that the
 * engine, the tests and the property model all go through the same rules.
 */
import type { AttemptId } from "./ids.js";
import { type KeyChange, type KeyGate, type KeySpec, applyKeyEffect, keyEffect } from "./keys.js";
import type { RunRefusal } from "./refusal.js";
import { type AttemptOutcome, isCounted, stateAfterOutcome, WORKER_OUTCOMES } from "./retry.js";
import { type Result, assertNever, err, ok } from "./result.js";
import { MAX_ATTEMPT_COUNT, type Run, finishAttempt, setEffectivePriority, startAttempt, transition } from "./run.js";
import type { RunState } from "./state.js";

/** Outcome a worker may report (everything but CANCELED). */
export type WorkerOutcome = (typeof WORKER_OUTCOMES)[number];

/**
 * A lifecycle command on one run. `at` is the time of the command (epoch ms).
 *
 * - PROMOTE       SCHEDULED -> READY, snapshotting `priority`.
 * - LEASE         READY -> LEASED, reserving a key slot (refused with KEY_FULL when none).
 * - LEASE_LAPSED  LEASED -> READY when the lease expired.
 * - RELEASE_LEASE LEASED -> READY when the worker gave the run back.
 * - START_ATTEMPT LEASED -> RUNNING, opening attempt `attemptId` and holding the key slot.
 * - FINISH_ATTEMPT RUNNING -> COMPLETED | FAILED | RETRY_WAIT | SUSPENDED by `outcome`.
 * - RETRY_DUE     RETRY_WAIT -> READY, snapshotting `priority`.
 * - SUSPEND       operator pause: RUNNING -> SUSPENDED; the open attempt ends SUSPENDED.
 * - RESUME        SUSPENDED -> READY, snapshotting `priority`.
 * - CANCEL        any non-terminal state -> CANCELED; an open attempt ends CANCELED.
 *                 Canceling a CANCELED run changes nothing.
 * - SET_PRIORITY  changes the snapshot of a READY run.
 */
export type RunAction =
  | { readonly type: "PROMOTE"; readonly at: number; readonly priority: number }
  | { readonly type: "LEASE"; readonly at: number }
  | { readonly type: "LEASE_LAPSED"; readonly at: number }
  | { readonly type: "RELEASE_LEASE"; readonly at: number }
  | { readonly type: "START_ATTEMPT"; readonly at: number; readonly attemptId: AttemptId }
  | {
      readonly type: "FINISH_ATTEMPT";
      readonly at: number;
      readonly attemptId: AttemptId;
      readonly outcome: WorkerOutcome;
      readonly maxAttempts: number;
    }
  | { readonly type: "RETRY_DUE"; readonly at: number; readonly priority: number }
  | { readonly type: "SUSPEND"; readonly at: number }
  | { readonly type: "RESUME"; readonly at: number; readonly priority: number }
  | { readonly type: "CANCEL"; readonly at: number }
  | { readonly type: "SET_PRIORITY"; readonly priority: number };

/** An attempt closed by the action. */
export interface FinishedAttempt {
  readonly attemptId: AttemptId;
  readonly outcome: AttemptOutcome;
  readonly counted: boolean;
}

/** What applying an action did. */
export interface Applied {
  readonly run: Run;
  readonly from: RunState;
  readonly to: RunState;
  /** False only for a no-op (cancel of a CANCELED run). */
  readonly changed: boolean;
  readonly startedAttempt: { readonly attemptId: AttemptId; readonly number: number } | null;
  readonly finishedAttempt: FinishedAttempt | null;
  readonly key: KeyChange;
  /**
   * The run failed because its attempt counter reached MAX_ATTEMPT_COUNT: no further attempt
   * could ever start, so an outcome that would have waited for one (a retry, a suspension)
   * ends the run FAILED instead of leaving it to be leased forever.
   */
  readonly exhausted: boolean;
}

/** Where the key rules are applied: the gate and the run's key (null when it has none). */
export interface KeyContext {
  readonly gate: KeyGate;
  readonly spec: KeySpec | null;
}

const UNCHANGED_KEY: KeyChange = { kind: "UNCHANGED" };

/** States a run leaves only through another attempt. */
function needsAnotherAttempt(s: RunState): boolean {
  return s === "RETRY_WAIT" || s === "SUSPENDED";
}

function moved(
  before: Run,
  after: Run,
  keys: KeyContext,
  at: number,
  extra: Pick<Applied, "startedAttempt" | "finishedAttempt"> & { exhausted?: boolean } = { startedAttempt: null, finishedAttempt: null },
): Result<Applied, RunRefusal> {
  let key: KeyChange = UNCHANGED_KEY;
  if (keys.spec) {
    key = applyKeyEffect(keys.gate, keys.spec, before.id, keyEffect(before.state, after.state, keys.spec.holdPolicy), at);
    if (key.kind === "FULL") {
      return err({ reason: "KEY_FULL", runId: before.id, key: key.key, holderRunId: key.holderRunId });
    }
  }
  return ok({ run: after, from: before.state, to: after.state, changed: true, key, exhausted: false, ...extra });
}

function expectState(run: Run, expected: RunState, to: RunState): RunRefusal | null {
  if (run.state === expected) return null;
  if (run.state === "COMPLETED" || run.state === "FAILED" || run.state === "CANCELED") {
    return { reason: "RUN_TERMINAL", runId: run.id, state: run.state };
  }
  return { reason: "INVALID_TRANSITION", runId: run.id, from: run.state, to };
}

/**
 * Applies `action` to `run` and its key. On success returns the new run and what changed;
 * the gate is updated in place. On refusal nothing changes, the gate included.
 */
export function applyRunAction(run: Run, action: RunAction, keys: KeyContext): Result<Applied, RunRefusal> {
  switch (action.type) {
    case "PROMOTE":
    case "RETRY_DUE":
    case "RESUME": {
      const from: RunState = action.type === "PROMOTE" ? "SCHEDULED" : action.type === "RETRY_DUE" ? "RETRY_WAIT" : "SUSPENDED";
      const wrong = expectState(run, from, "READY");
      if (wrong) return err(wrong);
      const t = transition(run, "READY", action.at);
      if (!t.ok) return t;
      return moved(run, { ...t.value, effectivePriority: action.priority }, keys, action.at);
    }
    case "LEASE": {
      const wrong = expectState(run, "READY", "LEASED");
      if (wrong) return err(wrong);
      const t = transition(run, "LEASED", action.at);
      return t.ok ? moved(run, t.value, keys, action.at) : t;
    }
    case "LEASE_LAPSED":
    case "RELEASE_LEASE": {
      const wrong = expectState(run, "LEASED", "READY");
      if (wrong) return err(wrong);
      const t = transition(run, "READY", action.at);
      return t.ok ? moved(run, t.value, keys, action.at) : t;
    }
    case "START_ATTEMPT": {
      const wrong = expectState(run, "LEASED", "RUNNING");
      if (wrong) return err(wrong);
      // Check the counter before moving so an overflow leaves the run LEASED.
      const probe = startAttempt({ ...run, state: "RUNNING" }, action.attemptId);
      if (!probe.ok) return probe;
      const t = transition(run, "RUNNING", action.at);
      if (!t.ok) return t;
      const s = startAttempt(t.value, action.attemptId);
      if (!s.ok) return s;
      return moved(run, s.value, keys, action.at, {
        startedAttempt: { attemptId: action.attemptId, number: s.value.attemptCount },
        finishedAttempt: null,
      });
    }
    case "FINISH_ATTEMPT": {
      if (!(WORKER_OUTCOMES as readonly string[]).includes(action.outcome)) {
        return err({ reason: "INVALID_TRANSITION", runId: run.id, from: run.state, to: run.state });
      }
      const counted = isCounted(action.outcome);
      const f = finishAttempt(run, action.attemptId, counted);
      if (!f.ok) return f;
      const next = stateAfterOutcome(action.outcome, f.value.countedAttempts, action.maxAttempts);
      const exhausted = needsAnotherAttempt(next) && f.value.attemptCount >= MAX_ATTEMPT_COUNT;
      const t = transition(f.value, exhausted ? "FAILED" : next, action.at);
      if (!t.ok) return t;
      return moved(run, t.value, keys, action.at, {
        startedAttempt: null,
        finishedAttempt: { attemptId: action.attemptId, outcome: action.outcome, counted },
        exhausted,
      });
    }
    case "SUSPEND": {
      const wrong = expectState(run, "RUNNING", "SUSPENDED");
      if (wrong) return err(wrong);
      const open = run.currentAttemptId;
      const f = open === null ? ok(run) : finishAttempt(run, open, false);
      if (!f.ok) return f;
      const exhausted = f.value.attemptCount >= MAX_ATTEMPT_COUNT;
      const t = transition(f.value, exhausted ? "FAILED" : "SUSPENDED", action.at);
      if (!t.ok) return t;
      return moved(run, t.value, keys, action.at, {
        startedAttempt: null,
        finishedAttempt: open === null ? null : { attemptId: open, outcome: "SUSPENDED", counted: false },
        exhausted,
      });
    }
    case "CANCEL": {
      if (run.state === "CANCELED") {
        return ok({
          run,
          from: run.state,
          to: run.state,
          changed: false,
          startedAttempt: null,
          finishedAttempt: null,
          key: UNCHANGED_KEY,
          exhausted: false,
        });
      }
      const open = run.currentAttemptId;
      const t = transition(run, "CANCELED", action.at);
      if (!t.ok) return t;
      return moved(run, t.value, keys, action.at, {
        startedAttempt: null,
        finishedAttempt: open === null ? null : { attemptId: open, outcome: "CANCELED", counted: true },
      });
    }
    case "SET_PRIORITY": {
      const p = setEffectivePriority(run, action.priority);
      if (!p.ok) return p;
      return ok({
        run: p.value,
        from: run.state,
        to: run.state,
        changed: p.value.effectivePriority !== run.effectivePriority,
        startedAttempt: null,
        finishedAttempt: null,
        key: UNCHANGED_KEY,
        exhausted: false,
      });
    }
    default:
      return assertNever(action, "run action");
  }
}
