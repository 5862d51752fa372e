/**
 * Heartbeats: every `heartbeatIntervalMs`, ONE BatchHeartbeat call (chunks of 1,000) renews
 * the lease of every run the worker holds. Before each round the worker compares its clock
 * with each lease's local deadline: a run whose deadline passed (the event loop was blocked
 * by user code longer than the lease, or the server was unreachable) is reported lost at
 * once instead of being silently worked on.
 *
 * Replies: `stop` (CANCELED / SUSPENDED) and an item error LEASE_LOST stop the run
 * (confirmed: the server already finished the attempt); a LEASE_LOST whose cause is
 * ATTEMPT_TIMEOUT stops it as TIMEOUT. Any other failure is reported to `onError` and the
 * next round tries again.
 */
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { ActionQueueError, fromBatchItemError, toActionQueueError } from "../errors.js";
import { StopReason } from "../gen/actionqueue/v1/worker_service_pb.js";
import type { AbortReason } from "./failures.js";
import { type HeldRun, needsHeartbeat } from "./job.js";
import { backoffDelay, type CompiledOptions, type LeaseLostEvent, type WorkerOperation } from "./options.js";

/** The BatchHeartbeat item limit. */
const MAX_BATCH = 1_000;

/** What the heartbeat loop needs from the worker. */
export interface HeartbeatDeps {
  readonly options: CompiledOptions;
  /** The runs held now. */
  held(): Iterable<HeldRun>;
  /** Stops a run (aborts its signal); `confirmed` when the server said so. */
  stop(run: HeldRun, reason: AbortReason, confirmed: boolean, source: LeaseLostEvent["source"], error?: unknown): void;
  error(e: unknown, operation: WorkerOperation, runId?: string): void;
  now(): number;
  random(): number;
}

/** The heartbeat loop of one worker. */
export class Heartbeats {
  readonly #deps: HeartbeatDeps;
  #timer: NodeJS.Timeout | null = null;
  #inFlight: Promise<void> | null = null;
  /** A manual heartbeat asked for a round while one was in flight. */
  #again = false;
  /** Consecutive rounds whose call failed as a whole; drives the early retry. */
  #failures = 0;
  #retryTimer: NodeJS.Timeout | null = null;

  constructor(deps: HeartbeatDeps) {
    this.#deps = deps;
  }

  /** Starts the periodic rounds. */
  start(): void {
    // setInterval, not a chain of timeouts: after a blocked event loop the overdue round runs
    // at once and notices the lapsed leases.
    this.#timer ??= setInterval(() => this.#kick(), this.#deps.options.heartbeatIntervalMs);
  }

  /** Stops the rounds and waits for the one in flight. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#timer = null;
    this.#retryTimer = null;
    this.#again = false;
    await this.#inFlight;
  }

  /** Runs `run` in a round soon; resolves when its lease was renewed (see Job.heartbeat). */
  request(run: HeldRun): Promise<void> {
    // A stopped run has nothing to renew: the handler learns why.
    if (run.stop !== null) return Promise.reject(run.controller.signal.reason as Error);
    if (!needsHeartbeat(run)) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => run.waiters.push({ resolve, reject }));
    this.#kick();
    return p;
  }

  /** A round now, or right after the one in flight. */
  #kick(): void {
    if (this.#inFlight) {
      this.#again = true;
      return;
    }
    this.#inFlight = this.#round()
      .catch((e: unknown) => this.#deps.error(e, "heartbeat"))
      .finally(() => {
        this.#inFlight = null;
        if (this.#timer === null) return;
        if (this.#again) {
          this.#again = false;
          this.#kick();
        } else if (this.#failures > 0 && this.#retryTimer === null) {
          // The server was unreachable: try again before the next regular round (when that
          // is sooner), so that a restarted server sees the leases renewed quickly.
          const delay = backoffDelay(this.#deps.options, this.#failures - 1, this.#deps.random());
          if (delay < this.#deps.options.heartbeatIntervalMs) {
            this.#retryTimer = setTimeout(() => {
              this.#retryTimer = null;
              this.#kick();
            }, delay);
          }
        }
      });
  }

  async #round(): Promise<void> {
    const { options } = this.#deps;
    const now = this.#deps.now();
    const batch: HeldRun[] = [];
    for (const run of this.#deps.held()) {
      if (!needsHeartbeat(run)) continue;
      if (now >= run.leaseDeadline) {
        // Whatever the server says now, this worker went longer than a lease without a
        // renewal: tell the handler (test: "a handler that outlives its lease ...").
        this.#deps.stop(run, "LEASE_LOST", false, "clock");
        continue;
      }
      batch.push(run);
    }
    for (let i = 0; i < batch.length; i += MAX_BATCH) {
      await this.#send(batch.slice(i, i + MAX_BATCH), options.leaseDurationMs);
    }
  }

  async #send(runs: HeldRun[], leaseDurationMs: number): Promise<void> {
    const sentAt = this.#deps.now();
    let results;
    try {
      const reply = await this.#deps.options.clients.workers.batchHeartbeat(
        { heartbeats: runs.map((r) => ({ runId: r.runId, leaseToken: r.token, extendBy: durationFromMs(leaseDurationMs) })) },
        // A hung call must not hold the next rounds back past the lease.
        { timeoutMs: Math.max(1_000, this.#deps.options.heartbeatIntervalMs) },
      );
      results = reply.results;
      this.#failures = 0;
    } catch (e) {
      const err = toActionQueueError(e);
      this.#failures++;
      this.#deps.error(err, "heartbeat");
      for (const r of runs) settleWaiters(r, err);
      return;
    }
    const byId = new Map(runs.map((r) => [r.runId, r]));
    for (const res of results) {
      const run = byId.get(res.runId);
      if (run === undefined) continue;
      byId.delete(res.runId);
      // Completed (or given back) while the heartbeat was in flight: its answer is stale.
      if (!needsHeartbeat(run)) continue;
      if (res.result.case === "ok") {
        const ok = res.result.value;
        if (ok.stop) {
          const reason: AbortReason = ok.stopReason === StopReason.SUSPENDED ? "SUSPENDED" : "CANCELED";
          this.#deps.stop(run, reason, true, "heartbeat");
        } else {
          run.leaseDeadline = Math.max(run.leaseDeadline, sentAt + leaseDurationMs);
        }
        settleWaiters(run, null);
      } else if (res.result.case === "error") {
        const err = fromBatchItemError(res.result.value);
        if (err.reason === "LEASE_LOST") {
          const reason: AbortReason = err.metadata["cause"] === "ATTEMPT_TIMEOUT" ? "TIMEOUT" : "LEASE_LOST";
          this.#deps.stop(run, reason, true, "heartbeat", err);
        } else {
          this.#deps.error(err, "heartbeat", run.runId);
        }
        settleWaiters(run, err);
      }
    }
    // A run the reply did not mention (should not happen): its waiters learn nothing new.
    for (const run of byId.values()) settleWaiters(run, new ActionQueueError("heartbeat reply did not mention the run", { code: Code.Unknown, reason: "" }));
  }
}

/** Resolves (error null and the run still renewed) or rejects the manual heartbeats of `run`. */
function settleWaiters(run: HeldRun, error: unknown): void {
  if (run.waiters.length === 0) return;
  const waiters = run.waiters;
  run.waiters = [];
  const stopped = run.stop !== null;
  for (const w of waiters) {
    if (stopped) w.reject(run.controller.signal.reason);
    else if (error !== null) w.reject(error);
    else w.resolve();
  }
}
