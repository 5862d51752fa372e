/**
 * The worker SDK: `createWorker(options)` leases runs of some queues, hands each to a
 * handler with an AbortSignal, renews leases with batched heartbeats, reports outcomes with
 * batched completions, reconnects after server restarts and drains on close. See
 * worker.ts for the state union and options.ts for every option and its default.
 *
 * ```ts
 * const worker = createWorker({ url: "http://127.0.0.1:50051", queues: ["emails"], concurrency: 8,
 *   handleSignals: ["SIGINT", "SIGTERM"], handler: async (job) => send(job.payload.json(), { signal: job.signal }) });
 * await worker.run(); // resolves once a signal (or close()) has drained the worker
 * ```
 */
import { compileOptions, type WorkerOptions } from "./options.js";
import { type Worker, WorkerImpl } from "./worker.js";

export { ABORT_REASONS, type AbortReason, NonRetryableError, RunAbortedError, SuspendError, WorkerStateError } from "./failures.js";
export type { Job, JobPayload } from "./job.js";
export type {
  AbortedEvent,
  CompletedEvent,
  Handler,
  LeaseLostEvent,
  LeasedEvent,
  WorkerHooks,
  WorkerOperation,
  WorkerOptions,
  WorkerState,
} from "./options.js";
export type { OutcomeName } from "./outcome.js";
export type { CloseOptions, Worker } from "./worker.js";

/**
 * Builds a worker (state "created"; nothing runs until `run()`). Options are resolved once:
 * defaults applied, every value checked; a bad option throws TypeError or RangeError here.
 */
export function createWorker(options: WorkerOptions): Worker {
  return new WorkerImpl(compileOptions(options));
}
