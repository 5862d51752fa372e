/**
 * Batched completions: runs that finish close together share one BatchCompleteAttempts call
 * (up to `maxCompletionBatch` items). The first queued item arms a `completionBatchMs`
 * timer; a full batch goes at once; at most one call is in flight, and what queues up
 * meanwhile goes in the next call, as a group commit does.
 *
 * A call that fails as a whole with a transient error (server unreachable or restarting,
 * overloaded) is retried with jittered, capped backoff while the run's lease can still be
 * alive (its heartbeats keep running meanwhile); past the lease's local deadline the item is
 * given up as lost, since the server will have expired the lease by then. Each item's own
 * answer (accepted, or refused with a reason) goes to `settle`.
 */
import { Code } from "@connectrpc/connect";
import { ActionQueueError, fromBatchItemError, isRetryable, toActionQueueError } from "../errors.js";
import type { CompleteAttemptResponse } from "../gen/actionqueue/v1/worker_service_pb.js";
import type { HeldRun } from "./job.js";
import { backoffDelay, type CompiledOptions, type WorkerOperation } from "./options.js";
import { OUTCOME_PB, type Outcome } from "./outcome.js";

/** One completion to send. */
export interface PendingCompletion {
  readonly run: HeldRun;
  readonly outcome: Outcome;
  /** A shutdown give-back (SUSPENDED, then ResumeRun) rather than the handler's outcome. */
  readonly giveBack: boolean;
}

/** The server's answer for one completion, or why none came. */
export type CompletionResult =
  | { readonly kind: "accepted"; readonly response: CompleteAttemptResponse }
  | { readonly kind: "refused"; readonly error: ActionQueueError }
  | { readonly kind: "undelivered"; readonly error: unknown };

/** What the batcher needs from the worker. */
export interface CompletionDeps {
  readonly options: CompiledOptions;
  settle(item: PendingCompletion, result: CompletionResult): void;
  error(e: unknown, operation: WorkerOperation, runId?: string): void;
  now(): number;
  random(): number;
}

/**
 * Whether a failed call may succeed unchanged later. Beyond isRetryable (UNAVAILABLE,
 * ABORTED, OVERLOADED): errors with no server reason that a dying connection produces
 * (DEADLINE_EXCEEDED, UNKNOWN, INTERNAL, CANCELED without ErrorInfo).
 */
export function isTransient(e: unknown): boolean {
  if (isRetryable(e)) return true;
  const err = toActionQueueError(e) as { code?: unknown; reason?: unknown };
  if (typeof err !== "object" || err === null || err.reason !== "") return false;
  return err.code === Code.DeadlineExceeded || err.code === Code.Unknown || err.code === Code.Internal || err.code === Code.Canceled;
}

/** The completion batcher of one worker. */
export class Completions {
  readonly #deps: CompletionDeps;
  #queue: PendingCompletion[] = [];
  #timer: NodeJS.Timeout | null = null;
  #inFlight: Promise<void> | null = null;
  #failures = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(deps: CompletionDeps) {
    this.#deps = deps;
  }

  /** Items queued or being sent. */
  get pending(): number {
    return this.#queue.length + (this.#inFlight ? 1 : 0);
  }

  /** Queues one completion. */
  add(item: PendingCompletion): void {
    this.#queue.push(item);
    this.#schedule();
  }

  /** Sends what is queued without waiting for the batch timer; resolves when nothing is left. */
  async drain(): Promise<void> {
    if (this.#queue.length === 0 && this.#inFlight === null && this.#timer === null) return;
    const idle = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    if (this.#timer && this.#failures === 0) this.#fire();
    await idle;
  }

  #schedule(delayMs = this.#deps.options.completionBatchMs): void {
    if (this.#inFlight || this.#timer) return;
    if (this.#queue.length === 0) {
      for (const w of this.#idleWaiters.splice(0)) w();
      return;
    }
    if (this.#queue.length >= this.#deps.options.maxCompletionBatch && this.#failures === 0) delayMs = 0;
    this.#timer = setTimeout(() => this.#fire(), delayMs);
  }

  #fire(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const batch = this.#queue.splice(0, this.#deps.options.maxCompletionBatch);
    this.#inFlight = this.#send(batch)
      .catch((e: unknown) => this.#deps.error(e, "complete"))
      .finally(() => {
        this.#inFlight = null;
        this.#schedule(this.#failures === 0 ? 0 : backoffDelay(this.#deps.options, this.#failures - 1, this.#deps.random()));
      });
  }

  async #send(batch: PendingCompletion[]): Promise<void> {
    let results;
    try {
      const reply = await this.#deps.options.clients.workers.batchCompleteAttempts({
        completions: batch.map((c) => ({
          runId: c.run.runId,
          leaseToken: c.run.token,
          attemptId: c.run.attemptId,
          outcome: OUTCOME_PB[c.outcome.outcome],
          output: c.outcome.output,
          error: c.outcome.error,
        })),
      });
      results = reply.results;
      this.#failures = 0;
    } catch (e) {
      const err = toActionQueueError(e);
      this.#deps.error(err, "complete");
      if (!isTransient(err)) {
        // The whole call was refused (e.g. a malformed batch): no retry can help.
        this.#failures = 0;
        for (const c of batch) this.#deps.settle(c, { kind: "undelivered", error: err });
        return;
      }
      this.#failures++;
      const now = this.#deps.now();
      const retry: PendingCompletion[] = [];
      for (const c of batch) {
        // Past the deadline the server has expired the lease: a retry would be refused.
        if (now >= c.run.leaseDeadline) this.#deps.settle(c, { kind: "undelivered", error: err });
        else retry.push(c);
      }
      this.#queue.unshift(...retry);
      return;
    }
    const byId = new Map(batch.map((c) => [c.run.runId, c]));
    for (const res of results) {
      const c = byId.get(res.runId);
      if (c === undefined) continue;
      byId.delete(res.runId);
      if (res.result.case === "ok") this.#deps.settle(c, { kind: "accepted", response: res.result.value });
      else if (res.result.case === "error") {
        const err = fromBatchItemError(res.result.value);
        if (isRetryable(err) && this.#deps.now() < c.run.leaseDeadline) {
          // E.g. STORAGE_IO on this item: nothing was applied; try it again.
          this.#queue.push(c);
          continue;
        }
        this.#deps.settle(c, { kind: "refused", error: err });
      }
    }
    for (const c of byId.values()) this.#deps.settle(c, { kind: "undelivered", error: new Error("the reply did not mention the run") });
  }
}

/** Errors after which leasing cannot succeed without a change of configuration (the worker stops). */
export function isFatal(e: unknown): boolean {
  if (!ActionQueueError.is(e)) return false;
  return e.code === Code.InvalidArgument || e.code === Code.Unauthenticated || e.code === Code.PermissionDenied || e.code === Code.Unimplemented;
}
