/**
 * The PostgreSQL store for ONE server (docs/scaling.md, "One server on PostgreSQL"): the
 * database is the truth, and the engine reads a full in-memory mirror of it.
 *
 *  - Open: a pool (codec's poolConfig), a session-level advisory lock on a connection of its
 *    own held for the store's life (a second server on the same database is refused: several
 *    servers on one database are not built yet), `migrate`, then every table read into the
 *    mirror — the in-memory store's tables and reader (src/storage/memory), filled through
 *    bulk SELECTs in one REPEATABLE READ snapshot — so every StoreReader query answers
 *    synchronously, exactly as the memory store does. A lock whose connection was lost (the
 *    database restarted) is taken again before the next commit; if another server holds it
 *    by then, every commit is refused from then on.
 *  - Commit: `commitVerbs` first (BEGIN … COMMIT, synchronous_commit on, so the promise
 *    settles after the commit is durable), then the same verbs applied to the mirror with the
 *    layout every key-value store runs. A failed database commit leaves the mirror untouched
 *    and rejects with STORAGE_IO / STORAGE_FULL. Commits run one at a time, in call order.
 *  - usedBytes: the mirror's estimate of the live data, as the memory store gives it: it grows
 *    with what is stored and falls when retention purges it, which is what the storage quota
 *    needs. The database's own size is no measure of that: it compresses values (TOAST) and
 *    does not shrink on DELETE until VACUUM, so a quota on it would never release.
 */
import pg from "pg";
import { isTerminal } from "../../domain/state.js";
import { EngineError } from "../../engine/errors.js";
import type { MetaRecord, Store, StoreReader, StoreVerb } from "../../engine/ports.js";
import { MARK, type ReadyValue, applyVerbs, inCronIndex, taskState } from "../layout.js";
import { MemoryReader, type Tables, createTables } from "../memory/memory-reader.js";
import { type Key, Journal, type Table, compareKeys, storedCopy } from "../memory/tables.js";
import {
  RUN_COLUMNS,
  attemptFromRow,
  dueFromRow,
  eventFromRow,
  keyHolderFromRow,
  leaseFromRow,
  metaFromRow,
  poolConfig,
  queueFromRow,
  reservationFromRow,
  runFromRow,
  taskFromRow,
} from "./codec.js";
import { migrate } from "./migrate.js";
import { StaleWriteError, commitVerbs, pgStorageError } from "./writer.js";
import { InOrder } from "../in-order.js";

/**
 * Key of the session-level advisory lock one server holds on its database ("aqserv" in
 * ASCII; migrations use another key).
 */
export const SERVER_LOCK_KEY = 0x61_71_73_65_72_76;

/** The refusal when another server holds the lock (one line). */
export const SERVER_LOCKED_MESSAGE = "another ActionQueue server is using this database (several servers on one database are not built yet: docs/scaling.md)";

/** Why opening failed, in one line (never with the URL's password). */
export class PgStoreOpenError extends Error {
  override readonly name = "StoreOpenError";
}

/** What the store tells the operator (a pino logger fits). */
export interface PgStoreLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface PgStoreOptions {
  /** postgres://user:password@host:port/database (libpq URL, as pg takes it). */
  readonly url: string;
  readonly log?: PgStoreLog;
}

/** Host, port and database of a URL: what may be logged (never the user's password). */
export function pgTarget(url: string): { host: string; port: number; database: string } {
  const u = new URL(url);
  const host = u.searchParams.get("host") ?? (u.hostname === "" ? "localhost" : u.hostname);
  const port = Number(u.searchParams.get("port") ?? (u.port === "" ? 5432 : u.port));
  const database = decodeURIComponent(u.pathname.replace(/^\//, "")) || decodeURIComponent(u.username) || "postgres";
  return { host, port, database };
}

function describe(url: string): string {
  try {
    const t = pgTarget(url);
    return `${t.host}:${t.port}/${t.database}`;
  } catch {
    return "(unparsable URL)";
  }
}

const oneLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ").trim();

/** The PostgreSQL Store for one server: durable commits to the database, reads from a mirror. */
export class PgStore implements Store {
  readonly reader: StoreReader;
  readonly #pool: pg.Pool;
  readonly #url: string;
  /** The connection holding the server lock; null once it was lost (taken again before the next commit). */
  #lock: pg.Client | null;
  readonly #journal: Journal;
  readonly #tables: Tables;
  readonly #log: PgStoreLog | undefined;
  /** Commits apply one after another, in call order. */
  readonly #commits = new InOrder();
  #closed: Promise<void> | null = null;
  /** Set when the mirror could not follow a committed change: later commits are refused. */
  #broken: EngineError | null = null;

  private constructor(url: string, pool: pg.Pool, lock: pg.Client, log: PgStoreLog | undefined) {
    this.#url = url;
    this.#pool = pool;
    this.#lock = lock;
    this.#watchLock(lock);
    this.#log = log;
    this.#journal = new Journal();
    this.#tables = createTables(this.#journal);
    this.reader = new MemoryReader(this.#tables);
  }

  /**
   * Connects, takes the server lock, migrates and loads the mirror. Refuses in one line
   * (PgStoreOpenError) a database that cannot be reached, one another server holds, one whose
   * schema is newer than this code, and one that cannot be read.
   */
  static async open(options: PgStoreOptions): Promise<PgStore> {
    const where = describe(options.url);
    const log = options.log;
    const pool = new pg.Pool(poolConfig({ connectionString: options.url, max: 4, connectionTimeoutMillis: 10_000 }));
    // An idle client the server dropped is re-emitted here; without a listener it is fatal.
    // The next query reconnects; a commit on a dead connection rejects with STORAGE_IO.
    pool.on("error", (e) => log?.warn({ err_message: oneLine(e) }, "PostgreSQL connection lost (idle); the next query reconnects"));
    // Durability does not depend on the database's setting: every connection commits synchronously.
    pool.on("connect", (client) => {
      client.query("SET synchronous_commit TO on").catch(() => undefined);
    });
    let lock: pg.Client | null;
    try {
      lock = await takeLock(options.url);
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw new PgStoreOpenError(`cannot connect to PostgreSQL at ${where}: ${oneLine(e)}`);
    }
    if (!lock) {
      await pool.end().catch(() => undefined);
      throw new PgStoreOpenError(SERVER_LOCKED_MESSAGE);
    }
    const store = new PgStore(options.url, pool, lock, log);
    try {
      await migrate(pool, { log: (m) => log?.info({ database: where }, m) });
      await store.#load();
    } catch (e) {
      await store.close().catch(() => undefined);
      throw new PgStoreOpenError(`cannot open PostgreSQL database ${where}: ${oneLine(e)}`);
    }
    return store;
  }

  /** Reads every table into the mirror, in one snapshot. */
  async #load(): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const q = async (sql: string) => (await client.query<Record<string, unknown>>(sql)).rows;
      const t = this.#tables;
      const [meta] = await q("SELECT r.value, m.oldest_revision, m.engine_paused FROM revision r CROSS JOIN meta m");
      if (meta) t.meta.put("meta", storedCopy<MetaRecord>(metaFromRow(meta)));
      const b = new Batch();
      for (const r of await q("SELECT t.id, t.status, t.progress, s.spec, s.payload FROM tasks t JOIN task_specs s ON s.task_id = t.id ORDER BY t.id")) {
        const task = taskFromRow(r as Parameters<typeof taskFromRow>[0]);
        b.add(t.tasks, task.id, storedCopy(taskState(task)));
        b.add(t.taskSpecs, task.id, storedCopy(task.spec));
        b.add(t.idxTaskQueue, [task.spec.queue, task.id], MARK);
        if (task.spec.parentTaskId) b.add(t.idxChildren, [task.spec.parentTaskId, task.id], MARK);
        for (const dep of task.spec.dependsOn) b.add(t.idxDependents, [dep, task.id], MARK);
        if (inCronIndex(task)) b.add(t.idxCron, task.id, MARK);
      }
      const counts = new Map<string, { key: readonly [string, string]; n: number }>();
      for (const r of await q(`SELECT ${RUN_COLUMNS} FROM runs ORDER BY id`)) {
        const run = storedCopy(runFromRow(r));
        b.add(t.runs, run.id, run);
        b.add(t.idxTaskRuns, [run.taskId, run.id], MARK);
        const ready: ReadyValue = { p: run.effectivePriority, c: run.createdAt, caps: run.capabilities, ks: run.keySlots, kh: run.keyHold };
        b.add(t.idxState, [run.queue, run.state, run.id], run.state === "READY" ? storedCopy(ready) : MARK);
        const c = counts.get(`${run.queue}\u0000${run.state}`) ?? { key: [run.queue, run.state] as const, n: 0 };
        c.n++;
        counts.set(`${run.queue}\u0000${run.state}`, c);
        if (isTerminal(run.state) && run.finishedAt !== null) b.add(t.idxFinished, [run.finishedAt, run.id], MARK);
      }
      for (const c of counts.values()) b.add(t.counts, c.key, c.n);
      // Timer entries from their rows, not from the runs' lists: a dropped entry stays dropped.
      for (const r of await q("SELECT at, kind, run_id FROM due_timers")) {
        const d = dueFromRow(r);
        b.add(t.idxDue, [d.at, d.kind, d.runId], MARK);
      }
      for (const r of await q("SELECT run_id, number, record, output FROM attempts")) {
        const a = storedCopy(attemptFromRow(r));
        b.add(t.attempts, [a.runId, a.number], a);
      }
      for (const r of await q("SELECT run_id, record FROM leases")) {
        const l = storedCopy(leaseFromRow(r));
        b.add(t.leases, l.runId, l);
      }
      for (const r of await q("SELECT key, run_id, record FROM key_holders")) {
        const h = storedCopy(keyHolderFromRow(r));
        b.add(t.keyholders, [h.key, h.runId], h);
      }
      for (const r of await q("SELECT name, paused, rate_per_second, burst FROM queues WHERE configured")) {
        const qr = storedCopy(queueFromRow(r));
        b.add(t.queues, qr.name, qr);
      }
      for (const r of await q("SELECT revision, record FROM events ORDER BY revision")) {
        const e = storedCopy(eventFromRow(r));
        b.add(t.events, e.revision, e);
      }
      for (const r of await q("SELECT task_id, purged_at, until FROM reservations")) {
        const res = storedCopy(reservationFromRow(r));
        b.add(t.reserved, res.taskId, res);
        b.add(t.idxReserved, [res.until, res.taskId], MARK);
      }
      await client.query("COMMIT");
      b.write();
    } catch (e) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  /**
   * Applies `verbs` as one transaction, then to the mirror. Rejects with SHUTTING_DOWN after
   * close, with STORAGE_IO / STORAGE_FULL when the database did not commit (nothing stored,
   * the mirror untouched). A stale `prev` (the database no longer holds what the engine
   * decided on; with one server, a bug) is STORAGE_IO naming the row.
   */
  async commit(verbs: readonly StoreVerb[]): Promise<void> {
    if (this.#closed) throw new EngineError("SHUTTING_DOWN", "the store is closed");
    if (verbs.length === 0) return;
    const batch = [...verbs];
    return this.#commits.run(() => this.#apply(batch));
  }

  /** Forgets the lock when its connection goes (a database restart ends the session and its lock). */
  #watchLock(lock: pg.Client): void {
    lock.on("error", () => undefined);
    lock.on("end", () => {
      if (this.#lock !== lock || this.#closed) return;
      this.#lock = null;
      this.#log?.warn({}, "PostgreSQL connection holding the server lock was lost; it is taken again before the next commit");
    });
  }

  /**
   * Takes the server lock again after its connection was lost, before anything is written: a
   * database that cannot be reached fails this commit (STORAGE_IO, retried by the next one);
   * a database another server took meanwhile fails this commit and every later one (the
   * mirror can no longer be trusted).
   */
  async #relock(): Promise<void> {
    let lock: pg.Client | null;
    try {
      lock = await takeLock(this.#url);
    } catch (e) {
      throw new EngineError("STORAGE_IO", `storage write failed: cannot take the server lock again: ${oneLine(e)}`, { cause: e });
    }
    if (!lock) {
      this.#broken = new EngineError("STORAGE_IO", `storage write refused: ${SERVER_LOCKED_MESSAGE}; restart this server once the other is stopped`);
      this.#log?.warn({}, "another ActionQueue server took the database while the lock connection was lost: every commit is refused; restart this server");
      throw this.#broken;
    }
    this.#lock = lock;
    this.#watchLock(lock);
    this.#log?.info({}, "PostgreSQL server lock taken again");
  }

  async #apply(verbs: readonly StoreVerb[]): Promise<void> {
    if (this.#broken) throw this.#broken;
    if (!this.#lock) await this.#relock();
    try {
      await commitVerbs(this.#pool, verbs);
    } catch (e) {
      const mapped = pgStorageError(e);
      if (mapped instanceof StaleWriteError) throw new EngineError("STORAGE_IO", `storage write failed: ${mapped.message}`, { cause: e });
      throw mapped;
    }
    this.#journal.begin();
    try {
      applyVerbs(this.#tables, verbs, storedCopy);
      this.#journal.end();
    } catch (e) {
      // Committed to the database, but the mirror could not follow: it no longer matches, so
      // nothing more is committed through it (a restart reloads it from the database).
      this.#journal.rollback();
      this.#broken = new EngineError("STORAGE_IO", `the in-memory view of the database failed (${oneLine(e)}); restart the server`, { cause: e });
      this.#log?.warn({ err_message: oneLine(e) }, "PostgreSQL store: the in-memory view could not apply a committed change; restart the server");
      throw this.#broken;
    }
  }

  /** Refuses further commits, waits for those made, releases the server lock, ends the pool. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#commits.settled();
      const lock = this.#lock;
      this.#lock = null;
      await lock?.query("SELECT pg_advisory_unlock($1::bigint)", [SERVER_LOCK_KEY]).catch(() => undefined);
      await lock?.end().catch(() => undefined);
      await this.#pool.end().catch(() => undefined);
    })();
    return this.#closed;
  }
}

/**
 * A new connection holding the server lock (session-level advisory lock), or null when
 * another session holds it. Throws when the database cannot be reached.
 */
async function takeLock(url: string): Promise<pg.Client | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1::bigint) AS ok", [SERVER_LOCK_KEY]);
    if (rows[0]?.ok === true) return client;
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  await client.end().catch(() => undefined);
  return null;
}

/** Entries collected per table, then written in key order (appends, not inserts, in the mirror). */
class Batch {
  readonly #byTable = new Map<Table<Key, unknown>, { key: Key; value: unknown }[]>();

  add<K extends Key, V>(table: Table<K, V>, key: K, value: V): void {
    const t = table as unknown as Table<Key, unknown>;
    let list = this.#byTable.get(t);
    if (!list) this.#byTable.set(t, (list = []));
    list.push({ key, value });
  }

  write(): void {
    for (const [table, list] of this.#byTable) {
      list.sort((a, b) => compareKeys(a.key, b.key));
      for (const { key, value } of list) table.put(key, value);
    }
  }
}
