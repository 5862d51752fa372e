/**
 * Worker options: what a caller writes (`WorkerOptions`) → defaults applied and every value
 * checked once (`compileOptions`) → `CompiledOptions`, which the rest of the worker reads
 * without re-checking. A bad option throws a TypeError (or RangeError) from createWorker,
 * never later from inside a loop.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { ActionQueueClients } from "../clients.js";
import { type ClientOptions, createClient } from "../client.js";
import type { AbortReason } from "./failures.js";
import type { OutcomeName } from "./outcome.js";
import type { Job } from "./job.js";

/** What a handler does with one run; its return value or throw decides the outcome (see outcome.ts). */
export type Handler = (job: Job) => unknown;

/** The worker's lifecycle; see `Worker.state`. */
export type WorkerState = "created" | "running" | "draining" | "closed";

/** What a worker call was doing when an error reached `onError`. */
export type WorkerOperation = "lease" | "heartbeat" | "complete" | "release" | "hook";

/** A run the worker took. */
export interface LeasedEvent {
  readonly runId: string;
  readonly taskId: string;
  readonly queue: string;
  /** 1-based attempt number. */
  readonly attempt: number;
}

/** The server accepted an attempt's outcome. */
export interface CompletedEvent extends LeasedEvent {
  readonly outcome: OutcomeName;
  /** The run's state after the completion, e.g. "COMPLETED", "RETRY_WAIT", "FAILED". */
  readonly state: string;
  /** Error text sent with a failure ("" for SUCCESS). */
  readonly error: string;
  /** From the lease to the server's acknowledgement, in milliseconds (worker clock). */
  readonly durationMs: number;
}

/** The worker stopped owning a run before it could report an outcome. */
export interface LeaseLostEvent {
  readonly runId: string;
  readonly taskId: string;
  /** CANCELED, SUSPENDED, TIMEOUT (the server timed the attempt out) or LEASE_LOST. */
  readonly reason: AbortReason;
  /**
   * How the worker learned it: a heartbeat reply, its own clock (the lease's deadline passed
   * without a successful heartbeat), or a refused / undeliverable completion.
   */
  readonly source: "heartbeat" | "clock" | "completion";
  /** The server's error (e.g. LeaseLostError) when there was one. */
  readonly error?: unknown;
}

/** A handler's signal aborted. */
export interface AbortedEvent {
  readonly runId: string;
  readonly taskId: string;
  readonly reason: AbortReason;
}

/**
 * Callbacks for logging and metrics. Each is called synchronously from the worker's loops;
 * a hook that throws is reported to `onError` (operation "hook") and otherwise ignored.
 */
export interface WorkerHooks {
  /** The worker changed state. */
  onStateChange?(e: { readonly from: WorkerState; readonly to: WorkerState }): void;
  /** A run was leased (and its attempt started). */
  onLeased?(e: LeasedEvent): void;
  /** The server accepted a SUCCESS outcome. */
  onCompleted?(e: CompletedEvent): void;
  /** The server accepted a TERMINAL_FAILURE, RETRYABLE_FAILURE, TIMEOUT or SUSPENDED outcome. */
  onFailed?(e: CompletedEvent): void;
  /** A handler's signal aborted (see AbortReason). */
  onAborted?(e: AbortedEvent): void;
  /** The worker lost a run; no outcome of it will be recorded by this worker. */
  onLeaseLost?(e: LeaseLostEvent): void;
  /** A run was given back to the queue at shutdown (READY again, no attempt counted). */
  onReleased?(e: { readonly runId: string; readonly taskId: string }): void;
  /** A call failed (it is retried where that makes sense); `runId` when one run is concerned. */
  onError?(error: unknown, context: { readonly operation: WorkerOperation; readonly runId?: string }): void;
}

/** Options of `createWorker`. Durations are milliseconds. */
export interface WorkerOptions {
  /** Server URL, e.g. "http://127.0.0.1:50051"; the worker builds its clients with createClient. Give `url` or `clients`. */
  readonly url?: string | URL | undefined;
  /** createClient options (protocol, token, tls, headers…) used with `url`. */
  readonly clientOptions?: ClientOptions | undefined;
  /** Prebuilt clients (createClient or createActionQueueClients); the worker never closes them. */
  readonly clients?: ActionQueueClients | undefined;
  /** Queues to lease from: 1 to 64 names, each [A-Za-z0-9._:-]{1,128}. */
  readonly queues: readonly string[];
  /** Most runs held at once (leased and not yet acknowledged complete): 1 to 10,000. Default 1. */
  readonly concurrency?: number | undefined;
  /** The function that does the work. */
  readonly handler: Handler;
  /** Identifies the worker in leases, attempts and logs. Default "<hostname>-<pid>-<random>". */
  readonly workerId?: string | undefined;
  /** Lease length asked for and renewed by each heartbeat: 1,000 to 3,600,000. Default 30,000. */
  readonly leaseDurationMs?: number | undefined;
  /** Time between two heartbeat rounds: 10 to leaseDurationMs / 2. Default leaseDurationMs / 3. */
  readonly heartbeatIntervalMs?: number | undefined;
  /** Long-poll wait of each LeaseRuns call: 1,000 to 60,000. Default 20,000. */
  readonly pollWaitMs?: number | undefined;
  /** Most runs asked for per LeaseRuns call: 1 to 1,000. Default min(concurrency, 100). */
  readonly maxLeaseBatch?: number | undefined;
  /** How long a finished run waits for others to share its BatchCompleteAttempts call: 0 to 1,000. Default 5. */
  readonly completionBatchMs?: number | undefined;
  /** Most completions per call: 1 to 1,000. Default 100. */
  readonly maxCompletionBatch?: number | undefined;
  /** Default deadline of `close()` and of a close triggered by `shutdownSignal`: 0 to 3,600,000. Default 30,000. */
  readonly shutdownTimeoutMs?: number | undefined;
  /** When this signal aborts, the worker closes. */
  readonly shutdownSignal?: AbortSignal | undefined;
  /**
   * Process signals that close the worker while it runs, e.g. ["SIGINT", "SIGTERM"]. The
   * first one starts close(); the listeners are then removed, so a second Ctrl-C kills the
   * process as usual. Default none (a library does not take over signals unasked).
   */
  readonly handleSignals?: readonly NodeJS.Signals[] | undefined;
  /** Capabilities the worker declares: at most 64, each [A-Za-z0-9._:-]{1,64}. Default none. */
  readonly capabilities?: readonly string[] | undefined;
  /** First delay after a failed LeaseRuns / completion call: 1 to 60,000. Default 100. */
  readonly reconnectInitialDelayMs?: number | undefined;
  /** Cap of the (doubling, jittered) delay between failed calls: ≥ the initial delay, ≤ 300,000. Default 5,000. */
  readonly reconnectMaxDelayMs?: number | undefined;
  /** Logging and metrics callbacks. */
  readonly hooks?: WorkerHooks | undefined;
}

/** Options after defaults and checks. */
export interface CompiledOptions {
  readonly clients: ActionQueueClients;
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly handler: Handler;
  readonly workerId: string;
  readonly leaseDurationMs: number;
  readonly heartbeatIntervalMs: number;
  readonly pollWaitMs: number;
  readonly maxLeaseBatch: number;
  readonly completionBatchMs: number;
  readonly maxCompletionBatch: number;
  readonly shutdownTimeoutMs: number;
  readonly shutdownSignal: AbortSignal | undefined;
  readonly handleSignals: readonly NodeJS.Signals[];
  readonly capabilities: readonly string[];
  readonly reconnectInitialDelayMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly hooks: WorkerHooks;
}

const QUEUE = /^[A-Za-z0-9._:-]{1,128}$/;
const CAPABILITY = /^[A-Za-z0-9._:-]{1,64}$/;
const WORKER_ID = /^[\x20-\x7e]{1,128}$/;

/** `value` when it is an integer in [min, max]; `def` when undefined; throws RangeError otherwise. */
function int(name: string, value: number | undefined, def: number, min: number, max: number): number {
  if (value === undefined) return def;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`createWorker: ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** The default worker id: host, process and a random suffix (two workers in one process differ). */
function defaultWorkerId(): string {
  const host = hostname().replace(/[^\x20-\x7e]/g, "?").slice(0, 80);
  return `${host}-${process.pid}-${randomBytes(4).toString("hex")}`;
}

/** Applies defaults and checks every option; throws TypeError / RangeError naming the option. */
export function compileOptions(o: WorkerOptions): CompiledOptions {
  if (typeof o !== "object" || o === null) throw new TypeError("createWorker: options are required");
  if (typeof o.handler !== "function") throw new TypeError("createWorker: handler must be a function");
  if ((o.url === undefined) === (o.clients === undefined)) throw new TypeError("createWorker: give exactly one of url and clients");
  if (o.clients !== undefined && o.clientOptions !== undefined) throw new TypeError("createWorker: clientOptions go with url, not with clients");
  if (!Array.isArray(o.queues) || o.queues.length < 1 || o.queues.length > 64) throw new TypeError("createWorker: queues must list 1 to 64 queue names");
  for (const q of o.queues) {
    if (typeof q !== "string" || !QUEUE.test(q)) throw new TypeError(`createWorker: queue name ${JSON.stringify(q)} must match [A-Za-z0-9._:-]{1,128}`);
  }
  const capabilities = o.capabilities ?? [];
  if (!Array.isArray(capabilities) || capabilities.length > 64) throw new TypeError("createWorker: capabilities must list at most 64 names");
  for (const c of capabilities) {
    if (typeof c !== "string" || !CAPABILITY.test(c)) throw new TypeError(`createWorker: capability ${JSON.stringify(c)} must match [A-Za-z0-9._:-]{1,64}`);
  }
  const workerId = o.workerId ?? defaultWorkerId();
  if (typeof workerId !== "string" || !WORKER_ID.test(workerId)) throw new TypeError("createWorker: workerId must be 1 to 128 printable ASCII characters");
  if (o.shutdownSignal !== undefined && !(o.shutdownSignal instanceof AbortSignal)) throw new TypeError("createWorker: shutdownSignal must be an AbortSignal");
  const handleSignals = o.handleSignals ?? [];
  if (!Array.isArray(handleSignals) || handleSignals.some((sig) => typeof sig !== "string" || !/^SIG[A-Z0-9]+$/.test(sig))) {
    throw new TypeError('createWorker: handleSignals must list signal names such as "SIGTERM"');
  }

  const concurrency = int("concurrency", o.concurrency, 1, 1, 10_000);
  const leaseDurationMs = int("leaseDurationMs", o.leaseDurationMs, 30_000, 1_000, 3_600_000);
  // At most half the lease, so that at least one retry fits before the lease runs out.
  const heartbeatIntervalMs = int("heartbeatIntervalMs", o.heartbeatIntervalMs, Math.floor(leaseDurationMs / 3), 10, Math.floor(leaseDurationMs / 2));
  const reconnectInitialDelayMs = int("reconnectInitialDelayMs", o.reconnectInitialDelayMs, 100, 1, 60_000);
  const reconnectMaxDelayMs = int("reconnectMaxDelayMs", o.reconnectMaxDelayMs, Math.max(5_000, reconnectInitialDelayMs), reconnectInitialDelayMs, 300_000);
  const hooks = o.hooks ?? {};
  if (typeof hooks !== "object" || hooks === null) throw new TypeError("createWorker: hooks must be an object of callbacks");
  for (const [name, fn] of Object.entries(hooks)) {
    if (fn !== undefined && typeof fn !== "function") throw new TypeError(`createWorker: hooks.${name} must be a function`);
  }

  // createClient validates the URL and the client options (TypeError) right here, too.
  const clients = o.clients ?? createClient(o.url as string | URL, o.clientOptions ?? {});
  return {
    clients,
    queues: [...o.queues],
    concurrency,
    handler: o.handler,
    workerId,
    leaseDurationMs,
    heartbeatIntervalMs,
    pollWaitMs: int("pollWaitMs", o.pollWaitMs, 20_000, 1_000, 60_000),
    maxLeaseBatch: int("maxLeaseBatch", o.maxLeaseBatch, Math.min(concurrency, 100), 1, 1_000),
    completionBatchMs: int("completionBatchMs", o.completionBatchMs, 5, 0, 1_000),
    maxCompletionBatch: int("maxCompletionBatch", o.maxCompletionBatch, 100, 1, 1_000),
    shutdownTimeoutMs: int("shutdownTimeoutMs", o.shutdownTimeoutMs, 30_000, 0, 3_600_000),
    shutdownSignal: o.shutdownSignal,
    handleSignals: [...handleSignals],
    capabilities: [...capabilities],
    reconnectInitialDelayMs,
    reconnectMaxDelayMs,
    hooks,
  };
}

/**
 * Delay before retry number `failures` (0-based): doubling from the initial delay, capped,
 * with "equal jitter" (uniform in [d/2, d]) so that workers cut off together do not all
 * come back in the same millisecond. `random` in [0, 1) is injected for tests.
 */
export function backoffDelay(o: Pick<CompiledOptions, "reconnectInitialDelayMs" | "reconnectMaxDelayMs">, failures: number, random: number): number {
  const exp = Math.min(o.reconnectMaxDelayMs, o.reconnectInitialDelayMs * 2 ** Math.min(failures, 30));
  return Math.round(exp / 2 + (exp / 2) * random);
}
