/**
 * What the engine needs from the outside world. Storage implements `Store` (LMDB in
 * src/storage/lmdb, an in-memory reference in src/storage/memory); time, ids and randomness
 * are injected so tests control them.
 *
 * The store is a port of verbs (docs/architecture.md): the engine decides every change
 * with the domain rules, then hands the store a list of `StoreVerb`s that `commit` applies
 * atomically and durably. Each verb is one whole change to durable state — a run moving
 * with its event, lease, attempt and key holder; a task created; a retention purge — and
 * the store keeps its own indexes in step with it. The store never calls the engine and
 * exposes no transaction: what it reads is committed state.
 */
import type { RunId, TaskId } from "../domain/ids.js";
import type { RunState } from "../domain/state.js";
import type {
  AttemptRecord,
  DueKind,
  EventRecord,
  KeyHolderRecord,
  LeaseRecord,
  QueueRecord,
  ReadyEntry,
  ReservationRecord,
  RunRecord,
  TaskRecord,
} from "./records.js";

export type { Clock } from "../domain/time.js";
export type { IdSource } from "../domain/ids.js";

/** Uniform random numbers in [0, 1) (jitter). */
export interface Random {
  next(): number;
}

/** Engine-wide flags and counters kept in storage. */
export interface MetaRecord {
  readonly revision: number;
  /** Oldest revision still in the event log (1 when nothing was purged). */
  readonly oldestRevision: number;
  readonly enginePaused: boolean;
}

/** One entry of the timer index. */
export interface DueEntry {
  readonly at: number;
  readonly kind: DueKind;
  readonly runId: RunId;
}

/** Reads of committed state; synchronous. */
export interface StoreReader {
  meta(): MetaRecord;
  getTask(id: TaskId): TaskRecord | undefined;
  getRun(id: RunId): RunRecord | undefined;
  getLease(runId: RunId): LeaseRecord | undefined;
  getAttempt(runId: RunId, number: number): AttemptRecord | undefined;
  getQueue(name: string): QueueRecord | undefined;
  /** The reservation a purged task left on its id, if any (idempotency after purge). */
  getReservation(id: TaskId): ReservationRecord | undefined;
  /** Every queue with settings or runs, by name. */
  queueNames(): string[];
  /** Attempts of a run by number, starting after `afterNumber`. */
  attempts(runId: RunId, afterNumber: number, limit: number): AttemptRecord[];
  /** Run ids of a task, in id order, after `afterRunId`. */
  runIdsOfTask(taskId: TaskId, afterRunId?: RunId, limit?: number): RunId[];
  /** Run ids of a queue in a state, in id order, after `afterRunId`. */
  runIdsByState(queue: string, state: RunState, afterRunId?: RunId, limit?: number): RunId[];
  /** READY runs of a queue with what selection needs, in id order after `afterRunId`. */
  readyEntries(queue: string, afterRunId: RunId | undefined, limit: number): ReadyEntry[];
  /** All run ids in id order after `afterRunId`. */
  runIds(afterRunId?: RunId, limit?: number): RunId[];
  /** Task ids in id order after `afterTaskId`, optionally only of one queue or one parent. */
  taskIds(filter: { queue?: string; parent?: TaskId }, afterTaskId?: TaskId, limit?: number): TaskId[];
  childTaskIds(parent: TaskId): TaskId[];
  dependentTaskIds(prerequisite: TaskId): TaskId[];
  /** Active cron tasks (start-up misfire handling). */
  cronTaskIds(): TaskId[];
  /** Timer entries due at or before `until`, earliest first. */
  dueEntries(until: number, limit: number): DueEntry[];
  /** The earliest timer entry, if any. */
  nextDue(): DueEntry | undefined;
  /** Whether the timer index holds exactly this entry. */
  hasDue(entry: DueEntry): boolean;
  /** Occupants of a key, by run id. */
  keyHolders(key: string): KeyHolderRecord[];
  /** Every occupied key in order after `afterKey`. */
  occupiedKeys(afterKey?: string, limit?: number): string[];
  /** Every key occupant (start-up rebuild). */
  allKeyHolders(): Iterable<KeyHolderRecord>;
  /** Events with revision >= `from`, in revision order. */
  events(from: number, limit: number): EventRecord[];
  /** Run counts per state of one queue. */
  counts(queue: string): Record<RunState, number>;
  taskCount(): number;
  /** Terminal runs that finished at or before `until`, oldest first. */
  finishedRuns(until: number, limit: number): RunId[];
  /** Reservations that ended at or before `until`, oldest first. */
  expiredReservations(until: number, limit: number): TaskId[];
  /** Bytes of live data. */
  usedBytes(): number;
}

/** A lease written or removed together with a run change. */
export type LeaseChange = { readonly put: LeaseRecord } | { readonly remove: RunId } | null;

/** A key slot taken or given back together with a run change. */
export type KeyHolderChange = { readonly put: KeyHolderRecord } | { readonly remove: { readonly key: string; readonly runId: RunId } } | null;

/**
 * One atomic change to durable state. `prev` is the stored version the engine decided on:
 * the store maintains its indexes from it (and a shared-database store checks it, so that a
 * change decided on a stale read is refused instead of applied).
 */
export type StoreVerb =
  /** A new task with its relation indexes (queue, parent, prerequisites, cron). */
  | { readonly verb: "createTask"; readonly task: TaskRecord }
  /** Task progress or status changed (counters, cron cursor, terminal status). */
  | { readonly verb: "updateTask"; readonly task: TaskRecord; readonly prev: TaskRecord }
  /** A derived run with its CREATED event. */
  | { readonly verb: "createRun"; readonly run: RunRecord; readonly event: EventRecord }
  /**
   * A run changed: its state index, counts, timers and retention index follow; with its
   * event (null for a change no watcher sees, such as a dependency wait), its lease, the
   * attempt it opened or closed, and the key slot it took or gave back.
   */
  | {
      readonly verb: "updateRun";
      readonly run: RunRecord;
      readonly prev: RunRecord;
      readonly event: EventRecord | null;
      readonly lease: LeaseChange;
      readonly attempt: AttemptRecord | null;
      readonly keyHolder: KeyHolderChange;
    }
  /** Removes one timer entry (stale, or failing, so it cannot fire forever). */
  | { readonly verb: "dropTimer"; readonly entry: DueEntry }
  | { readonly verb: "saveQueue"; readonly queue: QueueRecord }
  | { readonly verb: "saveMeta"; readonly meta: MetaRecord }
  /** Retention: a terminal run with its attempts, lease and index entries. */
  | { readonly verb: "purgeRun"; readonly run: RunRecord }
  /** Retention: a terminal task; its id stays reserved by `reservation` (idempotency). */
  | { readonly verb: "purgeTask"; readonly task: TaskRecord; readonly reservation: ReservationRecord }
  /** Retention: events with revision < `before`. */
  | { readonly verb: "purgeEvents"; readonly before: number }
  /** The reservation of a purged task id ended: the id may be used again. */
  | { readonly verb: "releaseReservation"; readonly taskId: TaskId };

/**
 * The durable store. `commit` applies `verbs` in order as one atomic, durable change: the
 * promise settles after the change is flushed to disk, or rejects with an EngineError
 * (STORAGE_FULL, STORAGE_IO, SHUTTING_DOWN) when nothing of it was stored.
 */
export interface Store {
  readonly reader: StoreReader;
  /** Resolves with nothing, or a shared store with what its commit did besides (SharedCommit). */
  commit(verbs: readonly StoreVerb[]): Promise<void | SharedCommit>;
  close(): Promise<void>;
}

/** What other servers committed, as a shared store brought this one's reader up to it. */
export interface Followed {
  /** Their verbs in commit order, each with the `prev` this server's reader held before it. */
  readonly verbs: readonly StoreVerb[];
  /** The reader was reloaded whole instead (this server was too far behind): rebuild memory. */
  readonly reloaded: boolean;
}

/**
 * A commit of a shared store refused because the batch was decided on state another server
 * changed meanwhile (a row no longer as read, a key's last slot taken, a task id created):
 * nothing of it was stored. The engine undoes the batch in memory, follows, and decides again.
 */
export class CommitConflict extends Error {
  override readonly name = "CommitConflict";
}

/**
 * What a batch's command claims before it runs (SharedStore.claim): the runs a LeaseRuns may
 * hand out, or the timer entry a timer command applies.
 */
export type ClaimRequest =
  | {
      readonly kind: "runs";
      readonly queues: readonly string[];
      /** The worker's capabilities: a run requiring others is not claimed. */
      readonly capabilities: readonly string[];
      /** Runs per queue at most. */
      readonly max: number;
    }
  | { readonly kind: "timer"; readonly entry: DueEntry };

/** How a claimed timer entry appears among the claimed keys (SharedStore.claim). */
export function timerClaimKey(e: DueEntry): string {
  return `timer ${e.at} ${e.kind} ${e.runId}`;
}

/** What a shared store's commit did besides storing the batch. */
export interface SharedCommit {
  /**
   * Other servers' commits ordered before this one that the reader took in first (only with
   * concurrent commits, where a batch is decided without the lock; empty otherwise). Their
   * revisions are below this commit's.
   */
  readonly followed: Followed;
  /**
   * How far this commit moved the revisions the batch stamped (concurrent commits: revisions
   * are assigned at commit; 0 otherwise). The store has moved them in the batch's own records
   * (`shiftRevisions`), which its replies and events hold.
   */
  readonly revisionDelta: number;
}

/**
 * A store several servers share (PostgreSQL, docs/scaling.md "Several servers"). The engine
 * opens a batch's transaction with `acquire`, which brings the reader up to every other
 * server's commits and returns their verbs (the engine brings its own memory up to them),
 * decides its batch on that, then ends it with `commit` (or `release` when the batch wrote
 * nothing). Between batches `follow` brings the reader up; `onChange` says when another
 * server may have committed.
 *
 * Two ways to commit (`concurrent`): serial commits hold the database's commit lock from
 * `acquire` to the end, so every batch is decided on the whole current state and commits of
 * all servers run one at a time; concurrent commits take no lock in `acquire` (batches of
 * several servers are decided and written at once, the revision counter taken last), and a
 * commit decided on state another server changed meanwhile rejects with `CommitConflict`.
 */
export interface SharedStore extends Store {
  readonly shared: true;
  readonly concurrent: boolean;
  acquire(): Promise<Followed>;
  release(): Promise<void>;
  commit(verbs: readonly StoreVerb[]): Promise<SharedCommit>;
  /**
   * Concurrent commits, in the open window, skipping what another server's open batch locked
   * (FOR UPDATE SKIP LOCKED) and locking the rest until the window ends: for a "runs" request
   * the first `max` READY runs of each of its queues in hand-out order that it could hand out
   * (capabilities, a free key slot); for a "timer" request its entry, if still stored.
   * Resolves with the run ids and the timer entries' `timerClaimKey`s claimed. Rejects (the
   * window closed) when the database cannot be reached.
   */
  claim(requests: readonly ClaimRequest[]): Promise<ReadonlySet<string>>;
  follow(): Promise<Followed>;
  onChange(listener: () => void): void;
}

/** Whether `store` is shared by several servers. */
export function isShared(store: Store): store is SharedStore {
  return (store as Partial<SharedStore>).shared === true;
}

/**
 * The revisions a batch stamped, as one contiguous range: `[first, last]`, or null when it
 * stamped none. Revisions come from events; a run changed with an event carries its event's
 * revision, and saveMeta the last one.
 */
export function stampedRange(verbs: readonly StoreVerb[]): { first: number; last: number; count: number } | null {
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  let count = 0;
  for (const v of verbs) {
    const e = v.verb === "createRun" || v.verb === "updateRun" ? v.event : null;
    if (!e) continue;
    count++;
    if (e.revision < first) first = e.revision;
    if (e.revision > last) last = e.revision;
  }
  if (count === 0) return null;
  if (last - first + 1 !== count) throw new Error(`a batch's events must carry consecutive revisions (${count} events over ${first}..${last})`);
  return { first, last, count };
}

/**
 * Moves the revisions a batch stamped by `delta`, in place: every distinct run, event and
 * meta record of `verbs` (and their `prev`, which may be an earlier verb's record) whose
 * revision is above `above` — the last revision committed before the batch was decided, so
 * records read from committed state stay as they are. In place on purpose: the batch's
 * replies and the events its watchers get hold these very objects, and a concurrent commit
 * learns its revisions only at commit (SharedCommit.revisionDelta). Records are otherwise
 * never changed after they are made.
 */
export function shiftRevisions(verbs: readonly StoreVerb[], above: number, delta: number): void {
  if (delta === 0) return;
  const seen = new Set<object>();
  const shift = (r: { readonly revision: number } | null | undefined) => {
    if (!r || seen.has(r) || r.revision <= above) return;
    seen.add(r);
    (r as { revision: number }).revision += delta;
  };
  for (const v of verbs) {
    if (v.verb === "createRun") {
      shift(v.run);
      shift(v.event);
    } else if (v.verb === "updateRun") {
      shift(v.run);
      shift(v.prev);
      shift(v.event);
    } else if (v.verb === "saveMeta") shift(v.meta);
  }
}
