/**
 * The runs view's live model, as pure functions: which runs match the filter, how a
 * WatchRuns event changes a shown row, and where a run that newly matches goes on the page
 * shown (rows are in id order, as ListRuns returns them). Unit-tested in
 * test/unit/ui/runs-model.test.ts.
 */
import { type Run, type RunEvent, RunEventType } from "../../clients/typescript/src/gen/actionqueue/v1/run_pb.js";
import type { RunFilter } from "./route.js";

/** The parts of a run the filter looks at. */
export type FilterableRun = Pick<Run, "queue" | "taskId" | "state" | "concurrencyKey">;

/** Whether `run` matches `filter`. */
export function matchesFilter(run: FilterableRun, filter: RunFilter): boolean {
  if (filter.queue !== "" && run.queue !== filter.queue) return false;
  if (filter.taskId !== "" && run.taskId !== filter.taskId) return false;
  if (filter.key !== "" && run.concurrencyKey !== filter.key) return false;
  return filter.states.length === 0 || filter.states.includes(run.state);
}

/**
 * `run` after `event` (a new object), or `run` itself when the event is not newer than the
 * run (its revision is not above the run's): events read before the row was fetched are
 * skipped, so replaying them is harmless.
 */
export function applyEvent<R extends Pick<Run, "id" | "state" | "lastStateChangeAt" | "revision" | "effectivePriority" | "attemptCount" | "stateReason">>(run: R, event: RunEvent): R {
  if (event.runId !== run.id || event.revision <= run.revision) return run;
  const next: R = { ...run, revision: event.revision, effectivePriority: event.effectivePriority };
  if (event.type === RunEventType.TRANSITION) {
    next.state = event.toState;
    next.stateReason = event.reason;
    if (event.time !== undefined) next.lastStateChangeAt = event.time;
  }
  const n = event.attempt?.number ?? 0;
  if (n > next.attemptCount) next.attemptCount = n;
  return next;
}

/** Where the page shown sits in the whole listing. */
export interface PagePosition {
  /** The page is the first of the listing (no page before it). */
  readonly isFirstPage: boolean;
  /** A page follows it (ListRuns gave a next-page token). */
  readonly hasNextPage: boolean;
}

/**
 * Where a run with id `id` that newly matches the filter belongs among `ids` (the ids shown,
 * ascending): its index, or -1 when it belongs to another page (before the first id on a
 * later page, after the last id when a page follows) or is shown already. Ids are UUIDv7
 * strings, whose string order is creation order.
 */
export function insertionIndex(ids: readonly string[], id: string, pos: PagePosition): number {
  if (ids.includes(id)) return -1;
  const first = ids[0];
  const last = ids[ids.length - 1];
  if (first === undefined || last === undefined) return pos.isFirstPage && !pos.hasNextPage ? 0 : -1;
  if (id < first) return pos.isFirstPage ? 0 : -1;
  if (id > last) return pos.hasNextPage ? -1 : ids.length;
  let i = 0;
  while (i < ids.length && (ids[i] as string) < id) i++;
  return i;
}

/**
 * Whether `event`, about a run not shown, may make a run newly match `filter`: a created run
 * (no state filter) or a run entering one of the filtered states; the queue and task must
 * match (the concurrency key is checked on the run itself, the event does not carry it).
 */
export function mayNewlyMatch(event: RunEvent, filter: RunFilter): boolean {
  if (filter.queue !== "" && event.queue !== filter.queue) return false;
  if (filter.taskId !== "" && event.taskId !== filter.taskId) return false;
  if (filter.states.length === 0) return event.type === RunEventType.CREATED;
  return event.type !== RunEventType.PRIORITY_CHANGED && filter.states.includes(event.toState);
}

/** `rows` with `run` inserted at `index` (a new array). */
export function insertAt<T>(rows: readonly T[], index: number, run: T): T[] {
  return [...rows.slice(0, index), run, ...rows.slice(index)];
}

/**
 * The slot limit of a concurrency key as its holders' tasks declare it (at least 1: the
 * default single flight) and the free slots (the limit minus the holders, never negative).
 */
export function slotsOf(k: { readonly holders: ReadonlyArray<{ readonly slots: number }> }): { slots: number; free: number } {
  const slots = Math.max(1, ...k.holders.map((h) => h.slots));
  return { slots, free: Math.max(0, slots - k.holders.length) };
}
