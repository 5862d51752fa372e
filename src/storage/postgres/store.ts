/**
 * The PostgreSQL store (docs/scaling.md, "Several servers on one PostgreSQL"): the database
 * is the truth, shared by any number of servers; each server's engine reads a full in-memory
 * mirror of it, which follows the other servers' commits through the change log.
 *
 *  - Open: a pool (codec's poolConfig), `migrate`, then every table read into the mirror — the
 *    in-memory store's tables and reader (src/storage/memory), filled through bulk SELECTs in
 *    one REPEATABLE READ snapshot (load.ts) — so every StoreReader query answers synchronously,
 *    exactly as the memory store does; then a LISTEN connection for other servers' commits.
 *  - A batch's window (`acquire`) applies to the mirror every change other servers committed
 *    since this one's last (changes.ts) and hands those verbs to the engine, which brings its
 *    own memory up to them before it decides the batch. With concurrent commits (the default)
 *    it then opens a transaction and takes no lock: `claim` locks the runs the batch's leases
 *    may hand out (FOR UPDATE SKIP LOCKED), and `commit` writes the verbs with their checks and
 *    the stamp last (concurrent.ts), rejecting with CommitConflict when the batch was decided on
 *    state another server changed meanwhile; after the COMMIT the batch's revisions are moved to
 *    the ones the stamp gave and the changes just before it are applied first. With serial
 *    commits the window takes the change log head's row lock before following (the commits of
 *    all servers run one at a time), and `commit` writes the verbs, the change row, the head
 *    and a NOTIFY. Either way the promise settles once the COMMIT is durable (synchronous_commit
 *    on) and the mirror holds the batch; a failed database commit leaves the mirror untouched
 *    and rejects with STORAGE_IO / STORAGE_FULL. `release` ends a window that wrote nothing.
 *  - Between windows, `follow` applies what others committed without a lock (a NOTIFY, or a
 *    poll each second, says when), so watches and long polls on this server see other servers'
 *    changes, and reads see them before they answer (Engine.sync).
 *  - usedBytes: the mirror's estimate of the live data, as the memory store gives it: it grows
 *    with what is stored and falls when retention purges it, which is what the storage quota
 *    needs. The database's own size is no measure of that: it compresses values (TOAST) and
 *    does not shrink on DELETE until VACUUM, so a quota on it would never release.
 */
import pg from "pg";
import { EngineError } from "../../engine/errors.js";
import type { RunId } from "../../domain/ids.js";
import {
  type ClaimRequest,
  CommitConflict,
  type DueEntry,
  type Followed,
  type SharedCommit,
  type SharedStore,
  type StoreReader,
  type StoreVerb,
  shiftRevisions,
  stampedRange,
  timerClaimKey,
} from "../../engine/ports.js";
import { applyVerbs } from "../layout.js";
import { MemoryReader, type Tables, createTables } from "../memory/memory-reader.js";
import { Journal, storedCopy } from "../memory/tables.js";
import { poolConfig } from "./codec.js";
import { migrate } from "./migrate.js";
import { STALE_STATE, StaleWriteError, applyAndCommit as writeAndCommit, applyVerbs as writeVerbs, pgStorageError, rollbackAndRelease } from "./writer.js";
import { type ChangeRow, decodeChange, encodeChange, withPrev } from "./changes.js";
import { loadMirror } from "./load.js";
import { CLAIM, CLAIM_TIMERS, type Stamp, planConcurrent } from "./concurrent.js";
import { InOrder } from "../in-order.js";

/** A follow that found nothing new, and one that reloaded the mirror whole. */
const NOTHING: Followed = { verbs: [], reloaded: false };

/**
 * SQLSTATEs of a concurrent commit that lost a race: unique_violation, deadlock_detected,
 * serialization_failure, and a check that failed in the database (writer.ts STALE_STATE).
 */
const CONFLICT_STATES = new Set(["23505", "40P01", "40001", STALE_STATE]);
const RELOADED: Followed = { verbs: [], reloaded: true };

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
  /**
   * concurrent (the default): batches of several servers decided and written at once, a batch
   * decided on state another server changed meanwhile refused (docs/scaling.md, "Concurrent
   * commits"). serial: every commit of every server under one lock, taken before the batch is
   * decided.
   */
  readonly commits?: "serial" | "concurrent";
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

/** How long change rows are kept (ms): a server further behind than this reloads everything. */
export const CHANGES_KEEP_MS = 30_000;
/** The channel commits notify on (payload: the change's seq). */
export const CHANGES_CHANNEL = "actionqueue_changes";
/** How often a server looks for others' changes without a notification (ms): a lost one costs this much latency. */
const FOLLOW_POLL_MS = 1_000;
/** Wait before a lost LISTEN connection is opened again (ms). */
const RELISTEN_MS = 1_000;

/** The PostgreSQL Store: durable commits to the database shared by every server, reads from a mirror. */
export class PgStore implements SharedStore {
  readonly shared = true;
  readonly concurrent: boolean;
  readonly reader: StoreReader;
  readonly #pool: pg.Pool;
  readonly #url: string;
  readonly #journal: Journal;
  readonly #tables: Tables;
  readonly #log: PgStoreLog | undefined;
  /** The last change of the log the mirror holds. */
  #applied = 0;
  /** The open commit window: its transaction holds the head row's lock; `head` is the seq it read. */
  #window: { client: pg.PoolClient; head: number } | null = null;
  /** Commits and follows run one at a time, in call order. */
  readonly #serial = new InOrder();
  readonly #listeners: Array<() => void> = [];
  #listen: pg.Client | null = null;
  #poll: NodeJS.Timeout | null = null;
  #relisten: NodeJS.Timeout | null = null;
  #closed: Promise<void> | null = null;
  /** When this server last pruned the change log (concurrent commits prune once a second). */
  #prunedAt = 0;
  /**
   * What the mirror took in but the engine was not handed: a window that failed after its
   * follow (its BEGIN met the database going down). Handed over first by the next follow or
   * window, or the engine's memory (watch events, ready index, key gate) would miss it.
   */
  #undelivered: Followed = NOTHING;
  /** Set when the mirror could not follow a committed change: later commits are refused. */
  #broken: EngineError | null = null;

  private constructor(url: string, pool: pg.Pool, log: PgStoreLog | undefined, concurrent: boolean) {
    this.concurrent = concurrent;
    this.#url = url;
    this.#pool = pool;
    this.#log = log;
    this.#journal = new Journal();
    this.#tables = createTables(this.#journal);
    this.reader = new MemoryReader(this.#tables);
  }

  /**
   * Connects, migrates and loads the mirror, then listens for other servers' commits. Refuses
   * in one line (PgStoreOpenError) a database that cannot be reached, one whose schema is newer
   * than this code, and one that cannot be read.
   */
  static async open(options: PgStoreOptions): Promise<PgStore> {
    const where = describe(options.url);
    const log = options.log;
    // Durability does not depend on the database's setting: every connection commits
    // synchronously (a startup parameter, so no query races the first one on a new client).
    const pool = new pg.Pool(poolConfig({ connectionString: options.url, max: 4, connectionTimeoutMillis: 10_000, options: "-c synchronous_commit=on" }));
    // An idle client the server dropped is re-emitted here; without a listener it is fatal.
    // The next query reconnects; a commit on a dead connection rejects with STORAGE_IO.
    pool.on("error", (e) => log?.warn({ err_message: oneLine(e) }, "PostgreSQL connection lost (idle); the next query reconnects"));
    const store = new PgStore(options.url, pool, log, options.commits !== "serial");
    try {
      await pool.query("SELECT 1");
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw new PgStoreOpenError(`cannot connect to PostgreSQL at ${where}: ${oneLine(e)}`);
    }
    try {
      await migrate(pool, { log: (m) => log?.info({ database: where }, m) });
      const client = guarded(await pool.connect());
      try {
        await store.#load(client);
      } finally {
        client.release();
      }
    } catch (e) {
      await store.close().catch(() => undefined);
      throw new PgStoreOpenError(`cannot open PostgreSQL database ${where}: ${oneLine(e)}`);
    }
    store.#startListening();
    store.#poll = setInterval(() => store.#changed(), FOLLOW_POLL_MS);
    store.#poll.unref();
    return store;
  }

  /** Calls `listener` whenever another server may have committed (a wake-up: `follow` reads what). */
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  #changed(): void {
    if (this.#closed) return;
    for (const l of this.#listeners) l();
  }

  /** LISTEN on a connection of its own; a lost one is opened again (the poll covers the gap). */
  #startListening(): void {
    if (this.#closed) return;
    const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 10_000 });
    this.#listen = client;
    const again = () => {
      if (this.#listen !== client) return;
      this.#listen = null;
      client.end().catch(() => undefined);
      if (this.#closed || this.#relisten) return;
      this.#relisten = setTimeout(() => {
        this.#relisten = null;
        this.#startListening();
        this.#changed();
      }, RELISTEN_MS);
      this.#relisten.unref();
    };
    client.on("error", again);
    client.on("end", again);
    client.on("notification", (n) => {
      if (n.channel === CHANGES_CHANNEL && Number(n.payload) > this.#applied) this.#changed();
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${CHANGES_CHANNEL}`))
      .catch(again);
  }

  /**
   * Opens a commit window: waits for the head row's lock (every server's commits run one at a
   * time), then brings the mirror up to the log. The next `commit` writes in this window's
   * transaction; `release` ends it without writing. Rejects with STORAGE_IO when the database
   * cannot be reached (no window is open then).
   */
  acquire(): Promise<Followed> {
    return this.#serial.run(() => this.#acquire());
  }

  async #acquire(): Promise<Followed> {
    this.#usable();
    if (this.#window) throw new EngineError("INTERNAL", "a commit window is already open");
    const client = await this.#checkout();
    if (this.concurrent) {
      // No lock: the batch is decided on the log as of now and checked at commit.
      let followed: Followed | null = null;
      try {
        followed = this.#deliver(await this.#follow(client, null));
        await client.query("BEGIN");
        this.#window = { client, head: -1 };
        return followed;
      } catch (e) {
        if (followed) this.#undelivered = followed;
        await rollbackAndRelease(client);
        throw EngineError.is(e) ? e : pgStorageError(e);
      }
    }
    try {
      await client.query("BEGIN");
      const { rows } = await client.query<{ seq: number }>("SELECT seq FROM change_head FOR UPDATE");
      const head = Number(rows[0]?.seq ?? 0);
      const followed = this.#deliver(await this.#follow(client, head));
      this.#window = { client, head };
      return followed;
    } catch (e) {
      await rollbackAndRelease(client);
      throw EngineError.is(e) ? e : pgStorageError(e);
    }
  }

  /**
   * Concurrent commits: the hand-out claim (./concurrent.ts CLAIM) of each request, in the
   * open window's transaction; the window ends (and the locks go) with its commit or release.
   * The window is closed when this fails.
   */
  claim(requests: readonly ClaimRequest[]): Promise<ReadonlySet<string>> {
    return this.#serial.run(async () => {
      const w = this.#window;
      if (!w) throw new EngineError("INTERNAL", "claim without a window");
      try {
        const ids = new Set<string>();
        const timers: DueEntry[] = [];
        // Leases asking for the same queues with the same capabilities claim together (one
        // query for the usual batch); the others each get runs of their own after them.
        const leases = new Map<string, { queues: readonly string[]; capabilities: readonly string[]; max: number }>();
        for (const r of requests) {
          if (r.kind === "timer") {
            timers.push(r.entry);
            continue;
          }
          const key = JSON.stringify([r.queues, [...r.capabilities].sort()]);
          const same = leases.get(key);
          if (same) same.max += r.max;
          else leases.set(key, { queues: r.queues, capabilities: r.capabilities, max: r.max });
        }
        for (const r of leases.values()) {
          const { rows } = await w.client.query<{ id: string }>({ name: "aq_claim", text: CLAIM, values: [r.queues, r.capabilities, r.max, [...ids]] });
          for (const row of rows) ids.add(row.id);
        }
        if (timers.length > 0) {
          const { rows } = await w.client.query<{ at: string; kind: DueEntry["kind"]; run_id: RunId }>({
            name: "aq_claim_timers",
            text: CLAIM_TIMERS,
            values: [timers.map((t) => t.at), timers.map((t) => t.kind), timers.map((t) => t.runId)],
          });
          for (const row of rows) ids.add(timerClaimKey({ at: Number(row.at), kind: row.kind, runId: row.run_id }));
        }
        return ids;
      } catch (e) {
        this.#window = null;
        await rollbackAndRelease(w.client);
        throw pgStorageError(e);
      }
    });
  }

  /** Ends the open window without writing (its lock released). */
  release(): Promise<void> {
    return this.#serial.run(async () => {
      const w = this.#window;
      this.#window = null;
      if (!w) return;
      try {
        await w.client.query("COMMIT");
        w.client.release();
      } catch {
        await rollbackAndRelease(w.client);
      }
    });
  }

  /**
   * Brings the mirror up to the log without the lock (between windows: what others committed
   * since). What a snapshot sees of the log is a gap-free prefix (schema version 2).
   */
  follow(): Promise<Followed> {
    return this.#serial.run(async () => {
      this.#usable();
      if (this.#window) return NOTHING;
      const client = await this.#checkout();
      try {
        const followed = this.#deliver(await this.#follow(client, null));
        client.release();
        return followed;
      } catch (e) {
        await rollbackAndRelease(client);
        throw EngineError.is(e) ? e : pgStorageError(e);
      }
    });
  }

  /**
   * Applies the changes after the mirror's (up to `head` when known), one verb at a time, each
   * with the `prev` the mirror holds just before it. A log that no longer starts right after
   * the mirror (pruned while this server was away) reloads the mirror whole instead.
   */
  async #follow(client: pg.ClientBase, head: number | null): Promise<Followed> {
    if (head !== null && head === this.#applied) return NOTHING;
    const { rows } = await client.query<ChangeRow>(
      head === null
        ? "SELECT seq, verbs, revision_delta FROM changes WHERE seq > $1 ORDER BY seq"
        : "SELECT seq, verbs, revision_delta FROM changes WHERE seq > $1 AND seq <= $2 ORDER BY seq",
      head === null ? [this.#applied] : [this.#applied, head],
    );
    return this.#apply(client, rows, head, head !== null);
  }

  /** `f`, after what the engine was not handed yet (#undelivered); a reload covers both. */
  #deliver(f: Followed): Followed {
    const before = this.#undelivered;
    if (before.verbs.length === 0 && !before.reloaded) return f;
    this.#undelivered = NOTHING;
    if (before.reloaded || f.reloaded) return RELOADED;
    return { verbs: [...before.verbs, ...f.verbs], reloaded: false };
  }

  /**
   * Applies change rows read after the mirror's last (up to `head` when known); reloads the
   * mirror whole instead when they do not start right after it (see #follow): through
   * `client`, in its open transaction when `inTransaction`.
   */
  async #apply(client: pg.ClientBase, rows: readonly ChangeRow[], head: number | null, inTransaction: boolean): Promise<Followed> {
    if (rows.length === 0 && (head === null || head === this.#applied)) return NOTHING;
    const gapless = rows.every((r, i) => Number(r.seq) === this.#applied + i + 1) && (head === null || Number(rows.at(-1)?.seq) === head);
    if (!gapless) {
      this.#log?.warn({ applied: this.#applied, head }, "this server is behind the change log's retention; reloading everything from PostgreSQL");
      await this.#load(client, inTransaction);
      return RELOADED;
    }
    const verbs: StoreVerb[] = [];
    this.#journal.begin();
    try {
      for (const r of rows) {
        const change = decodeChange(r.verbs);
        const delta = Number(r.revision_delta);
        if (delta !== 0) {
          // Decided on other revisions than it got at commit (concurrent commits): move them.
          const stamped = stampedRange(change as readonly StoreVerb[]);
          if (stamped) shiftRevisions(change as readonly StoreVerb[], stamped.first - 1, delta);
        }
        for (const logged of change) {
          const v = withPrev(logged, this.reader);
          applyVerbs(this.#tables, [v], storedCopy);
          verbs.push(v);
        }
      }
      this.#journal.end();
    } catch (e) {
      this.#journal.rollback();
      throw this.#break(e);
    }
    this.#applied = Number(rows.at(-1)?.seq ?? this.#applied);
    return { verbs, reloaded: false };
  }

  /**
   * Applies `verbs` as one transaction, then to the mirror: in the open window when there is
   * one (the engine's way), else in a window of its own. Rejects with SHUTTING_DOWN after
   * close, with STORAGE_IO / STORAGE_FULL when the database did not commit (nothing stored,
   * the mirror untouched). A stale `prev` is CommitConflict with concurrent commits (another
   * server changed the row), STORAGE_IO under the commit lock (a bug).
   */
  async commit(verbs: readonly StoreVerb[]): Promise<SharedCommit> {
    if (this.#closed) throw new EngineError("SHUTTING_DOWN", "the store is closed");
    if (verbs.length === 0) {
      await this.release();
      return { followed: NOTHING, revisionDelta: 0 };
    }
    const batch = [...verbs];
    return this.#serial.run(async () => {
      // Outside a window (tools, the contract suite): one of its own; what others committed
      // meanwhile reaches the reader, with no engine to tell.
      if (!this.#window) await this.#acquire();
      if (this.concurrent) return this.#commitConcurrent(batch);
      await this.#commit(batch);
      return { followed: NOTHING, revisionDelta: 0 };
    });
  }

  async #commit(verbs: readonly StoreVerb[]): Promise<void> {
    const w = this.#window;
    this.#window = null;
    if (!w) throw new EngineError("INTERNAL", "commit without a window");
    const seq = w.head + 1;
    const now = Date.now();
    try {
      this.#usable();
      await writeVerbs(w.client, verbs, [
        { text: "INSERT INTO changes (seq, at, verbs) VALUES ($1, $2, $3)", values: [seq, now, encodeChange(verbs)] },
        { text: "UPDATE change_head SET seq = $1", values: [seq] },
        { text: "DELETE FROM changes WHERE at < $1", values: [now - CHANGES_KEEP_MS] },
        { text: `SELECT pg_notify('${CHANGES_CHANNEL}', $1)`, values: [String(seq)] },
      ]);
      await w.client.query("COMMIT");
    } catch (e) {
      await rollbackAndRelease(w.client);
      const mapped = pgStorageError(e);
      if (mapped instanceof StaleWriteError) throw new EngineError("STORAGE_IO", `storage write failed: ${mapped.message}`, { cause: e });
      throw mapped;
    }
    w.client.release();
    this.#mirror(verbs, seq);
  }

  /**
   * A concurrent commit (./concurrent.ts): the verbs with their checks, the stamp, COMMIT.
   * Then the revisions the stamp gave are moved into the batch's records, the changes other
   * servers committed just before this one are applied to the mirror (and returned for the
   * engine), and this one after them.
   */
  async #commitConcurrent(verbs: readonly StoreVerb[]): Promise<SharedCommit> {
    const w = this.#window;
    this.#window = null;
    if (!w) throw new EngineError("INTERNAL", "commit without a window");
    const now = Date.now();
    const stamp: Stamp = { seq: 0, delta: 0, before: [] };
    try {
      this.#usable();
      const statements = planConcurrent(verbs, this.reader, encodeChange(verbs), now, CHANGES_CHANNEL, this.#applied, stamp);
      // Pruning deletes rows every server's commit would otherwise wait on: once a second.
      if (now - this.#prunedAt >= FOLLOW_POLL_MS) {
        this.#prunedAt = now;
        statements.push({ text: "DELETE FROM changes WHERE at < $1", values: [now - CHANGES_KEEP_MS] });
      }
      await writeAndCommit(w.client, statements);
    } catch (e) {
      await rollbackAndRelease(w.client);
      const code = (e as { code?: unknown } | null)?.code;
      if (e instanceof StaleWriteError || (typeof code === "string" && CONFLICT_STATES.has(code))) {
        throw new CommitConflict(`another server changed what this batch was decided on: ${oneLine(e)}`, { cause: e });
      }
      throw pgStorageError(e);
    }
    const range = stampedRange(verbs);
    if (range) shiftRevisions(verbs, range.first - 1, stamp.delta);
    let followed: Followed;
    try {
      // The changes committed just before this one, read in its transaction after its stamp
      // (so no round trip after the COMMIT, which could find the database gone).
      followed = await this.#apply(w.client, stamp.before, stamp.seq - 1, false);
    } catch (e) {
      w.client.release();
      throw EngineError.is(e) ? e : this.#break(e);
    }
    w.client.release();
    // A reload (this server was behind the log's retention) read this commit too.
    if (!followed.reloaded) this.#mirror(verbs, stamp.seq);
    return { followed, revisionDelta: stamp.delta };
  }

  /** This server's committed change `seq` on the mirror. */
  #mirror(verbs: readonly StoreVerb[], seq: number): void {
    this.#journal.begin();
    try {
      applyVerbs(this.#tables, verbs, storedCopy);
      this.#journal.end();
    } catch (e) {
      this.#journal.rollback();
      throw this.#break(e);
    }
    this.#applied = seq;
  }

  /** A pooled client (with its 'error' listener, see `guarded`); STORAGE_IO when none can be had. */
  async #checkout(): Promise<pg.PoolClient> {
    try {
      return guarded(await this.#pool.connect());
    } catch (e) {
      throw pgStorageError(e);
    }
  }

  #usable(): void {
    if (this.#closed) throw new EngineError("SHUTTING_DOWN", "the store is closed");
    if (this.#broken) throw this.#broken;
  }

  /**
   * Committed to the database, but the mirror could not follow: it no longer matches, so
   * nothing more is committed through it (a restart reloads it from the database).
   */
  #break(e: unknown): EngineError {
    this.#broken = new EngineError("STORAGE_IO", `the in-memory view of the database failed (${oneLine(e)}); restart the server`, { cause: e });
    this.#log?.warn({ err_message: oneLine(e) }, "PostgreSQL store: the in-memory view could not apply a committed change; restart the server");
    return this.#broken;
  }

  /**
   * Reads every table into the mirror (replacing what it held), in one snapshot: a
   * REPEATABLE READ transaction of its own, or, `inWindow`, the window's transaction, where
   * the head row's lock keeps every other commit out.
   */
  async #load(client: pg.ClientBase, inWindow = false): Promise<void> {
    this.#applied = await loadMirror(client, this.#tables, inWindow);
  }

  /** Refuses further commits, waits for those made, stops listening, ends the pool. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      if (this.#poll) clearInterval(this.#poll);
      if (this.#relisten) clearTimeout(this.#relisten);
      const listen = this.#listen;
      this.#listen = null;
      await listen?.end().catch(() => undefined);
      await this.#serial.settled();
      const w = this.#window;
      this.#window = null;
      if (w) await rollbackAndRelease(w.client);
      await this.#pool.end().catch(() => undefined);
    })();
    return this.#closed;
  }
}

/** Clients that carry this store's error listener. */
const listened = new WeakSet<pg.PoolClient>();

/**
 * A checked-out client with an 'error' listener: the pool listens only while a client is idle,
 * and a connection that drops while a window holds its client (the database shutting down)
 * would otherwise emit an unhandled 'error' and end the process. The failure reaches the
 * store anyway, through the client's next query.
 */
function guarded(client: pg.PoolClient): pg.PoolClient {
  if (!listened.has(client)) {
    listened.add(client);
    client.on("error", () => undefined);
  }
  return client;
}
