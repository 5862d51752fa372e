/**
 * Run lifecycle states and the transition table (SPEC §2), written down as data.
 *
 * - `SCHEDULED`  derived, waiting for its due time, its prerequisites or its cron window.
 * - `READY`      due and eligible; waiting for a lease. Entered by promotion, a retry wait
 *                ending, a resume, or a lease that lapsed or was released.
 * - `LEASED`     granted to one worker under a fenced lease; no attempt open yet.
 * - `RUNNING`    an attempt is open on the leasing worker.
 * - `RETRY_WAIT` the last attempt failed and a retry is due at `retryAt`.
 * - `SUSPENDED`  paused by the worker (outcome SUSPENDED) or an operator.
 * - `COMPLETED`, `FAILED`, `CANCELED`: terminal and immutable.
 */
export const RUN_STATES = [
  "SCHEDULED",
  "READY",
  "LEASED",
  "RUNNING",
  "RETRY_WAIT",
  "SUSPENDED",
  "COMPLETED",
  "FAILED",
  "CANCELED",
] as const;

/** A run lifecycle state; see the module comment for what moves a run into each. */
export type RunState = (typeof RUN_STATES)[number];

/** The terminal states: a run in one of them never changes again. */
export const TERMINAL_STATES: ReadonlySet<RunState> = new Set<RunState>(["COMPLETED", "FAILED", "CANCELED"]);

/** The allowed transitions, `from -> [to...]`. Every pair not listed is refused. */
export const TRANSITIONS: Readonly<Record<RunState, readonly RunState[]>> = {
  SCHEDULED: ["READY", "CANCELED"],
  READY: ["LEASED", "CANCELED"],
  LEASED: ["RUNNING", "READY", "CANCELED"],
  RUNNING: ["RETRY_WAIT", "SUSPENDED", "COMPLETED", "FAILED", "CANCELED"],
  RETRY_WAIT: ["READY", "FAILED", "CANCELED"],
  SUSPENDED: ["READY", "CANCELED"],
  COMPLETED: [],
  FAILED: [],
  CANCELED: [],
};

/** True for COMPLETED, FAILED and CANCELED. */
export function isTerminal(state: RunState): boolean {
  return TERMINAL_STATES.has(state);
}

/** True when the table allows `from -> to`. */
export function canTransition(from: RunState, to: RunState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** True for a string that names a run state. */
export function isRunState(s: string): s is RunState {
  return (RUN_STATES as readonly string[]).includes(s);
}
