/**
 * What a handler receives (`Job`), and the worker's own record of a run it holds
 * (`HeldRun`, internal).
 */
import type { Run } from "../gen/actionqueue/v1/run_pb.js";
import type { Task } from "../gen/actionqueue/v1/task_pb.js";
import type { AbortReason } from "./failures.js";

/** The task's payload, unchanged. */
export interface JobPayload {
  /** The bytes (may be empty). */
  readonly data: Uint8Array;
  /** MIME type the producer declared, e.g. "application/json". */
  readonly contentType: string;
  /** The bytes decoded as UTF-8. */
  text(): string;
  /** The bytes parsed as JSON (throws SyntaxError, which fails the attempt retryably unless caught). */
  json<T = unknown>(): T;
}

/** One run handed to the handler. */
export interface Job {
  /** The run. */
  readonly runId: string;
  /** Its task. */
  readonly taskId: string;
  /** Its queue. */
  readonly queue: string;
  /** The open attempt: 1-based `number` and `id` (what CompleteAttempt names). */
  readonly attempt: { readonly number: number; readonly id: string };
  /** The task's payload. */
  readonly payload: JobPayload;
  /** The run as leased (state RUNNING): occurrence, priority, counted attempts, … */
  readonly run: Run;
  /** The task: spec (tags, description, constraints, parent), status, … */
  readonly task: Task;
  /** The attempt timeout from the task's constraints, in milliseconds; undefined when none. */
  readonly attemptTimeoutMs: number | undefined;
  /** This worker's id. */
  readonly workerId: string;
  /**
   * Aborts when the handler must stop: cancel, suspension, lease loss, attempt timeout or
   * shutdown. `signal.reason` is a RunAbortedError whose `reason` says which. Pass it to
   * fetch() and friends.
   */
  readonly signal: AbortSignal;
  /**
   * Extends the lease now (heartbeats are automatic; call this around a step the worker
   * cannot interrupt, or to learn early of a cancel). Joins the next batched heartbeat call.
   * Resolves when the lease is extended; rejects with the RunAbortedError when the run was
   * stopped, or with the call's error when the server could not be reached.
   */
  heartbeat(): Promise<void>;
}

/** Where a held run is in its life inside the worker. */
export type HeldPhase =
  /** The handler is running. */
  | "running"
  /** The handler settled; the outcome is queued or being sent. */
  | "completing"
  /** The run is being given back (shutdown): its outcome, if any comes, is ignored. */
  | "releasing"
  /** Nothing more will be sent for it. */
  | "done";

/** Why a held run stopped, and whether the server said so (confirmed) or the worker only suspects it. */
export interface HeldStop {
  readonly reason: AbortReason;
  /**
   * true when the server said the lease is gone (heartbeat stop or LEASE_LOST): the attempt is
   * already finished there and no completion is sent. false for the worker's own TIMEOUT,
   * SHUTDOWN or clock-based LEASE_LOST: the completion is still sent and the server decides.
   */
  confirmed: boolean;
}

/** A run the worker holds: leased, attempt started, not yet acknowledged complete. */
export interface HeldRun {
  readonly runId: string;
  readonly taskId: string;
  readonly queue: string;
  readonly token: string;
  readonly attemptId: string;
  readonly attemptNumber: number;
  readonly controller: AbortController;
  /** Worker-clock time (ms) when the lease reply arrived; event durations are measured from it. */
  readonly leasedAt: number;
  /**
   * Worker-clock time (ms) by which the lease lapses unless renewed: the send time of the
   * last successful heartbeat plus the lease length (for the first lease, the estimated grant
   * time; see #leaseLoop). Measured on the worker's own clock from its own send times, so it
   * never depends on the server's clock and is not later than the server's expiry.
   */
  leaseDeadline: number;
  phase: HeldPhase;
  stop: HeldStop | null;
  timeoutTimer: NodeJS.Timeout | null;
  /** The attempt timeout in milliseconds, or undefined. */
  readonly attemptTimeoutMs: number | undefined;
  /** Manual heartbeat() calls waiting for the next heartbeat round that includes this run. */
  waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
}

const utf8 = new TextDecoder();

/** The payload view of `data`/`contentType`. */
export function jobPayload(data: Uint8Array, contentType: string): JobPayload {
  return {
    data,
    contentType,
    text: () => utf8.decode(data),
    json: <T>() => JSON.parse(utf8.decode(data)) as T,
  };
}

/** Whether the worker still renews the lease of `h` (it is working on it or reporting it). */
export function needsHeartbeat(h: HeldRun): boolean {
  if (h.phase === "done") return false;
  // After a confirmed stop the lease is gone; after a clock-based LEASE_LOST renewing would
  // be refused anyway. A local TIMEOUT keeps the lease alive while the handler winds down,
  // and a SHUTDOWN give-back while its SUSPENDED outcome is on its way.
  return h.stop === null || (!h.stop.confirmed && (h.stop.reason === "TIMEOUT" || h.stop.reason === "SHUTDOWN"));
}
