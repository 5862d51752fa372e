/**
 * Task-level rules: the status of a task as a whole, dependency cycles and hierarchy depth
 * (SPEC §7).
 */
import type { TaskId } from "./ids.js";
import type { RelationRefusal } from "./refusal.js";
import { type Result, err, ok } from "./result.js";

/**
 * Status of a task:
 * - ACTIVE     runs pending or active, more runs to derive, or children unfinished;
 * - COMPLETED  all runs and children terminal, none FAILED;
 * - FAILED     all runs and children terminal, at least one run or child FAILED;
 * - CANCELED   canceled directly or by a cascade (parent or prerequisite).
 */
export type TaskStatus = "ACTIVE" | "COMPLETED" | "FAILED" | "CANCELED";

/** Terminal task statuses. */
export function isTaskTerminal(s: TaskStatus): boolean {
  return s !== "ACTIVE";
}

/** Counts a task's status is settled from. */
export interface TaskProgress {
  readonly canceled: boolean;
  /** More runs will be derived (cron not exhausted). */
  readonly moreRuns: boolean;
  readonly openRuns: number;
  readonly failedRuns: number;
  readonly openChildren: number;
  readonly failedChildren: number;
}

/**
 * The status a task has given its progress. Individually canceled runs (including cron
 * occurrences skipped as MISSED) do not fail a task; a FAILED run or child does.
 */
export function settleTaskStatus(p: TaskProgress): TaskStatus {
  if (p.canceled) return "CANCELED";
  if (p.moreRuns || p.openRuns > 0 || p.openChildren > 0) return "ACTIVE";
  return p.failedRuns > 0 || p.failedChildren > 0 ? "FAILED" : "COMPLETED";
}

/**
 * Refuses a dependency declaration that would close a cycle: `taskId` depending on
 * `dependsOn`, where `depsOf` gives the prerequisites already declared (including other
 * tasks of the same batch). Returns the cycle's path when there is one.
 */
export function checkNoCycle(
  taskId: TaskId,
  dependsOn: readonly TaskId[],
  depsOf: (id: TaskId) => readonly TaskId[],
): Result<void, RelationRefusal> {
  const seen = new Set<TaskId>();
  const stack: Array<{ id: TaskId; path: TaskId[] }> = dependsOn.map((id) => ({ id, path: [taskId, id] }));
  while (stack.length > 0) {
    const { id, path } = stack.pop() as { id: TaskId; path: TaskId[] };
    if (id === taskId) return err({ reason: "DEPENDENCY_CYCLE", taskId, path });
    if (seen.has(id)) continue;
    seen.add(id);
    for (const next of depsOf(id)) stack.push({ id: next, path: [...path, next] });
  }
  return ok(undefined);
}

/** Refuses a task whose depth (parent depth + 1; 0 for a root) would reach `limit` levels. */
export function checkDepth(parentDepth: number | null, limit: number): Result<number, RelationRefusal> {
  const depth = parentDepth === null ? 0 : parentDepth + 1;
  if (depth >= limit) return err({ reason: "HIERARCHY_TOO_DEEP", depth, limit });
  return ok(depth);
}
