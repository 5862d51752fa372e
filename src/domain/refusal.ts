/**
 * Expected refusals of the domain, as values. Each carries a stable UPPER_SNAKE_CASE
 * reason (the form google.rpc.ErrorInfo uses) and the ids a caller needs.
 */
import type { AttemptId, RunId, TaskId } from "./ids.js";
import type { RunState } from "./state.js";

/** Every reason a run-level rule can refuse a change. */
export type RunRefusal =
  | { readonly reason: "INVALID_TRANSITION"; readonly runId: RunId; readonly from: RunState; readonly to: RunState }
  | { readonly reason: "RUN_TERMINAL"; readonly runId: RunId; readonly state: RunState }
  | { readonly reason: "ATTEMPT_IN_PROGRESS"; readonly runId: RunId; readonly attemptId: AttemptId }
  | { readonly reason: "ATTEMPT_REQUIRES_RUNNING"; readonly runId: RunId; readonly state: RunState }
  | { readonly reason: "ATTEMPT_ALREADY_ACTIVE"; readonly runId: RunId; readonly attemptId: AttemptId }
  | {
      readonly reason: "ATTEMPT_MISMATCH";
      readonly runId: RunId;
      readonly expectedAttemptId: AttemptId;
      readonly attemptId: AttemptId;
    }
  | { readonly reason: "NO_ACTIVE_ATTEMPT"; readonly runId: RunId }
  | { readonly reason: "ATTEMPT_COUNT_OVERFLOW"; readonly runId: RunId }
  | { readonly reason: "PRIORITY_REQUIRES_READY"; readonly runId: RunId; readonly state: RunState }
  | { readonly reason: "KEY_FULL"; readonly runId: RunId; readonly key: string; readonly holderRunId: RunId };

/** Refusals when constructing a run (seed 000's construction errors). */
export type RunConstructionRefusal =
  | { readonly reason: "INVALID_RUN_ID"; readonly runId: string }
  | { readonly reason: "INVALID_TASK_ID"; readonly taskId: string }
  | {
      readonly reason: "READY_SCHEDULED_IN_FUTURE";
      readonly runId: RunId;
      readonly scheduledAt: number;
      readonly createdAt: number;
    };

/** Refusals when deriving runs from a policy. */
export type DerivationRefusal =
  | { readonly reason: "REPEAT_COUNT_OUT_OF_RANGE"; readonly count: number; readonly max: number }
  | { readonly reason: "SCHEDULE_OVERFLOW"; readonly lastAt: number }
  | { readonly reason: "INVALID_INSTANT"; readonly at: number }
  | { readonly reason: "INVALID_INTERVAL"; readonly intervalMs: number };

/** Refusals when declaring task relations. */
export type RelationRefusal =
  | { readonly reason: "DEPENDENCY_CYCLE"; readonly taskId: TaskId; readonly path: readonly TaskId[] }
  | { readonly reason: "HIERARCHY_TOO_DEEP"; readonly depth: number; readonly limit: number };
