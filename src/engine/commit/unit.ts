/**
 * The unit of work of one command inside a group commit.
 *
 * A batch of commands shares one `Overlay`: the changes decided so far in the batch, laid
 * over the store's committed state, so a command reads its own writes and those of the
 * commands before it. Every write goes three ways at once: into the overlay (for reads),
 * into the batch's list of store verbs (for the commit), and into the command's journal (to
 * undo both, and any in-memory index change, when the command fails). A command that throws
 * therefore leaves no trace; the batch's verbs reach the store in one atomic commit.
 */
import type { RunId, TaskId } from "../../domain/ids.js";
import type { StoreVerb } from "../ports.js";
import type { AttemptRecord, EventRecord, LeaseRecord, ReservationRecord, RunRecord, TaskRecord } from "../records.js";
import { Journal } from "./journal.js";
import type { RowSource } from "./rows.js";

/**
 * Changes of the batch in flight, over committed state read from `store`: the store's own
 * reader, or a per-batch row cache that throws NeedRows for what it does not hold (rows.ts).
 */
export class Overlay {
  readonly tasks = new Map<TaskId, TaskRecord | null>();
  readonly runs = new Map<RunId, RunRecord | null>();
  readonly leases = new Map<RunId, LeaseRecord | null>();
  readonly attempts = new Map<string, AttemptRecord>();
  readonly reservations = new Map<TaskId, ReservationRecord | null>();
  /** Runs created in this batch, per task (store indexes do not have them yet). */
  readonly newRuns = new Map<TaskId, RunId[]>();
  /** Tasks created in this batch, per parent and per prerequisite. */
  readonly newChildren = new Map<TaskId, TaskId[]>();
  readonly newDependents = new Map<TaskId, TaskId[]>();
  readonly verbs: StoreVerb[] = [];
  constructor(readonly store: RowSource) {}
}

function attemptKey(runId: RunId, n: number): string {
  return `${runId}\u0000${n}`;
}

function setUndoable<K, V>(journal: Journal, map: Map<K, V>, key: K, value: V): void {
  const had = map.has(key);
  const before = map.get(key);
  map.set(key, value);
  journal.record(() => {
    if (had) map.set(key, before as V);
    else map.delete(key);
  });
}

function pushUndoable<K, V>(journal: Journal, map: Map<K, V[]>, key: K, value: V): void {
  let list = map.get(key);
  if (!list) {
    list = [];
    map.set(key, list);
  }
  list.push(value);
  const l = list;
  journal.record(() => {
    l.pop();
  });
}

/** A log line emitted only if the command commits. */
export interface PendingLog {
  readonly obj: object;
  readonly msg: string;
  /** Lifecycle lines (every run transition, task submitted / finished) are debug; the rest info. */
  readonly level: "info" | "debug";
}

/** Per-command context: reads through the overlay, writes as verbs, undo through the journal. */
export class Unit {
  readonly events: EventRecord[] = [];
  readonly logs: PendingLog[] = [];
  /** Queues that may have new runs for waiting workers. */
  readonly wake = new Set<string>();
  /** Something freed capacity anywhere (a key slot, a resumed engine): check every waiter. */
  wakeAll = false;
  /** A timer entry may now be earlier than the armed timer. */
  timersChanged = false;
  journal = new Journal();

  constructor(
    readonly overlay: Overlay,
    readonly now: number,
  ) {}

  // ─── reads ───────────────────────────────────────────────────────────────────────

  task(id: TaskId): TaskRecord | undefined {
    const o = this.overlay.tasks;
    return o.has(id) ? (o.get(id) ?? undefined) : this.overlay.store.getTask(id);
  }

  run(id: RunId): RunRecord | undefined {
    const o = this.overlay.runs;
    return o.has(id) ? (o.get(id) ?? undefined) : this.overlay.store.getRun(id);
  }

  lease(runId: RunId): LeaseRecord | undefined {
    const o = this.overlay.leases;
    return o.has(runId) ? (o.get(runId) ?? undefined) : this.overlay.store.getLease(runId);
  }

  attempt(runId: RunId, n: number): AttemptRecord | undefined {
    return this.overlay.attempts.get(attemptKey(runId, n)) ?? this.overlay.store.getAttempt(runId, n);
  }

  reservation(id: TaskId): ReservationRecord | undefined {
    const o = this.overlay.reservations;
    return o.has(id) ? (o.get(id) ?? undefined) : this.overlay.store.getReservation(id);
  }

  /** Run ids of a task in id order (committed ones and those created in this batch), at most `limit`. */
  runIdsOfTask(taskId: TaskId, limit = Number.MAX_SAFE_INTEGER): RunId[] {
    const fresh = this.overlay.newRuns.get(taskId);
    const stored = this.overlay.store.runIdsOfTask(taskId, undefined, limit);
    if (!fresh || fresh.length === 0) return stored;
    return [...new Set([...stored, ...fresh])].sort().slice(0, limit);
  }

  childTaskIds(parent: TaskId): TaskId[] {
    return this.#merge(this.overlay.store.childTaskIds(parent), this.overlay.newChildren.get(parent));
  }

  dependentTaskIds(prerequisite: TaskId): TaskId[] {
    return this.#merge(this.overlay.store.dependentTaskIds(prerequisite), this.overlay.newDependents.get(prerequisite));
  }

  #merge<T extends string>(stored: T[], fresh: T[] | undefined): T[] {
    return fresh && fresh.length > 0 ? [...new Set([...stored, ...fresh])].sort() : stored;
  }

  // ─── writes ──────────────────────────────────────────────────────────────────────

  #verb(v: StoreVerb): void {
    const verbs = this.overlay.verbs;
    verbs.push(v);
    const n = verbs.length - 1;
    this.journal.record(() => {
      verbs.length = n;
    });
  }

  createTask(task: TaskRecord): void {
    setUndoable(this.journal, this.overlay.tasks, task.id, task);
    if (task.spec.parentTaskId) pushUndoable(this.journal, this.overlay.newChildren, task.spec.parentTaskId, task.id);
    for (const dep of task.spec.dependsOn) pushUndoable(this.journal, this.overlay.newDependents, dep, task.id);
    this.#verb({ verb: "createTask", task });
  }

  updateTask(task: TaskRecord, prev: TaskRecord): void {
    setUndoable(this.journal, this.overlay.tasks, task.id, task);
    this.#verb({ verb: "updateTask", task, prev });
  }

  createRun(run: RunRecord, event: EventRecord): void {
    setUndoable(this.journal, this.overlay.runs, run.id, run);
    pushUndoable(this.journal, this.overlay.newRuns, run.taskId, run.id);
    this.#verb({ verb: "createRun", run, event });
  }

  /** A run change with what goes with it (see StoreVerb "updateRun"). */
  updateRun(change: Extract<StoreVerb, { verb: "updateRun" }>): void {
    const { run, lease, attempt } = change;
    setUndoable(this.journal, this.overlay.runs, run.id, run);
    if (lease && "put" in lease) setUndoable(this.journal, this.overlay.leases, run.id, lease.put);
    if (lease && "remove" in lease) setUndoable(this.journal, this.overlay.leases, run.id, null);
    if (attempt) setUndoable(this.journal, this.overlay.attempts, attemptKey(attempt.runId, attempt.number), attempt);
    this.#verb(change);
  }

  /** Any other verb that no later read of this batch depends on. */
  write(v: Extract<StoreVerb, { verb: "dropTimer" | "saveQueue" | "saveMeta" | "purgeEvents" }>): void {
    this.#verb(v);
  }

  purgeRun(run: RunRecord): void {
    setUndoable(this.journal, this.overlay.runs, run.id, null);
    setUndoable(this.journal, this.overlay.leases, run.id, null);
    this.#verb({ verb: "purgeRun", run });
  }

  purgeTask(task: TaskRecord, reservation: ReservationRecord): void {
    setUndoable(this.journal, this.overlay.tasks, task.id, null);
    setUndoable(this.journal, this.overlay.reservations, task.id, reservation);
    this.#verb({ verb: "purgeTask", task, reservation });
  }

  releaseReservation(taskId: TaskId): void {
    setUndoable(this.journal, this.overlay.reservations, taskId, null);
    this.#verb({ verb: "releaseReservation", taskId });
  }

  /** Records an event; it is published to watchers after the commit. */
  addEvent(event: EventRecord): void {
    this.events.push(event);
    const n = this.events.length - 1;
    this.journal.record(() => {
      this.events.length = n;
    });
  }

  log(obj: object, msg: string, level: PendingLog["level"] = "info"): void {
    this.logs.push({ obj, msg, level });
    const n = this.logs.length - 1;
    this.journal.record(() => {
      this.logs.length = n;
    });
  }

  /**
   * Runs one item of a batch command on its own: if it throws, everything it did (verbs,
   * overlay, memory, events, log lines) is undone and the error rethrown; the rest of the
   * command goes on.
   */
  isolated<T>(fn: () => T): T {
    const parent = this.journal;
    const child = new Journal();
    this.journal = child;
    try {
      const value = fn();
      parent.record(() => child.rollback());
      return value;
    } catch (e) {
      child.rollback();
      throw e;
    } finally {
      this.journal = parent;
    }
  }
}
