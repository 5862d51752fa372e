/**
 * Proto enums to domain strings and back. UNSPECIFIED and unknown numbers of a required enum
 * are violations; optional ones (misfire, hold policy) decode UNSPECIFIED as "unset".
 */
import type { MisfirePolicy as DomainMisfire } from "../../domain/derive.js";
import type { HoldPolicy } from "../../domain/keys.js";
import type { AttemptOutcome as DomainOutcome } from "../../domain/retry.js";
import type { RunState as DomainState } from "../../domain/state.js";
import type { TaskStatus as DomainTaskStatus } from "../../domain/task.js";
import { AttemptOutcome, RunState } from "../../gen/actionqueue/v1/run_pb.js";
import { HoldPolicy as PbHoldPolicy, MisfirePolicy, TaskStatus } from "../../gen/actionqueue/v1/task_pb.js";
import type { Violations } from "./wire.js";

export const STATE_TO_PB: Record<DomainState, RunState> = {
  SCHEDULED: RunState.SCHEDULED,
  READY: RunState.READY,
  LEASED: RunState.LEASED,
  RUNNING: RunState.RUNNING,
  RETRY_WAIT: RunState.RETRY_WAIT,
  SUSPENDED: RunState.SUSPENDED,
  COMPLETED: RunState.COMPLETED,
  FAILED: RunState.FAILED,
  CANCELED: RunState.CANCELED,
};
const PB_TO_STATE = new Map<number, DomainState>(Object.entries(STATE_TO_PB).map(([k, n]) => [n, k as DomainState]));

export const stateToPb = (s: DomainState): RunState => STATE_TO_PB[s];

/** Domain state of a proto enum value; adds a violation for UNSPECIFIED or unknown numbers. */
export function pbToState(n: RunState, field: string, v: Violations): DomainState | null {
  const s = PB_TO_STATE.get(n);
  if (!s) v.add(field, `is not a run state (${n})`);
  return s ?? null;
}

export const OUTCOME_TO_PB: Record<DomainOutcome, AttemptOutcome> = {
  SUCCESS: AttemptOutcome.SUCCESS,
  TERMINAL_FAILURE: AttemptOutcome.TERMINAL_FAILURE,
  RETRYABLE_FAILURE: AttemptOutcome.RETRYABLE_FAILURE,
  TIMEOUT: AttemptOutcome.TIMEOUT,
  SUSPENDED: AttemptOutcome.SUSPENDED,
  CANCELED: AttemptOutcome.CANCELED,
};

/** Worker outcome of a proto value; UNSPECIFIED, CANCELED and unknown numbers are violations. */
export function pbToWorkerOutcome(n: AttemptOutcome, field: string, v: Violations): Exclude<DomainOutcome, "CANCELED"> | null {
  switch (n) {
    case AttemptOutcome.SUCCESS:
      return "SUCCESS";
    case AttemptOutcome.TERMINAL_FAILURE:
      return "TERMINAL_FAILURE";
    case AttemptOutcome.RETRYABLE_FAILURE:
      return "RETRYABLE_FAILURE";
    case AttemptOutcome.TIMEOUT:
      return "TIMEOUT";
    case AttemptOutcome.SUSPENDED:
      return "SUSPENDED";
    case AttemptOutcome.CANCELED:
      v.add(field, "CANCELED is set by the server only");
      return null;
    default:
      v.add(field, n === AttemptOutcome.UNSPECIFIED ? "is required" : `is not an attempt outcome (${n})`);
      return null;
  }
}

export const TASK_STATUS_TO_PB: Record<DomainTaskStatus, TaskStatus> = {
  ACTIVE: TaskStatus.ACTIVE,
  COMPLETED: TaskStatus.COMPLETED,
  FAILED: TaskStatus.FAILED,
  CANCELED: TaskStatus.CANCELED,
};
const PB_TO_TASK_STATUS = new Map<number, DomainTaskStatus>(Object.entries(TASK_STATUS_TO_PB).map(([k, n]) => [n, k as DomainTaskStatus]));

/** Domain task status of a proto value, or a violation. */
export function pbToTaskStatus(n: TaskStatus, field: string, v: Violations): DomainTaskStatus | null {
  const s = PB_TO_TASK_STATUS.get(n);
  if (!s) v.add(field, `is not a task status (${n})`);
  return s ?? null;
}

/** Misfire policy of a proto value (UNSPECIFIED: CATCH_UP, the default). */
export function misfireOf(n: MisfirePolicy, field: string, v: Violations): DomainMisfire {
  switch (n) {
    case MisfirePolicy.UNSPECIFIED:
    case MisfirePolicy.CATCH_UP:
      return "CATCH_UP";
    case MisfirePolicy.SKIP:
      return "SKIP";
    case MisfirePolicy.COALESCE:
      return "COALESCE";
    default:
      v.add(field, `is not a misfire policy (${n})`);
      return "CATCH_UP";
  }
}

/** Hold policy of a proto value (UNSPECIFIED: unset, the domain default). */
export function holdOf(n: PbHoldPolicy, field: string, v: Violations): HoldPolicy | null {
  switch (n) {
    case PbHoldPolicy.UNSPECIFIED:
      return null;
    case PbHoldPolicy.HOLD_DURING_RETRY:
      return "HOLD_DURING_RETRY";
    case PbHoldPolicy.RELEASE_ON_RETRY:
      return "RELEASE_ON_RETRY";
    default:
      v.add(field, `is not a hold policy (${n})`);
      return null;
  }
}


/** Proto hold policy of a domain one. */
export const holdToPb = (h: HoldPolicy): PbHoldPolicy => (h === "RELEASE_ON_RETRY" ? PbHoldPolicy.RELEASE_ON_RETRY : PbHoldPolicy.HOLD_DURING_RETRY);

/** Proto misfire policy of a domain one. */
export const misfireToPb = (m: DomainMisfire): MisfirePolicy => (m === "SKIP" ? MisfirePolicy.SKIP : m === "COALESCE" ? MisfirePolicy.COALESCE : MisfirePolicy.CATCH_UP);
