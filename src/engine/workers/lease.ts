/**
 * Handing runs to workers (SPEC §5): selection from the ready index, the lease with its
 * fencing token, the optional attempt start in the same command, and the fencing check
 * every later worker call goes through.
 */
import type { LeaseToken, RunId } from "../../domain/ids.js";
import type { CompiledLeaseRequest } from "../../domain/requests.js";
import { saturatingAdd } from "../../domain/time.js";
import type { LeaseGrant, LeaseResult } from "../api.js";
import type { Unit } from "../commit/unit.js";
import { type Core, mustRun, mustTask } from "../core.js";
import { EngineError } from "../errors.js";
import type { ReadyInfo } from "../memory/ready-index.js";
import type { ClaimRequest } from "../ports.js";
import type { LeaseRecord, RunRecord } from "../records.js";
import { move } from "../tasks/cascade.js";
import type { RateLimiter } from "./rate-limit.js";

/** Whether a queue hands out nothing at `now`: paused (or the engine is), or out of rate tokens. */
function closedNow(core: Core, rates: RateLimiter, now: number): (queue: string) => boolean {
  return (q) => core.isPaused(q) || !rates.allows(core.queues.get(q), now);
}

/** Queues of `queues` that hand out nothing now. */
export function pausedOf(core: Core, queues: readonly string[]): string[] {
  return queues.filter((q) => core.isPaused(q));
}

/** Leases up to `req.maxRuns` READY runs now (no waiting). */
export function leaseNow(core: Core, rates: RateLimiter, u: Unit, req: CompiledLeaseRequest, onRateWake: (queues: readonly string[]) => void): LeaseResult {
  const { queues } = req;
  const grants: LeaseGrant[] = [];
  const skip = closedNow(core, rates, u.now);
  let rateLimited = false;
  // Runs another server's batch has claimed: set aside while this command selects.
  const aside: ReadyInfo[] = [];
  while (grants.length < req.maxRuns) {
    const info = core.ready.best(queues, req.capabilities, skip);
    if (!info) break;
    if (!mayHandOut(core, info.runId)) {
      core.ready.remove(info.runId, u.journal);
      aside.push(info);
      continue;
    }
    const run = u.run(info.runId);
    if (!run || run.state !== "READY") {
      // Stale index entry (should not happen): drop it and go on.
      core.ready.remove(info.runId, u.journal);
      continue;
    }
    const lease: LeaseRecord = {
      runId: run.id,
      token: core.ids.leaseToken(),
      workerId: req.workerId,
      grantedAt: u.now,
      expiresAt: saturatingAdd(u.now, req.leaseDurationMs),
      durationMs: req.leaseDurationMs,
    };
    let leased = move(core, u, run, { type: "LEASE", at: u.now }, { lease });
    const spent = rates.take(core.queues.get(run.queue), u.now);
    if (spent) {
      u.journal.record(spent.undo);
      if (spent.empty) rateLimited = true;
    }
    let attempt = null;
    if (req.startAttempt) {
      leased = move(core, u, leased, { type: "START_ATTEMPT", at: u.now, attemptId: core.ids.attemptId() }, { lease });
      attempt = u.attempt(leased.id, leased.attemptCount) ?? null;
    }
    grants.push({ run: leased, task: mustTask(u, run.taskId), lease, attempt });
  }
  for (const info of aside) core.ready.add(info, u.journal);
  if (rateLimited || queues.some((q) => !rates.allows(core.queues.get(q), u.now) && core.ready.countOf(q) > 0)) onRateWake(queues);
  return { grants, pausedQueues: pausedOf(core, queues) };
}

/**
 * Whether this batch may hand out `runId`: with concurrent commits, a run READY in committed
 * state only when this batch's transaction claimed it (another server's batch may be handing
 * it out: FOR UPDATE SKIP LOCKED skipped it); a run that became READY in this batch always.
 */
function mayHandOut(core: Core, runId: RunId): boolean {
  const claimed = core.claimed;
  if (claimed === null || claimed.has(runId)) return true;
  return core.store.reader.getRun(runId)?.state !== "READY";
}

/**
 * What a LeaseRuns may hand out now, for its batch's claim (concurrent commits;
 * docs/scaling.md): its queues that are not paused or out of rate tokens; null when none is.
 */
export function leaseClaim(core: Core, rates: RateLimiter, req: CompiledLeaseRequest, now: number): ClaimRequest | null {
  const closed = closedNow(core, rates, now);
  const queues = req.queues.filter((q) => !closed(q));
  if (queues.length === 0) return null;
  return { kind: "runs", queues, capabilities: [...req.capabilities], max: req.maxRuns };
}

/**
 * The run and its lease when `token` owns it now; LEASE_LOST otherwise (an expired lease is
 * lost even before its timer fires). The error says why when the run shows it.
 */
export function fenced(u: Unit, runId: RunId, token: LeaseToken): { run: RunRecord; lease: LeaseRecord } {
  const run = mustRun(u, runId);
  const lease = u.lease(runId);
  if (!lease || lease.token !== token || lease.expiresAt <= u.now) throw leaseLost(run, token);
  return { run, lease };
}

/**
 * LEASE_LOST for a caller whose token no longer owns `run`. When this token's lease ended
 * because the attempt timed out or the lease expired, the message and metadata say so.
 */
export function leaseLost(run: RunRecord, token: LeaseToken): EngineError {
  const metadata: Record<string, string> = { run_id: run.id, state: run.state };
  let why = "";
  if (run.lastLeaseToken === token && run.stateReason !== "") {
    metadata.cause = run.stateReason;
    if (run.stateReason === "ATTEMPT_TIMEOUT") why = ": the attempt exceeded its timeout";
    else if (run.stateReason === "LEASE_EXPIRED") why = ": the lease expired before it was renewed";
    else why = ` (run is ${run.state}: ${run.stateReason})`;
  }
  return new EngineError("LEASE_LOST", `the lease on run ${run.id} is no longer held by this token${why}`, { metadata });
}
