/**
 * The errors a handler throws to choose an outcome (`NonRetryableError`, `SuspendError`), the
 * reason its `signal` aborts with (`RunAbortedError`), and the error a worker method throws
 * when called in the wrong state (`WorkerStateError`).
 */

/**
 * Why a handler's `signal` aborted:
 * - `CANCELED`: the run was canceled (RunService.CancelRun, a task cancel or a cascade); the
 *   server already finished the attempt as CANCELED.
 * - `SUSPENDED`: an operator suspended the run; the server already finished the attempt.
 * - `LEASE_LOST`: the worker no longer owns the run: a heartbeat or completion was refused
 *   with LEASE_LOST, or the lease's local deadline passed without a successful heartbeat
 *   (blocked event loop, server unreachable).
 * - `TIMEOUT`: the task's `attempt_timeout` elapsed (measured by the worker, or the server
 *   already timed the attempt out).
 * - `SHUTDOWN`: `close()` reached its deadline while the handler was still running; the run
 *   was given back.
 */
export type AbortReason = "CANCELED" | "SUSPENDED" | "LEASE_LOST" | "TIMEOUT" | "SHUTDOWN";

/** Every AbortReason, for exhaustive tables and validation. */
export const ABORT_REASONS: readonly AbortReason[] = ["CANCELED", "SUSPENDED", "LEASE_LOST", "TIMEOUT", "SHUTDOWN"];

/**
 * Thrown from a handler: the attempt fails for good (outcome TERMINAL_FAILURE, the run
 * becomes FAILED whatever `max_attempts` says). The attempt's error text is
 * `"<name>: <message>"`. Any error with a `nonRetryable: true` property is treated the same
 * (a structural check, so errors from another copy of this package count too).
 */
export class NonRetryableError extends Error {
  /** Marks the error as terminal (read structurally by the worker). */
  readonly nonRetryable = true as const;

  /** `message` becomes the attempt's error text; `options.cause` is kept for the caller's logs. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NonRetryableError";
  }
}

/**
 * Thrown from a handler: the worker pauses the run (outcome SUSPENDED; the run becomes
 * SUSPENDED until RunService.ResumeRun, and this attempt does not count toward
 * `max_attempts`). `reason` (default "SUSPENDED_BY_WORKER") becomes the run's state_reason.
 */
export class SuspendError extends Error {
  /** Marks the error as a suspension (read structurally by the worker). */
  readonly suspend = true as const;
  /** The text recorded as the attempt's error and the run's state_reason. */
  readonly reason: string;

  /** `reason`: why the run is paused, e.g. "WAITING_FOR_APPROVAL". */
  constructor(reason = "SUSPENDED_BY_WORKER", options?: ErrorOptions) {
    super(reason, options);
    this.name = "SuspendError";
    this.reason = reason;
  }
}

/**
 * The `signal.reason` of an aborted handler: `reason` says why (see AbortReason), `runId`
 * which run. `cause` is the server's error when one told the worker (e.g. LeaseLostError).
 */
export class RunAbortedError extends Error {
  /** Why the handler must stop. */
  readonly reason: AbortReason;
  /** The run the handler was working on. */
  readonly runId: string;

  /** Built by the worker; handlers only read it. */
  constructor(reason: AbortReason, runId: string, detail: string, options?: ErrorOptions) {
    super(`run ${runId}: ${reason}${detail === "" ? "" : ` (${detail})`}`, options);
    this.name = "RunAbortedError";
    this.reason = reason;
    this.runId = runId;
  }
}

/** A worker method was called in a state that does not allow it; `state` is the current state. */
export class WorkerStateError extends Error {
  /** The worker's state when the call was refused. */
  readonly state: string;

  /** `method`: what was called; `state`: the current state. */
  constructor(method: string, state: string, allowed: string) {
    super(`worker.${method}() is not allowed in state "${state}" (only in ${allowed})`);
    this.name = "WorkerStateError";
    this.state = state;
  }
}

/**
 * The human part of a RunAbortedError's message. `byClock`: the worker decided on its own
 * (its timer or its clock), rather than on the server's word.
 */
export function abortDetail(reason: AbortReason, byClock: boolean, attemptTimeoutMs: number | undefined): string {
  switch (reason) {
    case "CANCELED":
      return "the run was canceled";
    case "SUSPENDED":
      return "the run was suspended";
    case "TIMEOUT":
      return byClock ? `the attempt timeout of ${attemptTimeoutMs ?? 0} ms elapsed` : "the server timed the attempt out";
    case "SHUTDOWN":
      return "the worker is shutting down";
    case "LEASE_LOST":
      return byClock ? "no heartbeat succeeded before the lease's deadline" : "the server no longer accepts this lease";
  }
}
