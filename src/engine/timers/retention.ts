/**
 * Retention (SPEC §8): terminal runs (with their attempts) and events older than the
 * retention period are purged, then tasks whose runs and children are all gone. A purged
 * task's id stays reserved for the deduplication window, so a late retry of its submission
 * cannot run it twice; reservations past their window are released here too.
 */
import type { TaskId } from "../../domain/ids.js";
import { isTaskTerminal } from "../../domain/task.js";
import type { Unit } from "../commit/unit.js";
import type { Core } from "../core.js";

/** What one purge removed. */
export interface Purged {
  readonly runs: number;
  readonly events: number;
  readonly tasks: number;
  readonly reservations: number;
}

const PER_PURGE = 1_000;

/** One purge pass (at most PER_PURGE runs, tasks and reservations; events in chunks). */
export function purge(core: Core, u: Unit): Purged {
  const r = core.store.reader;
  const cutoff = u.now - core.options.retentionMs;
  let runs = 0;
  let tasks = 0;
  const touched = new Set<TaskId>();
  for (const id of r.finishedRuns(cutoff, PER_PURGE)) {
    const run = u.run(id);
    if (!run) continue;
    u.purgeRun(run);
    touched.add(run.taskId);
    runs++;
  }
  for (const id of touched) {
    const t = u.task(id);
    if (t && isTaskTerminal(t.status) && t.statusChangedAt <= cutoff && u.runIdsOfTask(id).every((x) => u.run(x) === undefined) && u.childTaskIds(id).length === 0) {
      u.purgeTask(t, { taskId: t.id, purgedAt: u.now, until: u.now + core.options.dedupWindowMs });
      tasks++;
    }
  }
  let reservations = 0;
  for (const id of r.expiredReservations(u.now, PER_PURGE)) {
    u.releaseReservation(id);
    reservations++;
  }
  // Events: the log is in revision order, which is time order.
  let oldest = core.flags.oldestRevision;
  let events = 0;
  for (;;) {
    const batch = r.events(oldest, PER_PURGE);
    const stale = batch.filter((e) => e.at <= cutoff);
    const last = stale.at(-1);
    if (!last) break;
    events += stale.length;
    oldest = last.revision + 1;
    if (stale.length < batch.length || batch.length < PER_PURGE) break;
  }
  if (oldest !== core.flags.oldestRevision) {
    u.write({ verb: "purgeEvents", before: oldest });
    const before = core.flags.oldestRevision;
    core.flags.oldestRevision = oldest;
    u.journal.record(() => {
      core.flags.oldestRevision = before;
    });
    u.write({ verb: "saveMeta", meta: core.meta() });
  }
  if (runs + events + tasks + reservations > 0) u.log({ runs, events, tasks, reservations }, "purged");
  return { runs, events, tasks, reservations };
}
