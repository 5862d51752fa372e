/**
 * Worker calls under a lease (SPEC §5): start an attempt, heartbeat, complete with an
 * outcome, give the lease back. Each checks the lease token in the same command that acts on
 * it (fencing), so a zombie worker can never act on a run it no longer owns.
 */
import type { LeaseToken, RunId } from "../../domain/ids.js";
import { saturatingAdd } from "../../domain/time.js";
import type { Completion, HeartbeatItem, HeartbeatResult } from "../api.js";
import type { Unit } from "../commit/unit.js";
import { type Core, mustRun, mustTask } from "../core.js";
import { EngineError } from "../errors.js";
import type { AttemptRecord, LeaseRecord, RunRecord } from "../records.js";
import { touchRun } from "../runs/transition.js";
import { move } from "../tasks/cascade.js";
import { fenced, leaseLost } from "./lease.js";

/** LEASED -> RUNNING under the caller's lease. */
export function startAttempt(core: Core, u: Unit, runId: RunId, token: LeaseToken): { run: RunRecord; attempt: AttemptRecord } {
  const { run, lease } = fenced(u, runId, token);
  const next = move(core, u, run, { type: "START_ATTEMPT", at: u.now, attemptId: core.ids.attemptId() }, { lease });
  return { run: next, attempt: u.attempt(runId, next.attemptCount) as AttemptRecord };
}

/** Extends the caller's lease, or tells a worker whose run was canceled or suspended to stop. */
export function heartbeatOne(core: Core, u: Unit, item: HeartbeatItem): HeartbeatResult {
  const run = mustRun(u, item.runId);
  const lease = u.lease(item.runId);
  if (lease && lease.token === item.token && lease.expiresAt > u.now) {
    const next: LeaseRecord = { ...lease, expiresAt: saturatingAdd(u.now, item.extendByMs ?? lease.durationMs) };
    touchRun(core, u, run, run, next, { put: next });
    u.timersChanged = true;
    return { leaseExpiresAt: next.expiresAt, state: run.state, stop: false, stopReason: null };
  }
  if (run.lastLeaseToken === item.token && (run.state === "CANCELED" || run.state === "SUSPENDED")) {
    return { leaseExpiresAt: u.now, state: run.state, stop: true, stopReason: run.state };
  }
  throw leaseLost(run, item.token);
}

/** Finishes the open attempt with the worker's outcome. */
export function completeOne(core: Core, u: Unit, c: Completion): { run: RunRecord; attempt: AttemptRecord } {
  const { run, lease } = fenced(u, c.runId, c.token);
  if (run.state === "LEASED") {
    throw new EngineError("NO_ACTIVE_ATTEMPT", `run ${c.runId} has no open attempt; call StartAttempt first`, { metadata: { run_id: c.runId } });
  }
  const task = mustTask(u, run.taskId);
  const next = move(
    core,
    u,
    run,
    { type: "FINISH_ATTEMPT", at: u.now, attemptId: c.attemptId, outcome: c.outcome, maxAttempts: task.spec.constraints.maxAttempts },
    { lease, error: c.error, output: c.output, ...(c.outcome === "SUSPENDED" ? { reason: c.error || "SUSPENDED_BY_WORKER" } : {}) },
  );
  return { run: next, attempt: u.attempt(c.runId, run.attemptCount) as AttemptRecord };
}

/** Gives a LEASED run back (-> READY) without spending an attempt. */
export function releaseLease(core: Core, u: Unit, runId: RunId, token: LeaseToken): RunRecord {
  const { run, lease } = fenced(u, runId, token);
  return move(core, u, run, { type: "RELEASE_LEASE", at: u.now }, { lease });
}
