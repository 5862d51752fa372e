/**
 * The read half of a PostgreSQL store: every StoreReader query, asynchronous, over a pool
 * (each query one statement, so it reads committed state as of that statement). Same names,
 * arguments, orderings and limits as the in-memory reader (src/storage/memory/memory-reader.ts,
 * which mirrors LMDB): ids in id order (uuid order is their text order), names and keys in
 * byte order (COLLATE "C"), limits as lmdb-js applies them (codec.ts limitOf).
 *
 * Where the memory reader reads counters or index entries, this one reads the rows they were
 * kept from: counts and queue names come from `runs`, READY entries from the READY rows.
 */
import type pg from "pg";
import type { RunId, TaskId } from "../../domain/ids.js";
import { RUN_STATES, type RunState } from "../../domain/state.js";
import type { DueEntry, MetaRecord, StoreReader } from "../../engine/ports.js";
import type {
  AttemptRecord,
  EventRecord,
  KeyHolderRecord,
  LeaseRecord,
  QueueRecord,
  ReadyEntry,
  ReservationRecord,
  RunRecord,
  TaskRecord,
} from "../../engine/records.js";
import {
  RUN_COLUMNS,
  attemptFromRow,
  ceilBound,
  dueFromRow,
  eventFromRow,
  floorBound,
  int,
  keyHolderFromRow,
  leaseFromRow,
  limitOf,
  metaFromRow,
  queueFromRow,
  readyEntryFromRow,
  reservationFromRow,
  runFromRow,
  taskFromRow,
} from "./codec.js";

/** StoreReader with every answer a promise. */
export type AsyncStoreReader = {
  [K in keyof StoreReader]: (...args: Parameters<StoreReader[K]>) => Promise<Awaited<ReturnType<StoreReader[K]>>>;
};

type Row = Record<string, unknown>;

/** The StoreReader queries over PostgreSQL. */
export class PgReader implements AsyncStoreReader {
  readonly #pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async #rows(sql: string, params: unknown[] = []): Promise<Row[]> {
    const r = await this.#pool.query<Row>(sql, params);
    return r.rows;
  }

  async #ids(sql: string, params: unknown[]): Promise<string[]> {
    return (await this.#rows(sql, params)).map((r) => r.id as string);
  }

  async meta(): Promise<MetaRecord> {
    const [r] = await this.#rows("SELECT r.value, m.oldest_revision, m.engine_paused FROM revision r CROSS JOIN meta m");
    if (!r) throw new Error("the revision and meta rows are missing: the schema was not migrated");
    return metaFromRow(r);
  }
  async getTask(id: TaskId): Promise<TaskRecord | undefined> {
    const [r] = await this.#rows("SELECT t.id, t.status, t.progress, s.spec, s.payload FROM tasks t JOIN task_specs s ON s.task_id = t.id WHERE t.id = $1", [id]);
    return r && taskFromRow(r as Parameters<typeof taskFromRow>[0]);
  }
  async getRun(id: RunId): Promise<RunRecord | undefined> {
    const [r] = await this.#rows(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, [id]);
    return r && runFromRow(r);
  }
  async getLease(runId: RunId): Promise<LeaseRecord | undefined> {
    const [r] = await this.#rows("SELECT run_id, record FROM leases WHERE run_id = $1", [runId]);
    return r && leaseFromRow(r);
  }
  async getAttempt(runId: RunId, number: number): Promise<AttemptRecord | undefined> {
    if (!Number.isSafeInteger(number)) return undefined;
    const [r] = await this.#rows("SELECT run_id, number, record, output FROM attempts WHERE run_id = $1 AND number = $2", [runId, number]);
    return r && attemptFromRow(r);
  }
  async getQueue(name: string): Promise<QueueRecord | undefined> {
    const [r] = await this.#rows("SELECT name, paused, rate_per_second, burst FROM queues WHERE name = $1 AND configured", [name]);
    return r && queueFromRow(r);
  }
  async getReservation(id: TaskId): Promise<ReservationRecord | undefined> {
    const [r] = await this.#rows("SELECT task_id, purged_at, until FROM reservations WHERE task_id = $1", [id]);
    return r && reservationFromRow(r);
  }
  async queueNames(): Promise<string[]> {
    const rows = await this.#rows("SELECT name FROM queues WHERE configured UNION SELECT DISTINCT queue FROM runs ORDER BY 1");
    return rows.map((r) => r.name as string);
  }
  async attempts(runId: RunId, afterNumber: number, limit: number): Promise<AttemptRecord[]> {
    const rows = await this.#rows(
      "SELECT run_id, number, record, output FROM attempts WHERE run_id = $1 AND number > $2 AND number < $3 ORDER BY number LIMIT $4::bigint",
      [runId, floorBound(afterNumber), Number.MAX_SAFE_INTEGER, limitOf(limit)],
    );
    return rows.map(attemptFromRow);
  }
  async runIdsOfTask(taskId: TaskId, afterRunId?: RunId, limit?: number): Promise<RunId[]> {
    return (await this.#ids("SELECT id FROM runs WHERE task_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3::bigint", [
      taskId,
      afterRunId ?? null,
      limitOf(limit),
    ])) as RunId[];
  }
  async runIdsByState(queue: string, state: RunState, afterRunId?: RunId, limit?: number): Promise<RunId[]> {
    return (await this.#ids("SELECT id FROM runs WHERE queue = $1 AND state = $2 AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4::bigint", [
      queue,
      state,
      afterRunId ?? null,
      limitOf(limit),
    ])) as RunId[];
  }
  async readyEntries(queue: string, afterRunId: RunId | undefined, limit: number): Promise<ReadyEntry[]> {
    const rows = await this.#rows(
      `SELECT id, effective_priority, created_at, capabilities, concurrency_key, key_slots, key_hold FROM runs
       WHERE queue = $1 AND state = 'READY' AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3::bigint`,
      [queue, afterRunId ?? null, limitOf(limit)],
    );
    return rows.map(readyEntryFromRow);
  }
  async runIds(afterRunId?: RunId, limit?: number): Promise<RunId[]> {
    return (await this.#ids("SELECT id FROM runs WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2::bigint", [afterRunId ?? null, limitOf(limit)])) as RunId[];
  }
  async taskIds(filter: { queue?: string; parent?: TaskId }, afterTaskId?: TaskId, limit?: number): Promise<TaskId[]> {
    const after = afterTaskId ?? null;
    const lim = limitOf(limit);
    if (filter.parent !== undefined) {
      return (await this.#ids("SELECT id FROM tasks WHERE parent_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3::bigint", [filter.parent, after, lim])) as TaskId[];
    }
    if (filter.queue !== undefined) {
      return (await this.#ids("SELECT id FROM tasks WHERE queue = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3::bigint", [filter.queue, after, lim])) as TaskId[];
    }
    return (await this.#ids("SELECT id FROM tasks WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2::bigint", [after, lim])) as TaskId[];
  }
  async childTaskIds(parent: TaskId): Promise<TaskId[]> {
    return (await this.#ids("SELECT id FROM tasks WHERE parent_id = $1 ORDER BY id", [parent])) as TaskId[];
  }
  async dependentTaskIds(prerequisite: TaskId): Promise<TaskId[]> {
    return (await this.#ids("SELECT task_id AS id FROM task_dependencies WHERE prerequisite_id = $1 ORDER BY task_id", [prerequisite])) as TaskId[];
  }
  async cronTaskIds(): Promise<TaskId[]> {
    return (await this.#ids("SELECT id FROM tasks WHERE is_cron AND status = 'ACTIVE' ORDER BY id", [])) as TaskId[];
  }
  async dueEntries(until: number, limit: number): Promise<DueEntry[]> {
    const rows = await this.#rows("SELECT at, kind, run_id FROM due_timers WHERE at >= 0 AND at <= $1 ORDER BY at, kind, run_id LIMIT $2::bigint", [
      floorBound(until),
      limitOf(limit),
    ]);
    return rows.map(dueFromRow);
  }
  async hasDue(e: DueEntry): Promise<boolean> {
    return (await this.#rows("SELECT 1 FROM due_timers WHERE at = $1 AND kind = $2 AND run_id = $3", [e.at, e.kind, e.runId])).length > 0;
  }
  async nextDue(): Promise<DueEntry | undefined> {
    const [r] = await this.#rows("SELECT at, kind, run_id FROM due_timers WHERE at >= 0 ORDER BY at, kind, run_id LIMIT 1");
    return r && dueFromRow(r);
  }
  async keyHolders(key: string): Promise<KeyHolderRecord[]> {
    return (await this.#rows("SELECT key, run_id, record FROM key_holders WHERE key = $1 ORDER BY run_id", [key])).map(keyHolderFromRow);
  }
  async occupiedKeys(afterKey?: string, limit?: number): Promise<string[]> {
    const rows = await this.#rows("SELECT DISTINCT key FROM key_holders WHERE ($1::text IS NULL OR key > $1) ORDER BY key LIMIT $2::bigint", [
      afterKey ?? null,
      limitOf(limit),
    ]);
    return rows.map((r) => r.key as string);
  }
  async allKeyHolders(): Promise<KeyHolderRecord[]> {
    return (await this.#rows("SELECT key, run_id, record FROM key_holders ORDER BY key, run_id")).map(keyHolderFromRow);
  }
  async events(from: number, limit: number): Promise<EventRecord[]> {
    const rows = await this.#rows("SELECT revision, record FROM events WHERE revision >= $1 ORDER BY revision LIMIT $2::bigint", [ceilBound(from), limitOf(limit)]);
    return rows.map(eventFromRow);
  }
  async counts(queue: string): Promise<Record<RunState, number>> {
    const out = Object.fromEntries(RUN_STATES.map((s) => [s, 0])) as Record<RunState, number>;
    for (const r of await this.#rows("SELECT state, count(*) AS n FROM runs WHERE queue = $1 GROUP BY state", [queue])) out[r.state as RunState] = int(r.n);
    return out;
  }
  async taskCount(): Promise<number> {
    const [r] = await this.#rows("SELECT count(*) AS n FROM tasks");
    return int(r?.n ?? 0);
  }
  async finishedRuns(until: number, limit: number): Promise<RunId[]> {
    return (await this.#ids(
      "SELECT id FROM runs WHERE finished_at IS NOT NULL AND finished_at >= 0 AND finished_at <= $1 ORDER BY finished_at, id LIMIT $2::bigint",
      [floorBound(until), limitOf(limit)],
    )) as RunId[];
  }
  async expiredReservations(until: number, limit: number): Promise<TaskId[]> {
    return (await this.#ids("SELECT task_id AS id FROM reservations WHERE until >= 0 AND until <= $1 ORDER BY until, task_id LIMIT $2::bigint", [
      floorBound(until),
      limitOf(limit),
    ])) as TaskId[];
  }
  /** Bytes of the schema's tables with their indexes and TOAST (pages, not live data alone). */
  async usedBytes(): Promise<number> {
    const [r] = await this.#rows(
      "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'",
    );
    return int(r?.n ?? 0);
  }
}
