/**
 * Where a command's reads of committed state come from (docs/scaling.md, "Next step: the
 * engine on PostgreSQL", point 1).
 *
 * A `Unit` reads committed state through eight methods only; `RowSource` is that surface.
 * Today's stores answer it synchronously with their `StoreReader` itself (the method names
 * match, so the reader *is* the row source: no wrapper, nothing allocated per read). A store
 * that cannot answer synchronously (a shared database) gives the pipeline a `RowFetcher`
 * instead: each batch then reads through a `RowCache` that answers what it holds and throws
 * `NeedRows` for anything else; the pipeline undoes the command, fetches those rows, fills
 * the cache and runs the command again (pipeline.ts).
 */
import type { RunId, TaskId } from "../../domain/ids.js";
import type { Store, StoreReader } from "../ports.js";
import type { AttemptRecord, LeaseRecord, ReservationRecord, RunRecord, TaskRecord } from "../records.js";

/** The reads of committed state a command decides on (a subset of StoreReader). */
export interface RowSource {
  getTask(id: TaskId): TaskRecord | undefined;
  getRun(id: RunId): RunRecord | undefined;
  getLease(runId: RunId): LeaseRecord | undefined;
  getAttempt(runId: RunId, number: number): AttemptRecord | undefined;
  getReservation(id: TaskId): ReservationRecord | undefined;
  /** Run ids of a task in id order; the Unit always reads from the start (`afterRunId` undefined). */
  runIdsOfTask(taskId: TaskId, afterRunId?: RunId, limit?: number): RunId[];
  childTaskIds(parent: TaskId): TaskId[];
  dependentTaskIds(prerequisite: TaskId): TaskId[];
}

/** What to fetch: one list per kind of read. */
export interface RowKeys {
  readonly tasks: TaskId[];
  readonly runs: RunId[];
  /** Leases, by run id. */
  readonly leases: RunId[];
  readonly attempts: Array<readonly [runId: RunId, number: number]>;
  readonly reservations: TaskId[];
  /** Run ids of a task, at most `limit` from the start. */
  readonly runIdsOfTask: Array<readonly [taskId: TaskId, limit: number]>;
  readonly childTaskIds: TaskId[];
  readonly dependentTaskIds: TaskId[];
}

/** Fetched answers (a missing row is `undefined`: known absent). Every list is optional. */
export interface Rows {
  readonly tasks?: ReadonlyArray<readonly [TaskId, TaskRecord | undefined]>;
  readonly runs?: ReadonlyArray<readonly [RunId, RunRecord | undefined]>;
  readonly leases?: ReadonlyArray<readonly [RunId, LeaseRecord | undefined]>;
  readonly attempts?: ReadonlyArray<readonly [RunId, number, AttemptRecord | undefined]>;
  readonly reservations?: ReadonlyArray<readonly [TaskId, ReservationRecord | undefined]>;
  /** [task id, the limit it was read with, the run ids]. */
  readonly runIdsOfTask?: ReadonlyArray<readonly [TaskId, number, RunId[]]>;
  readonly childTaskIds?: ReadonlyArray<readonly [TaskId, TaskId[]]>;
  readonly dependentTaskIds?: ReadonlyArray<readonly [TaskId, TaskId[]]>;
}

function emptyKeys(): RowKeys {
  return { tasks: [], runs: [], leases: [], attempts: [], reservations: [], runIdsOfTask: [], childTaskIds: [], dependentTaskIds: [] };
}

/**
 * A read the row cache could not answer. Not an EngineError on purpose: the engine's
 * per-item handlers pass anything but an EngineError through, and the pipeline never lets it
 * reach a caller (it fetches and runs the command again, or fails it with INTERNAL).
 */
export class NeedRows extends Error {
  constructor(readonly keys: RowKeys) {
    super(`rows needed: ${describeKeys(keys)}`);
    this.name = "NeedRows";
  }

  /** How many keys it asks for. */
  get size(): number {
    const k = this.keys;
    return (
      k.tasks.length + k.runs.length + k.leases.length + k.attempts.length + k.reservations.length + k.runIdsOfTask.length + k.childTaskIds.length + k.dependentTaskIds.length
    );
  }
}

function describeKeys(k: RowKeys): string {
  const parts: string[] = [];
  const add = (name: string, list: readonly unknown[]) => {
    if (list.length > 0) parts.push(`${name} ${list.map((x) => (Array.isArray(x) ? x.join("#") : String(x))).join(", ")}`);
  };
  add("task", k.tasks);
  add("run", k.runs);
  add("lease", k.leases);
  add("attempt", k.attempts);
  add("reservation", k.reservations);
  add("runs of task", k.runIdsOfTask);
  add("children of", k.childTaskIds);
  add("dependents of", k.dependentTaskIds);
  return parts.join("; ") || "nothing";
}

/** Serves a fetch from a synchronous reader (tests; and the shape a database reader answers). */
export function rowsFromReader(reader: StoreReader, keys: RowKeys): Rows {
  return {
    tasks: keys.tasks.map((id) => [id, reader.getTask(id)] as const),
    runs: keys.runs.map((id) => [id, reader.getRun(id)] as const),
    leases: keys.leases.map((id) => [id, reader.getLease(id)] as const),
    attempts: keys.attempts.map(([id, n]) => [id, n, reader.getAttempt(id, n)] as const),
    reservations: keys.reservations.map((id) => [id, reader.getReservation(id)] as const),
    runIdsOfTask: keys.runIdsOfTask.map(([id, limit]) => [id, limit, reader.runIdsOfTask(id, undefined, limit)] as const),
    childTaskIds: keys.childTaskIds.map((id) => [id, reader.childTaskIds(id)] as const),
    dependentTaskIds: keys.dependentTaskIds.map((id) => [id, reader.dependentTaskIds(id)] as const),
  };
}

/** Fetches rows a command needs, from wherever committed state lives (one round trip). */
export interface RowFetcher {
  fetch(need: NeedRows): Promise<Rows>;
}

/**
 * A store whose committed state commands read through a per-batch `RowCache` filled by
 * `rows` (a shared database). Stores without `rows` (LMDB, memory) are read directly.
 */
export interface RowStore extends Store {
  readonly rows?: RowFetcher;
}

function attemptKey(runId: RunId, n: number): string {
  return `${runId}\u0000${n}`;
}

/**
 * Answers the eight reads from the rows it was given; anything else throws `NeedRows` for
 * that one key, and is remembered (`takeMissed`) even if the command swallows the throw.
 */
export class RowCache implements RowSource {
  readonly #tasks = new Map<TaskId, TaskRecord | undefined>();
  readonly #runs = new Map<RunId, RunRecord | undefined>();
  readonly #leases = new Map<RunId, LeaseRecord | undefined>();
  readonly #attempts = new Map<string, AttemptRecord | undefined>();
  readonly #reservations = new Map<TaskId, ReservationRecord | undefined>();
  /** Run ids of a task as read with `limit` (complete when fewer than `limit`). */
  readonly #runIdsOfTask = new Map<TaskId, { limit: number; ids: RunId[] }>();
  readonly #children = new Map<TaskId, TaskId[]>();
  readonly #dependents = new Map<TaskId, TaskId[]>();
  #missed: RowKeys | null = null;

  getTask(id: TaskId): TaskRecord | undefined {
    const m = this.#tasks;
    if (m.has(id)) return m.get(id);
    return this.#miss((k) => k.tasks.push(id));
  }

  getRun(id: RunId): RunRecord | undefined {
    const m = this.#runs;
    if (m.has(id)) return m.get(id);
    return this.#miss((k) => k.runs.push(id));
  }

  getLease(runId: RunId): LeaseRecord | undefined {
    const m = this.#leases;
    if (m.has(runId)) return m.get(runId);
    return this.#miss((k) => k.leases.push(runId));
  }

  getAttempt(runId: RunId, number: number): AttemptRecord | undefined {
    const key = attemptKey(runId, number);
    if (this.#attempts.has(key)) return this.#attempts.get(key);
    return this.#miss((k) => k.attempts.push([runId, number]));
  }

  getReservation(id: TaskId): ReservationRecord | undefined {
    const m = this.#reservations;
    if (m.has(id)) return m.get(id);
    return this.#miss((k) => k.reservations.push(id));
  }

  runIdsOfTask(taskId: TaskId, afterRunId?: RunId, limit = Number.MAX_SAFE_INTEGER): RunId[] {
    const held = this.#runIdsOfTask.get(taskId);
    if (held && (held.limit >= limit || held.ids.length < held.limit)) {
      const from = afterRunId === undefined ? held.ids : held.ids.filter((id) => id > afterRunId);
      return from.slice(0, limit);
    }
    // Only reads from the start are fetched (the Unit's); a later page is asked as a longer read.
    return this.#miss((k) => k.runIdsOfTask.push([taskId, afterRunId === undefined ? limit : Number.MAX_SAFE_INTEGER]));
  }

  childTaskIds(parent: TaskId): TaskId[] {
    const ids = this.#children.get(parent);
    return ids ? [...ids] : this.#miss((k) => k.childTaskIds.push(parent));
  }

  dependentTaskIds(prerequisite: TaskId): TaskId[] {
    const ids = this.#dependents.get(prerequisite);
    return ids ? [...ids] : this.#miss((k) => k.dependentTaskIds.push(prerequisite));
  }

  /** Adds fetched answers (a later answer for the same key replaces the earlier one). */
  fill(rows: Rows): void {
    for (const [id, t] of rows.tasks ?? []) this.#tasks.set(id, t);
    for (const [id, r] of rows.runs ?? []) this.#runs.set(id, r);
    for (const [id, l] of rows.leases ?? []) this.#leases.set(id, l);
    for (const [id, n, a] of rows.attempts ?? []) this.#attempts.set(attemptKey(id, n), a);
    for (const [id, r] of rows.reservations ?? []) this.#reservations.set(id, r);
    for (const [id, limit, ids] of rows.runIdsOfTask ?? []) {
      const held = this.#runIdsOfTask.get(id);
      if (!held || limit >= held.limit) this.#runIdsOfTask.set(id, { limit, ids: [...ids] });
    }
    for (const [id, ids] of rows.childTaskIds ?? []) this.#children.set(id, [...ids]);
    for (const [id, ids] of rows.dependentTaskIds ?? []) this.#dependents.set(id, [...ids]);
  }

  /** Whether every key of `need` is answered now (a fetch that did not: no progress). */
  answers(need: NeedRows): boolean {
    const k = need.keys;
    return (
      k.tasks.every((id) => this.#tasks.has(id)) &&
      k.runs.every((id) => this.#runs.has(id)) &&
      k.leases.every((id) => this.#leases.has(id)) &&
      k.attempts.every(([id, n]) => this.#attempts.has(attemptKey(id, n))) &&
      k.reservations.every((id) => this.#reservations.has(id)) &&
      k.runIdsOfTask.every(([id, limit]) => {
        const held = this.#runIdsOfTask.get(id);
        return held !== undefined && (held.limit >= limit || held.ids.length < held.limit);
      }) &&
      k.childTaskIds.every((id) => this.#children.has(id)) &&
      k.dependentTaskIds.every((id) => this.#dependents.has(id))
    );
  }

  /** Every key missed since the last call (null: none), and forgets them. */
  takeMissed(): NeedRows | null {
    const k = this.#missed;
    this.#missed = null;
    return k ? new NeedRows(k) : null;
  }

  #miss(add: (k: RowKeys) => void): never {
    const one = emptyKeys();
    add(one);
    this.#missed ??= emptyKeys();
    add(this.#missed);
    throw new NeedRows(one);
  }
}
