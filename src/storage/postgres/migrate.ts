/**
 * Brings a PostgreSQL database to the schema this code knows (./schema.ts), safely when
 * several servers start at once:
 *  - every step runs in a transaction that first takes a transaction-level advisory lock
 *    (`pg_advisory_xact_lock`, one fixed key), so steps of different servers never overlap;
 *    the lock ends with the transaction, so a server that dies mid-step leaves no lock;
 *  - `schema_migrations` (one row per applied version) is created if missing, under the lock
 *    (concurrent `CREATE TABLE IF NOT EXISTS` can otherwise fail on the catalog);
 *  - each missing version is applied in its own transaction together with its row, after
 *    re-reading what is applied under the lock: a version another server applied meanwhile
 *    is skipped, so each is applied exactly once. A failing migration rolls back whole: the
 *    database stays at the previous version with nothing of the failed one;
 *  - a database whose newest applied version is newer than the code's is refused before
 *    anything changes (a server older than its database must not write to it).
 */
import type pg from "pg";
import { MIGRATIONS, type Migration } from "./schema.js";

/**
 * Key of the advisory lock migrations take ("aqmigr" in ASCII): any fixed value works, as
 * long as no other advisory lock on the same database uses it.
 */
export const MIGRATION_LOCK_KEY = 0x61_71_6d_69_67_72;

const CREATE_SCHEMA_MIGRATIONS = `
CREATE TABLE IF NOT EXISTS schema_migrations (
  version int PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/** Why migrating refused or failed, in one line. */
export class MigrationError extends Error {
  override readonly name = "MigrationError";
}

export interface MigrateOptions {
  /** The migrations to apply (default: MIGRATIONS). Tests pass extra ones. */
  readonly migrations?: readonly Migration[];
  /** Told one line per applied version. */
  readonly log?: (message: string) => void;
}

export interface MigrateResult {
  /** Versions this call applied, in order (empty when the database was current). */
  readonly applied: number[];
  /** The database's version afterwards. */
  readonly current: number;
}

/** Refuses a list that is not strictly increasing positive integer versions with names. */
function checkList(migrations: readonly Migration[]): void {
  let last = 0;
  for (const m of migrations) {
    if (!Number.isSafeInteger(m.version) || m.version <= last) {
      throw new MigrationError(`migration versions must be increasing positive integers: ${m.version} follows ${last}`);
    }
    if (m.name.trim() === "") throw new MigrationError(`migration ${m.version} has no name`);
    last = m.version;
  }
}

/** Runs `fn` in a transaction on one client; rolls back when it throws. */
async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    try {
      const out = await fn(client);
      await client.query("COMMIT");
      return out;
    } catch (e) {
      await client.query("ROLLBACK").catch((rollbackError: unknown) => {
        // The connection is unusable: drop it from the pool rather than reuse it.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw e;
    }
  } finally {
    client.release(broken);
  }
}

/** Applied versions, ascending (the table exists: the caller created it under the lock). */
async function appliedVersions(client: pg.PoolClient): Promise<number[]> {
  const { rows } = await client.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version");
  return rows.map((r) => r.version);
}

/** Applies every version of `options.migrations` the database lacks, in order. */
export async function migrate(pool: pg.Pool, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = options.migrations ?? MIGRATIONS;
  checkList(migrations);
  const known = migrations.at(-1)?.version ?? 0;
  const applied: number[] = [];
  for (;;) {
    const step = await inTransaction(pool, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock($1::bigint)", [MIGRATION_LOCK_KEY]);
      await client.query(CREATE_SCHEMA_MIGRATIONS);
      const versions = await appliedVersions(client);
      const newest = versions.at(-1) ?? 0;
      if (newest > known) {
        throw new MigrationError(
          `the database is at schema version ${newest}, newer than this server knows (${known}): upgrade the server`,
        );
      }
      const done = new Set(versions);
      const next = migrations.find((m) => !done.has(m.version));
      if (!next) return { next: undefined, current: newest };
      if (next.version < newest) {
        throw new MigrationError(`the database is at schema version ${newest} but lacks version ${next.version}: it was not migrated by this code`);
      }
      try {
        await client.query(next.sql);
      } catch (e) {
        throw new MigrationError(`schema migration ${next.version} (${next.name}) failed: ${(e as Error).message}`, { cause: e });
      }
      await client.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [next.version, next.name]);
      return { next, current: next.version };
    });
    if (!step.next) return { applied, current: step.current };
    applied.push(step.next.version);
    options.log?.(`applied schema migration ${step.next.version} (${step.next.name})`);
  }
}

/** The newest applied version; 0 when nothing was ever applied. */
export async function currentVersion(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ exists: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS exists");
  if (!rows[0]?.exists) return 0;
  const r = await pool.query<{ version: number | null }>("SELECT max(version) AS version FROM schema_migrations");
  return r.rows[0]?.version ?? 0;
}
