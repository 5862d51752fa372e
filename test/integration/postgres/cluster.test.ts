/**
 * The PostgreSQL behaviour the storage backend's design (SPEC §14) relies on, checked on a
 * real server — a throw-away cluster from test/support/postgres.ts, driven with `pg`:
 *  - commits are durable: fsync and synchronous_commit are on;
 *  - FOR UPDATE SKIP LOCKED hands rows out once: two transactions leasing at the same time,
 *    in the queue's order (priority desc, created_at, id) over a matching partial index,
 *    never get the same row;
 *  - a counter row updated as the last statement before COMMIT gives gap-free revisions in
 *    commit order (the row lock serializes the committers), and NOTIFY — delivered in commit
 *    order — carries them to a listener strictly increasing;
 *  - LISTEN/NOTIFY wakes another connection, and only once the notifying transaction commits;
 *  - a pg.Pool rides out a server restart by itself; a committed row survives an immediate
 *    (crash-like) stop.
 * Each test works in a database of its own (createDatabase). Skipped, saying why, only when
 * PostgreSQL is not installed (CI installs Debian's postgresql).
 */
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HAVE_POSTGRES, PG_LIB, type PostgresCluster, startPostgres, warnWithoutPostgres } from "../../support/postgres.js";
import { waitUntil } from "../../support/wait.js";

warnWithoutPostgres("cluster.test.ts");

const WAIT_MS = 20_000;

/** Resolves for all `n` callers once the last of them has arrived. */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((r) => (release = r));
  return async () => {
    if (++arrived === n) release();
    await all;
  };
}

describe.skipIf(!HAVE_POSTGRES)(HAVE_POSTGRES ? "PostgreSQL, on a throw-away cluster" : `PostgreSQL (SKIPPED: no ${PG_LIB}/<version>/bin/initdb)`, () => {
  let cluster: PostgresCluster | undefined;
  /** Every connection a test opens; closed after it, so none is left when the server restarts or stops. */
  let open: pg.Client[] = [];

  async function connect(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    // A connection the server drops emits "error": without a listener that would crash the worker.
    client.on("error", () => {});
    open.push(client);
    await client.connect();
    return client;
  }

  function server(): PostgresCluster {
    if (!cluster) throw new Error("no cluster (beforeAll failed)");
    return cluster;
  }

  beforeAll(async () => {
    cluster = await startPostgres();
  });

  afterEach(async () => {
    const clients = open;
    open = [];
    await Promise.allSettled(clients.map((c) => c.end()));
  });

  afterAll(async () => {
    await Promise.allSettled(open.map((c) => c.end()));
    await cluster?.stop();
  });

  it("connects with pg; fsync and synchronous_commit are on", async () => {
    const c = await connect(server().url);
    expect((await c.query<{ fsync: string }>("SHOW fsync")).rows[0]?.fsync).toBe("on");
    expect((await c.query<{ synchronous_commit: string }>("SHOW synchronous_commit")).rows[0]?.synchronous_commit).toBe("on");
    expect((await c.query<{ listen_addresses: string }>("SHOW listen_addresses")).rows[0]?.listen_addresses).toBe("127.0.0.1");
  });

  it("FOR UPDATE SKIP LOCKED: two concurrent transactions each lease 5 of 10 ready rows, never the same row", async () => {
    const url = await server().createDatabase("skip_locked");
    const setup = await connect(url);
    await setup.query(`
      CREATE TABLE runs (
        id bigint PRIMARY KEY,
        state text NOT NULL,
        priority int NOT NULL,
        created_at timestamptz NOT NULL,
        leased_by text
      );
      CREATE INDEX runs_ready ON runs (priority DESC, created_at, id) WHERE state = 'READY';
    `);
    const ORDER = "ORDER BY priority DESC, created_at, id";
    const LEASE = `SELECT id FROM runs WHERE state = 'READY' ${ORDER} LIMIT 5 FOR UPDATE SKIP LOCKED`;

    // The index matches the lease: walked in order it yields the READY rows in the queue's
    // order, with no Sort. (On a table this small the planner prefers a scan and a sort;
    // steered to a plain index scan, it needs none.)
    await setup.query("SET enable_seqscan = off; SET enable_bitmapscan = off");
    const plan = (await setup.query<{ "QUERY PLAN": string }>(`EXPLAIN (COSTS OFF) ${LEASE}`)).rows.map((r) => r["QUERY PLAN"]).join("\n");
    expect(plan).toMatch(/Index Scan using runs_ready on runs/);
    expect(plan).not.toMatch(/Sort/);
    await setup.query("RESET enable_seqscan; RESET enable_bitmapscan");

    const [a, b] = [await connect(url), await connect(url)];
    for (let round = 0; round < 20; round++) {
      // 10 READY rows — priorities 0..2, created_at shared by pairs so id breaks the ties —
      // and 4 LEASED rows of the highest priority that the lease must pass over.
      await setup.query("TRUNCATE runs");
      await setup.query(`
        INSERT INTO runs (id, state, priority, created_at)
        SELECT i, 'READY', (i * 7 + ${round}) % 3, timestamptz '2026-01-01' + (i / 2) * interval '1 second'
          FROM generate_series(1, 10) AS i
        UNION ALL
        SELECT 100 + i, 'LEASED', 9, timestamptz '2026-01-01' FROM generate_series(1, 4) AS i
      `);
      const queueOrder = (await setup.query<{ id: string }>(`SELECT id FROM runs WHERE state = 'READY' ${ORDER}`)).rows.map((r) => r.id);

      // Both select while the other holds its row locks (the barrier), then update and commit.
      const bothSelected = barrier(2);
      const lease = async (client: pg.Client, name: string): Promise<string[]> => {
        await client.query("BEGIN");
        const ids = (await client.query<{ id: string }>(LEASE)).rows.map((r) => r.id);
        await bothSelected();
        await client.query("UPDATE runs SET state = 'LEASED', leased_by = $1 WHERE id = ANY($2::bigint[])", [name, ids]);
        await client.query("COMMIT");
        return ids;
      };
      const [leasedA, leasedB] = await Promise.all([lease(a, "a"), lease(b, "b")]);

      expect(leasedA, `round ${round}`).toHaveLength(5);
      expect(leasedB, `round ${round}`).toHaveLength(5);
      expect(new Set([...leasedA, ...leasedB]).size, `round ${round}: a=${leasedA} b=${leasedB}`).toBe(10);
      expect([...leasedA, ...leasedB].sort()).toEqual([...queueOrder].sort());
      // Each transaction got its rows in the queue's order.
      for (const ids of [leasedA, leasedB]) {
        const positions = ids.map((id) => queueOrder.indexOf(id));
        expect(positions).toEqual([...positions].sort((x, y) => x - y));
      }
      const owners = (await setup.query<{ id: string; leased_by: string | null }>("SELECT id, leased_by FROM runs WHERE id <= 10")).rows;
      for (const { id, leased_by } of owners) expect(leased_by, `row ${id}`).toBe(leasedA.includes(id) ? "a" : "b");
    }
  });

  it("a revision counter row updated last before COMMIT: 8 × 50 transactions get revisions 1..400, gap-free, notified in commit order", async () => {
    const url = await server().createDatabase("revisions");
    const setup = await connect(url);
    await setup.query(`
      CREATE TABLE rev (id int PRIMARY KEY, v bigint NOT NULL);
      INSERT INTO rev VALUES (1, 0);
      CREATE TABLE work (writer int, seq int, PRIMARY KEY (writer, seq));
      CREATE TABLE events (rev bigint PRIMARY KEY, writer int NOT NULL, seq int NOT NULL);
    `);

    // NOTIFY is queued at commit, under a lock that serializes notifying commits: the listener
    // sees the revisions in commit order.
    const listener = await connect(url);
    const notified: number[] = [];
    listener.on("notification", (n) => notified.push(Number(n.payload)));
    await listener.query("LISTEN revs");

    const WRITERS = 8;
    const PER_WRITER = 50;
    const writers = await Promise.all(Array.from({ length: WRITERS }, () => connect(url)));
    const returned = await Promise.all(
      writers.map(async (client, writer) => {
        const mine: number[] = [];
        for (let seq = 0; seq < PER_WRITER; seq++) {
          await client.query("BEGIN");
          await client.query("INSERT INTO work (writer, seq) VALUES ($1, $2)", [writer, seq]);
          // The last statement before COMMIT: takes the counter row's lock, which is held until
          // the commit, so revisions are handed out in commit order and none is skipped.
          const { rows } = await client.query<{ rev: string }>(
            `WITH r AS (UPDATE rev SET v = v + 1 WHERE id = 1 RETURNING v),
                  e AS (INSERT INTO events (rev, writer, seq) SELECT v, $1, $2 FROM r RETURNING rev)
             SELECT rev, pg_notify('revs', rev::text) FROM e`,
            [writer, seq],
          );
          await client.query("COMMIT");
          mine.push(Number(rows[0]?.rev));
        }
        return mine;
      }),
    );

    const N = WRITERS * PER_WRITER;
    const oneToN = Array.from({ length: N }, (_, i) => i + 1);
    for (const mine of returned) expect(mine).toEqual([...mine].sort((x, y) => x - y));
    expect(returned.flat().sort((x, y) => x - y)).toEqual(oneToN);
    const stored = (await setup.query<{ rev: string }>("SELECT rev FROM events ORDER BY rev")).rows.map((r) => Number(r.rev));
    expect(stored).toEqual(oneToN);
    expect((await setup.query<{ v: string }>("SELECT v FROM rev")).rows[0]?.v).toBe(String(N));

    await waitUntil(`${N} notifications`, () => notified.length >= N, WAIT_MS);
    const outOfOrder = notified.findIndex((v, i) => i > 0 && v <= (notified[i - 1] ?? 0));
    expect(outOfOrder, `notification ${outOfOrder}: ${notified.slice(Math.max(0, outOfOrder - 2), outOfOrder + 2)}`).toBe(-1);
    expect(notified).toEqual(oneToN);
  });

  it("LISTEN/NOTIFY wakes a second connection, once the notifying transaction commits", async () => {
    const url = server().url;
    const [listener, notifier, other] = [await connect(url), await connect(url), await connect(url)];
    const got: pg.Notification[] = [];
    listener.on("notification", (n) => got.push(n));
    await listener.query("LISTEN wake");
    const pidOf = async (c: pg.Client) => (await c.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid;

    // A notification sent inside a transaction that has not committed is not delivered: one
    // committed later by another connection arrives first.
    await notifier.query("BEGIN");
    await notifier.query("SELECT pg_notify('wake', 'sent in an open transaction')");
    await other.query("NOTIFY wake, 'committed'");
    await waitUntil("the committed notification", () => got.length >= 1, WAIT_MS);
    expect(got.map((n) => n.payload)).toEqual(["committed"]);
    expect(got[0]?.processId).toBe(await pidOf(other));

    await notifier.query("COMMIT");
    await waitUntil("the second notification", () => got.length >= 2, WAIT_MS);
    expect(got.map((n) => [n.channel, n.payload])).toEqual([
      ["wake", "committed"],
      ["wake", "sent in an open transaction"],
    ]);
    expect(got[1]?.processId).toBe(await pidOf(notifier));
  });

  it("restart: a pool's query fails with a connection error while the server is down and works again after", async () => {
    // How pg.Pool (pg-pool 3.x) behaves here: it never checks a client before handing it
    // out and never retries. An idle client whose connection the server ends (a fast
    // shutdown sends each backend FATAL 57P01, "terminating connection due to administrator
    // command") emits "error": the pool drops that client and re-emits the error as the
    // pool's "error" event — which must have a listener, or the process dies of an unhandled
    // "error". A query while the server is down opens a new connection, which fails
    // (ECONNREFUSED) and rejects that query; the slot is freed. Once the server is back, the
    // next query simply connects anew: the pool recovers by itself, with no reset. A client
    // checked out across the restart (or one whose connection died without a word) fails its
    // next query and must be released with the error (client.release(err)) to be dropped.
    const c = server();
    const pool = new pg.Pool({ connectionString: c.url, max: 2 });
    const poolErrors: Error[] = [];
    pool.on("error", (e) => poolErrors.push(e));
    try {
      expect((await pool.query<{ one: number }>("SELECT 1 AS one")).rows[0]?.one).toBe(1);
      expect(pool.idleCount).toBe(1);

      let whileDown: unknown;
      await c.restart("fast", async () => {
        whileDown = await pool.query("SELECT 1").then(
          () => new Error("the query succeeded while the server was down"),
          (e: unknown) => e,
        );
      });
      expect(whileDown).toBeInstanceOf(Error);
      expect((whileDown as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
      // The idle client was told the server is going away, and the pool dropped it.
      expect(poolErrors.map((e) => (e as Error & { code?: string }).code)).toEqual(["57P01"]);

      expect((await pool.query<{ one: number }>("SELECT 1 AS one")).rows[0]?.one).toBe(1);
      expect(pool.totalCount).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it("restart('immediate'): a committed row survives a crash-like stop", async () => {
    const c = server();
    const url = await c.createDatabase("durable");
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    pool.on("error", () => {});
    try {
      await pool.query("CREATE TABLE acked (id int PRIMARY KEY)");
      await pool.query("INSERT INTO acked VALUES (1), (2), (3)");
      await c.restart("immediate");
      expect((await pool.query<{ n: string }>("SELECT count(*) AS n FROM acked")).rows[0]?.n).toBe("3");
    } finally {
      await pool.end();
    }
  });
});
