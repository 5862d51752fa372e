/**
 * The PostgreSQL schema and its migration runner (src/storage/postgres/schema.ts,
 * migrate.ts) on a real, throw-away cluster (test/support/postgres.ts): a fresh database gets
 * every version and the tables and indexes the design needs (the hand-out claim walks its
 * partial index with no Sort); migrating again does nothing; servers migrating at once apply
 * each version exactly once; a database newer than the code is refused untouched; a failing
 * migration leaves the previous version and nothing of itself. One cluster for the file, a
 * database per test. Skipped, saying why, only when PostgreSQL is not installed.
 */
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MigrationError, currentVersion, migrate } from "../../../src/storage/postgres/migrate.js";
import { LATEST_VERSION, MIGRATIONS, type Migration, TABLES } from "../../../src/storage/postgres/schema.js";
import { HAVE_POSTGRES, PG_LIB, type PostgresCluster, startPostgres, warnWithoutPostgres } from "../../support/postgres.js";

warnWithoutPostgres("migrate.test.ts");

const ALL_VERSIONS = MIGRATIONS.map((m) => m.version);

/**
 * The design's claim (docs/scaling.md §2) for one queue, with literals for EXPLAIN. One queue
 * per claim: with `queue = ANY(array)` PostgreSQL 15 reads the index per array element and
 * sorts what it found (even for one element), so several queues are claimed per queue, e.g.
 * in a LATERAL join.
 */
const CLAIM = `SELECT id FROM runs WHERE queue = 'default' AND state = 'READY'
  ORDER BY effective_priority DESC, created_at, id LIMIT 10 FOR UPDATE SKIP LOCKED`;
const CLAIM_LATERAL = `SELECT r.id FROM unnest('{a,b}'::text[]) AS q(name) CROSS JOIN LATERAL (
  SELECT id, effective_priority, created_at FROM runs WHERE queue = q.name AND state = 'READY'
  ORDER BY effective_priority DESC, created_at, id LIMIT 10 FOR UPDATE SKIP LOCKED) AS r
  ORDER BY r.effective_priority DESC, r.created_at, r.id LIMIT 10`;

/** One index per StoreReader query and the design's SQL: [table, index, columns (and predicate) it must cover]. */
const INDEXES: ReadonlyArray<readonly [string, string, RegExp]> = [
  ["runs", "runs_handout", /\(queue, effective_priority DESC, created_at, id\) WHERE \(state = 'READY'::text\)/],
  ["runs", "runs_queue_state", /\(queue, state, id\)/],
  ["runs", "runs_task", /\(task_id, id\)/],
  ["runs", "runs_finished", /\(finished_at, id\) WHERE \(finished_at IS NOT NULL\)/],
  ["tasks", "tasks_queue", /\(queue, id\)/],
  ["tasks", "tasks_parent", /\(parent_id, id\) WHERE \(parent_id IS NOT NULL\)/],
  ["tasks", "tasks_cron", /\(id\) WHERE \(is_cron AND \(status = 'ACTIVE'::text\)\)/],
  ["task_dependencies", "task_dependencies_pkey", /\(prerequisite_id, task_id\)/],
  ["due_timers", "due_timers_pkey", /\(at, kind, run_id\)/],
  ["due_timers", "due_timers_run", /\(run_id\)/],
  ["key_holders", "key_holders_pkey", /\(key, run_id\)/],
  ["concurrency_keys", "concurrency_keys_pkey", /\(key\)/],
  ["reservations", "reservations_until", /\(until, task_id\)/],
  ["events", "events_pkey", /\(revision\)/],
  ["attempts", "attempts_pkey", /\(run_id, number\)/],
];

describe.skipIf(!HAVE_POSTGRES)(HAVE_POSTGRES ? "PostgreSQL schema migrations" : `PostgreSQL schema migrations (SKIPPED: no ${PG_LIB}/<version>/bin/initdb)`, () => {
  let cluster: PostgresCluster | undefined;
  /** Every pool a test opens; ended after it. */
  let pools: pg.Pool[] = [];

  function poolFor(url: string, max = 2): pg.Pool {
    const pool = new pg.Pool({ connectionString: url, max });
    pool.on("error", () => {});
    pools.push(pool);
    return pool;
  }

  async function freshDatabase(name: string): Promise<string> {
    if (!cluster) throw new Error("no cluster (beforeAll failed)");
    return cluster.createDatabase(name);
  }

  async function tables(pool: pg.Pool): Promise<string[]> {
    const { rows } = await pool.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name",
    );
    return rows.map((r) => r.table_name);
  }

  async function migrationRows(pool: pg.Pool): Promise<Array<{ version: number; name: string }>> {
    const { rows } = await pool.query<{ version: number; name: string }>("SELECT version, name FROM schema_migrations ORDER BY version");
    return rows;
  }

  beforeAll(async () => {
    cluster = await startPostgres();
  });

  afterEach(async () => {
    const open = pools;
    pools = [];
    await Promise.allSettled(open.map((p) => p.end()));
  });

  afterAll(async () => {
    await Promise.allSettled(pools.map((p) => p.end()));
    await cluster?.stop();
  });

  it("a fresh database gets every migration: the tables, the indexes, times as bigint, and a claim that walks the hand-out index", async () => {
    const pool = poolFor(await freshDatabase("fresh"));
    expect(await currentVersion(pool)).toBe(0);
    const logged: string[] = [];
    const result = await migrate(pool, { log: (m) => logged.push(m) });
    expect(result).toEqual({ applied: ALL_VERSIONS, current: LATEST_VERSION });
    expect(logged).toHaveLength(ALL_VERSIONS.length);
    expect(await currentVersion(pool)).toBe(LATEST_VERSION);
    expect((await migrationRows(pool)).map((r) => r.version)).toEqual(ALL_VERSIONS);

    expect(await tables(pool)).toEqual([...TABLES, "schema_migrations"].sort());

    const { rows: indexes } = await pool.query<{ tablename: string; indexname: string; indexdef: string }>(
      "SELECT tablename, indexname, indexdef FROM pg_catalog.pg_indexes WHERE schemaname = current_schema()",
    );
    for (const [table, name, covers] of INDEXES) {
      const ix = indexes.find((i) => i.indexname === name);
      expect(ix, name).toBeDefined();
      expect(ix?.tablename, name).toBe(table);
      expect(ix?.indexdef, name).toMatch(covers);
    }

    // Times are epoch ms in bigint: every *_at column and until.
    const { rows: timeColumns } = await pool.query<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name <> 'schema_migrations' AND (column_name LIKE '%\\_at' OR column_name IN ('at', 'until'))`,
    );
    expect(timeColumns.map((c) => `${c.table_name}.${c.column_name}`).sort()).toEqual(
      ["changes.at", "due_timers.at", "queues.tokens_at", "reservations.purged_at", "reservations.until", "runs.created_at", "runs.finished_at"],
    );
    for (const c of timeColumns) expect(c.data_type, `${c.table_name}.${c.column_name}`).toBe("bigint");

    // The one-row tables start at revision 0, oldest revision 1, engine running.
    expect((await pool.query("SELECT value FROM revision")).rows).toEqual([{ value: "0" }]);
    expect((await pool.query("SELECT oldest_revision, engine_paused FROM meta")).rows).toEqual([{ oldest_revision: "1", engine_paused: false }]);

    // The claim, steered away from scans of the whole table, walks the partial index in the
    // hand-out order: no Sort. Over several queues (LATERAL, one claim per queue) each queue's
    // rows are locked straight off the index; only the few claimed rows are sorted after.
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off");
      const explain = async (q: string) => (await client.query<{ "QUERY PLAN": string }>(`EXPLAIN (COSTS OFF) ${q}`)).rows.map((r) => r["QUERY PLAN"]).join("\n");
      const plan = await explain(CLAIM);
      expect(plan).toMatch(/LockRows\n\s+-> {2}Index Scan using runs_handout on runs/);
      expect(plan).not.toMatch(/Sort/);
      const lateral = await explain(CLAIM_LATERAL);
      const underLock = lateral.slice(lateral.indexOf("LockRows"));
      expect(underLock).toMatch(/LockRows\n\s+-> {2}Index Scan using runs_handout on runs/);
      expect(underLock).not.toMatch(/Sort/);
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
  });

  it("migrating a current database again applies nothing", async () => {
    const pool = poolFor(await freshDatabase("again"));
    await migrate(pool);
    const before = await migrationRows(pool);
    expect(await migrate(pool)).toEqual({ applied: [], current: LATEST_VERSION });
    expect(await migrationRows(pool)).toEqual(before);
  });

  it("4 servers migrating one fresh database at once: each version applied exactly once, no error", async () => {
    const url = await freshDatabase("concurrent");
    // Extra versions after the real ones, so several steps interleave.
    const extra: Migration[] = [
      { version: LATEST_VERSION + 1, name: "test extra a", sql: "CREATE TABLE extra_a (id int PRIMARY KEY)" },
      { version: LATEST_VERSION + 2, name: "test extra b", sql: "CREATE TABLE extra_b (id int PRIMARY KEY); INSERT INTO extra_b VALUES (1)" },
    ];
    const migrations = [...MIGRATIONS, ...extra];
    const servers = Array.from({ length: 4 }, () => poolFor(url));
    const results = await Promise.all(servers.map((pool) => migrate(pool, { migrations })));

    const versions = migrations.map((m) => m.version);
    for (const r of results) expect(r.current).toBe(LATEST_VERSION + 2);
    expect(results.flatMap((r) => r.applied).sort((a, b) => a - b)).toEqual(versions);
    for (const r of results) expect(r.applied).toEqual([...r.applied].sort((a, b) => a - b));
    const rows = await migrationRows(servers[0] as pg.Pool);
    expect(rows).toEqual(migrations.map((m) => ({ version: m.version, name: m.name })));
    expect((await (servers[0] as pg.Pool).query("SELECT id FROM extra_b")).rows).toEqual([{ id: 1 }]);
  });

  it("a database newer than the code is refused with one line naming both versions, and left as it was", async () => {
    const pool = poolFor(await freshDatabase("newer"));
    // A newer server recorded a version this code does not know, before anything else.
    await pool.query("CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    const future = LATEST_VERSION + 7;
    await pool.query("INSERT INTO schema_migrations (version, name) VALUES ($1, 'from the future')", [future]);
    const before = await migrationRows(pool);

    const error = await migrate(pool).then(
      () => new Error("migrate accepted a newer database"),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MigrationError);
    const message = (error as Error).message;
    expect(message).not.toMatch(/\n/);
    expect(message).toContain(String(future));
    expect(message).toContain(`(${LATEST_VERSION})`);
    expect(message).toBe(`the database is at schema version ${future}, newer than this server knows (${LATEST_VERSION}): upgrade the server`);

    // Nothing changed: no table of version 1 was created, the versions are as they were.
    expect(await tables(pool)).toEqual(["schema_migrations"]);
    expect(await migrationRows(pool)).toEqual(before);
    expect(await currentVersion(pool)).toBe(future);
  });

  it("a migration failing mid-way leaves the database at the previous version with nothing of it", async () => {
    const pool = poolFor(await freshDatabase("failing"));
    const bad: Migration = {
      version: LATEST_VERSION + 1,
      name: "fails after creating a table",
      sql: "CREATE TABLE half_done (id int PRIMARY KEY); INSERT INTO half_done VALUES (1); ALTER TABLE runs ADD COLUMN broken int; SELECT 1 / 0",
    };
    const error = await migrate(pool, { migrations: [...MIGRATIONS, bad] }).then(
      () => new Error("the bad migration was applied"),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toBe(`schema migration ${bad.version} (${bad.name}) failed: division by zero`);

    // The good versions before it stay applied; nothing of the bad one is left.
    expect(await currentVersion(pool)).toBe(LATEST_VERSION);
    expect((await migrationRows(pool)).map((r) => r.version)).toEqual(ALL_VERSIONS);
    expect(await tables(pool)).toEqual([...TABLES, "schema_migrations"].sort());
    const { rows } = await pool.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'runs' AND column_name = 'broken'");
    expect(rows).toEqual([]);

    // And the database is still usable: the list without the bad one finds it current.
    expect(await migrate(pool)).toEqual({ applied: [], current: LATEST_VERSION });
  });
});
