/**
 * Giving runs back to the queue without spending an attempt.
 *
 * `resumeRun`: the second step of a give-back (after a SUSPENDED outcome, or after
 * SuspendRun), retried a few times on transient errors.
 *
 * `sweepOrphans`: the answer to a race that aborting a long poll cannot avoid. When close()
 * aborts a LeaseRuns call at the moment the server is answering it, the server may already
 * have leased runs (and started their attempts) for a reply nobody reads; the server gives
 * such runs back itself only when it sees the cancel before it answers. This worker has no
 * lease token for them, so it finds them by worker id — RUNNING runs of its queues whose
 * lease names this worker and that it does not hold — and gives them back with
 * RunService.SuspendRun (finishes the attempt uncounted) and ResumeRun (→ READY). Without the
 * sweep they would wait out their lease and then count a TIMEOUT attempt (test: "leaves every
 * run READY with no counted attempt when close() interrupts a long poll").
 *
 * This relies on the worker id being unique among live workers (the default is): a worker
 * closing would otherwise also give back the runs of another live worker using the same id.
 */
import { toActionQueueError } from "../errors.js";
import { RunState } from "../gen/actionqueue/v1/run_pb.js";
import { isTransient } from "./completions.js";
import { backoffDelay, type CompiledOptions, type WorkerOperation } from "./options.js";

/** Reasons that mean "nothing to do any more" for a give-back step. */
const SETTLED = new Set(["INVALID_TRANSITION", "RUN_TERMINAL", "RUN_NOT_FOUND"]);

/** What the give-back steps report to. */
export interface GiveBackDeps {
  readonly options: CompiledOptions;
  error(e: unknown, operation: WorkerOperation, runId?: string): void;
  random(): number;
}

/**
 * ResumeRun with up to five tries on transient errors. Resolves true when the run is READY
 * because of this call, false when it needed nothing (canceled, resumed by someone else) or
 * could not be resumed (reported to `error`).
 */
export async function resumeRun(deps: GiveBackDeps, runId: string): Promise<boolean> {
  for (let i = 0; ; i++) {
    try {
      await deps.options.clients.runs.resumeRun({ runId }, { timeoutMs: 10_000 });
      return true;
    } catch (e) {
      const err = toActionQueueError(e) as { reason?: unknown };
      if (typeof err.reason === "string" && SETTLED.has(err.reason)) return false;
      deps.error(err, "release", runId);
      if (!isTransient(err) || i >= 4) return false;
      await new Promise((r) => setTimeout(r, backoffDelay(deps.options, i, deps.random())));
    }
  }
}

/**
 * Gives back every RUNNING run of the worker's queues leased to its worker id that `held`
 * says it does not hold; calls `released` for each run made READY. Best effort: errors go to
 * `error` and end the sweep.
 */
export async function sweepOrphans(deps: GiveBackDeps, held: (runId: string) => boolean, released: (runId: string, taskId: string) => void): Promise<void> {
  const { clients, queues, workerId } = deps.options;
  try {
    for (const queue of queues) {
      let pageToken = "";
      do {
        const page = await clients.runs.listRuns({ queue, states: [RunState.RUNNING], pageSize: 1_000, pageToken }, { timeoutMs: 10_000 });
        for (const run of page.runs) {
          if (run.lease?.workerId !== workerId || held(run.id)) continue;
          try {
            await clients.runs.suspendRun({ runId: run.id }, { timeoutMs: 10_000 });
          } catch (e) {
            const err = toActionQueueError(e) as { reason?: unknown };
            // Given back meanwhile (by the server, which saw the cancel after all) or finished.
            if (typeof err.reason === "string" && SETTLED.has(err.reason)) continue;
            throw err;
          }
          if (await resumeRun(deps, run.id)) released(run.id, run.taskId);
        }
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
    }
  } catch (e) {
    deps.error(toActionQueueError(e), "release");
  }
}
