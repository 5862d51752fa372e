/**
 * `npm run bench:compare`: ActionQueue against BullMQ on Redis, side by side, on identical
 * workloads with 16-byte payloads. Every server runs in its own process (the ActionQueue
 * server from dist/, two redis-server instances: persistence off, and AOF with
 * `appendfsync always`, ActionQueue's durability) and every client in forked processes.
 * BENCH_ROUNDS rounds (default 3); in each, every workload runs for the three systems back
 * to back, the order rotating per round; figures are medians with min and max over rounds.
 * Then ActionQueue-only figures. Prints tables; writes bench/results/compare-<time>.json.
 *
 * Knobs (environment): BENCH_QUICK=1 (one small round, a smoke test), BENCH_ROUNDS,
 * BENCH_BIG (stored runs for the big-backlog figures, default 1,000,000), BENCH_E2E
 * ("20000,50000"), BENCH_N (submit/process only, 20000), BENCH_BATCH (500), BENCH_INFLIGHT
 * (batches in flight, 4), BENCH_WORKERS (2), BENCH_WIDTH (lease batch / BullMQ concurrency,
 * 256), BENCH_WAKE_RATES ("50,200"), BENCH_WAKE_SECONDS (10), BENCH_SEQ (2000),
 * BENCH_CYCLE_RUNS (20000), BENCH_SMALL_BACKLOG (10000), BENCH_WATCHERS (100),
 * BENCH_WATCH_TASKS (5000), BENCH_WATCH_BATCH (max_events_per_message, 0),
 * BENCH_PREFILL_PROCS (2), BENCH_ONLY (comma-separated workload keys, e.g. "e2e,wakeup,aq"),
 * BENCH_STORE=memory (ActionQueue over the in-memory store, no storage: an experiment only).
 *
 * PostgreSQL: BENCH_STORES (comma-separated ActionQueue stores, default "lmdb"; "lmdb,postgres"
 * adds ActionQueue on PostgreSQL as one more system, "postgres" alone replaces LMDB).
 * With postgres, the benchmark starts one throw-away cluster (scripts/pg-cluster.mjs: its
 * own directory, 127.0.0.1, fsync and synchronous_commit on) and, for every workload run, a
 * fresh database and the built server with `--storage postgres --postgres-url` on it (database
 * dropped after the run); the PostgreSQL system takes its turn in the same rotated order as
 * the others, so it is interleaved with LMDB round by round. The cluster is stopped and its
 * directory removed at the end, on failure and on SIGINT / SIGTERM. The ActionQueue-only
 * figures ("aq") stay LMDB-only. BENCH_BULLMQ=0 leaves BullMQ out (no redis-server), for an
 * LMDB-against-PostgreSQL run, e.g.:
 *   BENCH_STORES=lmdb,postgres BENCH_BULLMQ=0 BENCH_ONLY=e2e BENCH_E2E=5000 BENCH_ROUNDS=5 npm run bench:compare
 * Every ActionQueue run also reads the server's commit metrics (GET /metrics:
 * actionqueue_commit_duration_seconds and the batch sizes) after the workload; the end-to-end
 * rows then include the mean group-commit time, writes per commit and the share of the wall
 * time spent committing.
 *
 * Several servers on one database: BENCH_PG_SERVERS (comma-separated server counts, default
 * "1"; used when postgres is in BENCH_STORES) measures one PostgreSQL system per count, in the
 * same rotated rounds: 1 is "aq-postgres" (the key older result files use), N > 1
 * "aq-postgres-xN" ("ActionQueue on PostgreSQL, N servers"). For each workload run: a fresh
 * database, N servers on it (server 0 first, it creates the schema; then the others, each on
 * its own port), and the workload's client processes spread round-robin (producer i → server
 * i % N, worker j → server j % N; the single-process workloads — submit only, wake-up,
 * sequential, the process-only pre-fill — use server 0). So with BENCH_WORKERS=2 the end-to-end
 * run has the producer and worker 0 on server 0 and worker 1 on server 1; a third server gets
 * no client (it follows the others' commits all the same): raise BENCH_WORKERS to give every
 * server a worker. The commit figures are the N servers' /metrics added up (workloads.ts,
 * targets.ts sumCommits; see onServers below), each server's own in the sample's `perServer`.
 * The table gets a column per system and, with 1 among the counts, "xN vs 1 server" ratios
 * (serial commits), e.g.:
 *   BENCH_STORES=lmdb,postgres BENCH_PG_SERVERS=1,2,3 BENCH_BULLMQ=0 BENCH_ONLY=e2e BENCH_WORKERS=6 BENCH_ROUNDS=3 npm run bench:compare
 *
 * Commit modes: BENCH_PG_COMMITS (comma-separated, "serial" and/or "concurrent", default
 * "concurrent", the server's default; used when postgres is in BENCH_STORES) is the servers' `--postgres-commits`, given
 * as an argument next to `--storage postgres` (also for serial, so that an
 * ACTIONQUEUE_POSTGRES_COMMITS in the environment cannot change a system's mode). Every mode ×
 * every count of BENCH_PG_SERVERS is one system, measured in the same rotated rounds: serial
 * keeps the names above; concurrent is "aq-postgres-concurrent" (one server) and
 * "aq-postgres-concurrent-xN" ("ActionQueue on PostgreSQL, concurrent commits, N servers").
 * Each concurrent system measured next to the serial one with as many servers gets a
 * "concurrent vs serial" ratio column ("xN concurrent vs serial" for N > 1). The end-to-end
 * commit figures of every PostgreSQL system include "commit conflicts per 1,000 runs": the
 * servers' actionqueue_commit_conflicts_total (batches decided again because their commit
 * raced another server's) added up, read after the workload like the other commit counters,
 * per 1,000 runs processed, e.g.:
 *   BENCH_STORES=postgres BENCH_PG_SERVERS=1,2,3 BENCH_PG_COMMITS=serial,concurrent BENCH_BULLMQ=0 BENCH_ONLY=e2e BENCH_WORKERS=6 BENCH_ROUNDS=3 npm run bench:compare
 */
import { execFileSync } from "node:child_process";
import { cpus, freemem, release, totalmem } from "node:os";
import { join } from "node:path";
import { cleanupAll, installCleanup, log, removeDir, tempDir } from "./procs.js";
import type { Target } from "./protocol.js";
import { aqOnlyTable, comparisonTable, type Outcome, PG_COMMITS, pgCommits, type PgCommits, pgServers, pgSystem, type Row, type Samples, summaries, type SystemName, writeJson } from "./report.js";
import {
  AqServer,
  buildActionQueue,
  ensureRedis,
  freshRedis,
  packageVersion,
  PgCluster,
  type RedisInstance,
  REDIS_MODES,
  ROOT,
  startAqServers,
  startRedis,
  stopAqServers,
  stopRedis,
  sumCommits,
} from "./targets.js";
import { BUILT_ENTRY } from "../support/server.js";
import { cycles, endToEnd, prefill, processOnly, type Sample, sequential, type Settings, submitOnly, type Targets, wakeup, watchFanOut } from "./workloads.js";

const env = (k: string, def: string, quick: string = def): string => process.env[k] ?? (process.env.BENCH_QUICK === "1" ? quick : def);
const int = (k: string, def: number, quick: number = def): number => Number(env(k, String(def), String(quick)));
const list = (k: string, def: string, quick: string = def): number[] => env(k, def, quick).split(",").map(Number);

const QUICK = process.env.BENCH_QUICK === "1";
const CONFIG = {
  quick: QUICK,
  rounds: int("BENCH_ROUNDS", 3, 1),
  big: int("BENCH_BIG", 1_000_000, 20_000),
  e2e: list("BENCH_E2E", "20000,50000", "2000"),
  n: int("BENCH_N", 20_000, 2_000),
  wakeRates: list("BENCH_WAKE_RATES", "50,200"),
  cycleRuns: int("BENCH_CYCLE_RUNS", 20_000, 2_000),
  smallBacklog: int("BENCH_SMALL_BACKLOG", 10_000, 1_000),
  watchers: int("BENCH_WATCHERS", 100, 20),
  watchTasks: int("BENCH_WATCH_TASKS", 5_000, 200),
  watchBatch: int("BENCH_WATCH_BATCH", 0),
  prefillProcs: int("BENCH_PREFILL_PROCS", 2),
  only: env("BENCH_ONLY", "").split(",").filter((s) => s !== ""),
  stores: env("BENCH_STORES", "lmdb").split(",").filter((s) => s !== ""),
  /** ActionQueue servers sharing one PostgreSQL database, one system per count. */
  pgServers: [...new Set(env("BENCH_PG_SERVERS", "1").split(",").filter((s) => s.trim() !== "").map(Number))],
  /** The servers' `--postgres-commits` modes, one system per mode × server count. */
  pgCommits: [...new Set(env("BENCH_PG_COMMITS", "concurrent").split(",").map((s) => s.trim()).filter((s) => s !== ""))],
  bullmq: env("BENCH_BULLMQ", "1") !== "0",
};
for (const store of CONFIG.stores) if (store !== "lmdb" && store !== "postgres") throw new Error(`BENCH_STORES: lmdb and/or postgres, not ${store}`);
for (const n of CONFIG.pgServers) if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_PG_SERVERS: comma-separated server counts (whole numbers ≥ 1), not ${process.env.BENCH_PG_SERVERS}`);
if (CONFIG.pgServers.length === 0) throw new Error("BENCH_PG_SERVERS: at least one server count");
for (const c of CONFIG.pgCommits) if (!(PG_COMMITS as readonly string[]).includes(c)) throw new Error(`BENCH_PG_COMMITS: serial and/or concurrent, not ${c}`);
if (CONFIG.pgCommits.length === 0) throw new Error("BENCH_PG_COMMITS: at least one of serial, concurrent");
const PG_MODES = PG_COMMITS.filter((c) => CONFIG.pgCommits.includes(c));
/** The systems this run measures, in their starting order (rotated per round). */
const SYSTEMS: SystemName[] = [
  ...(CONFIG.stores.includes("lmdb") ? (["aq"] as const) : []),
  ...(CONFIG.stores.includes("postgres") ? PG_MODES.flatMap((mode) => CONFIG.pgServers.map((n) => pgSystem(n, mode))) : []),
  ...(CONFIG.bullmq ? (["bullmq-defaults", "bullmq-fsync"] as const) : []),
];
if (SYSTEMS.length === 0) throw new Error("nothing to measure: BENCH_STORES is empty and BENCH_BULLMQ=0");
const SETTINGS: Settings = {
  batch: int("BENCH_BATCH", 500),
  inflight: int("BENCH_INFLIGHT", 4),
  workers: int("BENCH_WORKERS", 2),
  width: int("BENCH_WIDTH", 256),
  waitSeconds: 1,
  wakeSeconds: int("BENCH_WAKE_SECONDS", 10, 2),
  wakeWarmupSeconds: QUICK ? 0.5 : 1,
  seqCount: int("BENCH_SEQ", 2_000, 200),
  seqWarmup: int("BENCH_SEQ_WARMUP", 200, 50),
  stallMs: 120_000,
};

interface Workload {
  readonly key: string;
  readonly group: string;
  readonly run: (t: Targets) => Promise<Sample>;
}

const k = (n: number) => (n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n % 1000 === 0 ? `${n / 1000}k` : n.toLocaleString("en-US"));
const ALL_WORKLOADS: Workload[] = [
  ...CONFIG.e2e.map((n) => ({ key: `e2e-${n}`, group: "e2e", run: (t: Targets) => endToEnd(t, n, SETTINGS) })),
  { key: `submit-${CONFIG.n}`, group: "submit", run: (t) => submitOnly(t, CONFIG.n, SETTINGS) },
  { key: `process-${CONFIG.n}`, group: "process", run: (t) => processOnly(t, CONFIG.n, SETTINGS) },
  ...CONFIG.wakeRates.map((rate) => ({ key: `wakeup-${rate}`, group: "wakeup", run: (t: Targets) => wakeup(t, rate, SETTINGS) })),
  { key: "sequential", group: "sequential", run: (t) => sequential(t, SETTINGS) },
];
const WORKLOADS = ALL_WORKLOADS.filter((w) => CONFIG.only.length === 0 || CONFIG.only.includes(w.group));
const AQ_ONLY = (CONFIG.only.length === 0 || CONFIG.only.includes("aq")) && SYSTEMS.includes("aq");

const ALL_ROWS: Row[] = [
  ...CONFIG.e2e.map((n): Row => ({ label: `end to end, ${k(n)} tasks (runs/s)`, workload: `e2e-${n}`, field: "value", kind: "rate" })),
  { label: `submit only, ${k(CONFIG.n)} batched (tasks/s)`, workload: `submit-${CONFIG.n}`, field: "value", kind: "rate" },
  { label: `process only, ${k(CONFIG.n)} backlog (runs/s)`, workload: `process-${CONFIG.n}`, field: "value", kind: "rate" },
  ...CONFIG.wakeRates.flatMap((r): Row[] => [
    { label: `wake-up at ${r}/s, p50 (ms)`, workload: `wakeup-${r}`, field: "p50", kind: "latency" },
    { label: `wake-up at ${r}/s, p99 (ms)`, workload: `wakeup-${r}`, field: "p99", kind: "latency" },
  ]),
  { label: "sequential single submit, p50 (ms)", workload: "sequential", field: "p50", kind: "latency" },
  { label: "sequential single submit, p99 (ms)", workload: "sequential", field: "p99", kind: "latency" },
];
// The servers' own commit figures for the end-to-end runs (ActionQueue systems only; conflicts: PostgreSQL only).
const PG_MEASURED = SYSTEMS.some((sys) => pgServers(sys) > 0);
if (SYSTEMS.some((sys) => sys === "aq" || pgServers(sys) > 0)) {
  const at = ALL_ROWS.findIndex((r) => r.workload === `e2e-${CONFIG.e2e.at(-1)}`) + 1;
  ALL_ROWS.splice(
    at,
    0,
    ...CONFIG.e2e.flatMap((n): Row[] => [
      { label: `  ${k(n)}: group commit, mean (ms)`, workload: `e2e-${n}`, field: "commitMeanMs", kind: "latency" },
      { label: `  ${k(n)}: commits per 1,000 runs`, workload: `e2e-${n}`, field: "commitsPer1000", kind: "size", ratio: false },
      ...(PG_MEASURED ? [{ label: `  ${k(n)}: commit conflicts per 1,000 runs`, workload: `e2e-${n}`, field: "conflictsPer1000", kind: "size", ratio: false } as const] : []),
      { label: `  ${k(n)}: store writes per commit`, workload: `e2e-${n}`, field: "verbsPerCommit", kind: "size", ratio: false },
      { label: `  ${k(n)}: wall time spent committing (%)`, workload: `e2e-${n}`, field: "commitBusy", kind: "size", scale: 100, ratio: false },
    ]),
  );
}
const ROWS = ALL_ROWS.filter((r) => WORKLOADS.some((w) => w.key === r.workload));
const BIG_LABEL = k(CONFIG.big);
const AQ_ROWS: Row[] = [
  { label: `lease(${SETTINGS.width})+complete, ${k(CONFIG.smallBacklog)} READY backlog (runs/s)`, workload: "aq-cycles-small", field: "value", kind: "rate" },
  { label: `  same, cycles/s`, workload: "aq-cycles-small", field: "cyclesPerSecond", kind: "rate" },
  { label: `lease(${SETTINGS.width})+complete, ${BIG_LABEL} READY backlog (runs/s)`, workload: "aq-cycles-big", field: "value", kind: "rate" },
  { label: `  same, cycles/s`, workload: "aq-cycles-big", field: "cyclesPerSecond", kind: "rate" },
  { label: `restart with ${BIG_LABEL} runs stored: spawn → health SERVING (ms)`, workload: "aq-restart", field: "value", kind: "time" },
  { label: `JS heap after restart, ${BIG_LABEL} runs, after GC (MiB)`, workload: "aq-restart", field: "heapUsed", kind: "size", scale: 1 / 2 ** 20 },
  { label: `RSS after restart, ${BIG_LABEL} runs, incl. mapped LMDB pages (MiB)`, workload: "aq-restart", field: "rss", kind: "size", scale: 1 / 2 ** 20 },
  { label: `events/s delivered to ${CONFIG.watchers} watchers (${k(CONFIG.watchTasks)} tasks)`, workload: "aq-watch", field: "value", kind: "rate" },
];

/** The PostgreSQL server counts measured, as "aq-postgres(-concurrent)(-xN)" systems. */
const PG_COUNTS = [...new Set(SYSTEMS.map(pgServers).filter((n) => n > 0))];
const SEVERAL = PG_COUNTS.some((n) => n > 1);
const CONCURRENT = SYSTEMS.some((sys) => pgCommits(sys) === "concurrent");
/** Some concurrent system is measured next to the serial one with as many servers (a "concurrent vs serial" column). */
const PAIRED = SYSTEMS.some((sys) => pgCommits(sys) === "concurrent" && SYSTEMS.includes(pgSystem(pgServers(sys), "serial")));

/** Which clients of an end-to-end run talk to which of `n` servers (workloads.ts: producer 0, workers round-robin). */
function e2eLayout(n: number): string {
  const on = Array.from({ length: n }, (_, i) => [...(i === 0 ? ["producer"] : []), ...Array.from({ length: SETTINGS.workers }, (_, j) => j).filter((j) => j % n === i).map((j) => `worker ${j}`)]);
  return on.map((clients, i) => `server ${i}: ${clients.length > 0 ? clients.join(", ") : "no client (follows only)"}`).join("; ");
}

/** Printed under the table and kept in the JSON document (PostgreSQL systems only). */
const NOTES: string[] = [
  ...(SEVERAL
    ? [
        `aq-postgres-xN${CONCURRENT ? " and aq-postgres-concurrent-xN" : ""}: N ActionQueue servers (node dist/main.js --storage postgres --postgres-commits ${CONCURRENT ? "serial or concurrent" : "serial"}, each on its own port) on one fresh database per workload run; client processes spread round-robin, producer i → server i % N, worker j → server j % N.`,
        ...PG_COUNTS.filter((n) => n > 1).map((n) => `end to end with ${n} servers: ${e2eLayout(n)}.`),
        `Workloads with a single client process use server 0 only: submit only, the wake-up and sequential probes, and the process-only pre-fill (its workers are spread).`,
        `Commit figures with N servers: the N servers' GET /metrics added up (commits, commit seconds, commands, writes, commit conflicts; each server counts its own commits): group commit mean = over all their commits; commits, conflicts per 1,000 runs and writes per commit over all of them; wall time committing = summed commit time / timed span (with serial commits the commit lock runs the servers' commits one at a time, so it is the share of the wall time spent committing; lock waits are not in a commit's time${CONCURRENT ? "; with concurrent commits the servers' commits overlap, so it can exceed 100 %" : ""}). Each server's own figures: samples[workload][system][round].perServer.`,
      ]
    : []),
  ...(CONCURRENT
    ? [
        `aq-postgres-concurrent${SEVERAL ? "(-xN)" : ""}: the servers run with --postgres-commits concurrent (no commit lock: a server's batch is decided and written at once; one whose commit raced another server's is decided again, counted in actionqueue_commit_conflicts_total)${PAIRED ? `; "concurrent vs serial" compares it with the serial system with as many servers` : ""}.`,
      ]
    : []),
  ...(PG_MEASURED && (SEVERAL || CONCURRENT)
    ? [`Commit conflicts per 1,000 runs: actionqueue_commit_conflicts_total added up over the system's servers, read after the workload like the other commit counters (the servers are fresh per run), per 1,000 runs processed; serial commits are not expected to conflict.`]
    : []),
];

const samples: Samples = {};
const orders: SystemName[][] = [];
const isError = (o: Outcome): o is { readonly error: string } => typeof o.error === "string";
function record(workload: string, sys: SystemName, o: Outcome): void {
  const bySys = (samples[workload] ??= {});
  (bySys[sys] ??= []).push(o);
  const text = isError(o) ? `FAILED: ${o.error.split("\n")[0]}` : `${o.value.toFixed(2)}${typeof o.p99 === "number" ? ` (p99 ${o.p99.toFixed(2)})` : ""}`;
  log(`  ${workload.padEnd(16)} ${sys.padEnd(25)} ${text}`);
}

async function attempt(workload: string, sys: SystemName, f: () => Promise<Sample>): Promise<void> {
  try {
    record(workload, sys, await f());
  } catch (e) {
    record(workload, sys, { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
}

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trimEnd();
  } catch {
    return "";
  }
}

async function main(): Promise<void> {
  installCleanup();
  const started = new Date();
  const t0 = performance.now();
  const redisVersion = CONFIG.bullmq ? ensureRedis() : "";
  buildActionQueue();
  const redis: Partial<Record<SystemName, RedisInstance>> = {};
  let redisInfo = "";
  if (CONFIG.bullmq) {
    const defaults = await startRedis("bullmq-defaults");
    redis["bullmq-defaults"] = defaults;
    redis["bullmq-fsync"] = await startRedis("bullmq-fsync");
    redisInfo = (await defaults.client.info("server")).match(/redis_version:(\S+)/)?.[1] ?? "";
  }
  const cluster = SYSTEMS.some((sys) => pgServers(sys) > 0) ? await PgCluster.start() : null;
  const pgSettings = cluster ? await cluster.settings() : null;

  /**
   * A workload against one or more ActionQueue servers (the clients spread over them, see
   * workloads.ts), with the servers' commit figures added. With several servers (one
   * database) every figure is the servers' sum: commits, commit seconds, commands and writes
   * each server counts for its own commits only, so the sums cover every commit made.
   * commitMeanMs is then the mean over all the servers' commits, commitsPer1000 and
   * verbsPerCommit are per run and per commit over all of them, and commitBusy is the summed
   * commit time over the timed span: with serial commits the commit lock runs the servers'
   * commits one at a time, so it stays the share of the wall time the database spent
   * committing (the time waiting for the lock is not in a commit's duration); with concurrent
   * commits they overlap and it can pass 1. On PostgreSQL (`pg`), conflicts and
   * conflictsPer1000 are the servers' summed actionqueue_commit_conflicts_total, total and
   * per 1,000 runs. Each server's own figures are in perServer.
   */
  const onServers = async (servers: readonly AqServer[], pg: boolean, f: (t: Targets) => Promise<Sample>): Promise<Sample> => {
    const [first, ...rest] = servers.map((server): Target => ({ system: "aq", url: server.url }));
    if (!first) throw new Error("no ActionQueue server");
    const sample = await f([first, ...rest]);
    const each = await Promise.all(servers.map((server) => server.commits()));
    const c = sumCommits(each);
    const runs = typeof sample.processed === "number" ? sample.processed : NaN;
    return {
      ...sample,
      commits: c.commits,
      commitMeanMs: (c.commitSeconds * 1000) / c.commits,
      commitsPer1000: (c.commits / runs) * 1000,
      verbsPerCommit: c.verbs / c.commits,
      commandsPerCommit: c.commands / c.commits,
      ...(pg ? { conflicts: c.conflicts, conflictsPer1000: (c.conflicts / runs) * 1000 } : {}),
      // Every commit of the servers' life (they are fresh per run) over the timed span.
      commitBusy: typeof sample.ms === "number" ? (c.commitSeconds * 1000) / sample.ms : NaN,
      ...(servers.length > 1 ? { servers: servers.length, perServer: each } : {}),
    };
  };

  /** A fresh system for one workload run: new server(s) and data directory (or database), or FLUSHALL. */
  const run = async (sys: SystemName, f: (t: Targets) => Promise<Sample>): Promise<Sample> => {
    const r = redis[sys];
    if (r) {
      await freshRedis(r);
      return f([{ system: "bullmq", host: r.host, port: r.port }]);
    }
    const n = pgServers(sys);
    const commits: PgCommits | null = pgCommits(sys);
    if (n > 0 && commits) {
      if (!cluster) throw new Error("no PostgreSQL cluster");
      const db = await cluster.createDatabase();
      try {
        const servers = await startAqServers(n, db.url, commits);
        try {
          return await onServers(servers, true, f);
        } finally {
          await stopAqServers(servers);
        }
      } finally {
        await cluster.dropDatabase(db.name);
      }
    }
    const server = await AqServer.start();
    try {
      return await onServers([server], false, f);
    } finally {
      await server.stop();
    }
  };

  // Warm-up (not recorded): page cache, JIT of the client code paths, Redis allocations.
  log("warm-up");
  for (const sys of SYSTEMS) await run(sys, (t) => endToEnd(t, 2_000, SETTINGS));

  // The big store is filled once and reused every round (each round consumes cycleRuns).
  let bigDir: string | null = null;
  if (AQ_ONLY) {
    bigDir = tempDir("aq-compare-big-");
    const total = CONFIG.big + CONFIG.rounds * CONFIG.cycleRuns;
    log(`pre-filling ${total.toLocaleString("en-US")} READY runs for the big-backlog figures (BatchSubmitTasks of 1,000, ${CONFIG.prefillProcs} processes × ${SETTINGS.inflight} in flight)`);
    const server = await AqServer.start(bigDir);
    const ms = await prefill([{ system: "aq", url: server.url }], total, SETTINGS, CONFIG.prefillProcs, "big backlog");
    samples["aq-prefill-big"] = { aq: [{ value: total / (ms / 1000), ms, total }] };
    await server.stop(true);
  }

  for (let round = 0; round < CONFIG.rounds; round++) {
    const order = SYSTEMS.map((_, i) => SYSTEMS[(i + round) % SYSTEMS.length] as SystemName);
    log(`round ${round + 1} / ${CONFIG.rounds}: order ${order.join(", ")}`);
    orders.push(order);
    for (const w of WORKLOADS) for (const sys of order) await attempt(w.key, sys, () => run(sys, w.run));
    if (!AQ_ONLY || !bigDir) continue;
    await attempt("aq-cycles-small", "aq", async () => {
      const server = await AqServer.start();
      try {
        await prefill([{ system: "aq", url: server.url }], CONFIG.smallBacklog + CONFIG.cycleRuns, SETTINGS, 1, "small backlog");
        return { ...(await cycles(server.url, CONFIG.cycleRuns, SETTINGS.width)), backlogAtStart: CONFIG.smallBacklog + CONFIG.cycleRuns };
      } finally {
        await server.stop();
      }
    });
    const dir = bigDir;
    let big: AqServer | null = null;
    await attempt("aq-restart", "aq", async () => {
      big = await AqServer.start(dir);
      const mem = await big.memory();
      return { value: big.startMs, ...mem };
    });
    await attempt("aq-cycles-big", "aq", async () => {
      const server = big ?? (await AqServer.start(dir));
      big = server;
      return { ...(await cycles(server.url, CONFIG.cycleRuns, SETTINGS.width)), backlogAtStart: CONFIG.big + (CONFIG.rounds - round) * CONFIG.cycleRuns };
    });
    if (big) await (big as AqServer).stop(true);
    await attempt("aq-watch", "aq", () => run("aq", (t) => watchFanOut(t[0].system === "aq" ? t[0].url : "", CONFIG.watchers, CONFIG.watchTasks, CONFIG.watchBatch, SETTINGS)));
  }

  const seconds = (performance.now() - t0) / 1000;
  const rounds = `${CONFIG.rounds} round${CONFIG.rounds > 1 ? "s" : ""}; median [min–max] over rounds`;
  const cpu = cpus();
  console.log("");
  const measured = [
    ...(SYSTEMS.includes("aq") ? [`ActionQueue${BUILT_ENTRY === "memory" ? " (in-memory store)" : " (LMDB)"}`] : []),
    ...(cluster ? [`ActionQueue on PostgreSQL ${cluster.version} (${SEVERAL ? `${PG_COUNTS.join(", ")} server(s) on one database` : "one server"}, ${PG_MODES.join(" and ")} commits, throw-away cluster on loopback: ${Object.entries(pgSettings ?? {}).map(([n, v]) => `${n}=${v}`).join(", ")})`] : []),
    ...(CONFIG.bullmq ? [`BullMQ ${packageVersion("bullmq")} (ioredis ${packageVersion("ioredis")}) on Redis ${redisInfo}`] : []),
  ];
  console.log(`${measured.join(" vs ")} — ${cpu.length} × ${cpu[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  console.log(`${rounds}; systems per round in rotated order: ${orders.map((o) => o.join(" → ")).join(" | ")}`);
  console.log(`16-byte payloads; ${SETTINGS.workers} worker processes (AQ lease batch / BullMQ concurrency ${SETTINGS.width}); batches of ${SETTINGS.batch}, ${SETTINGS.inflight} in flight`);
  console.log(`"× faster/slower": throughput x/baseline, latency baseline/x (AQ vs BullMQ: AQ on LMDB against that BullMQ setup; PostgreSQL vs LMDB: ActionQueue on PostgreSQL against ActionQueue on LMDB${SEVERAL && SYSTEMS.includes("aq-postgres") ? "; xN vs 1 server: N PostgreSQL servers against one, serial commits" : ""}${PAIRED ? "; concurrent vs serial: concurrent commits against serial ones, as many servers" : ""}).`);
  console.log("");
  console.log(comparisonTable(ROWS, samples, SYSTEMS));
  if (NOTES.length > 0) {
    console.log("");
    for (const note of NOTES) console.log(`Note: ${note}`);
  }
  if (AQ_ONLY) {
    console.log("");
    console.log(aqOnlyTable(AQ_ROWS, samples));
    const pf = samples["aq-prefill-big"]?.aq?.[0];
    if (pf && !isError(pf)) console.log(`(pre-fill of the big store: ${Number(pf.total).toLocaleString("en-US")} tasks in ${(Number(pf.ms) / 1000).toFixed(1)} s = ${Math.round(pf.value)} tasks/s)`);
  }
  const path = writeJson(join(ROOT, "bench", "results"), {
    benchmark: "bench:compare",
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    durationSeconds: seconds,
    machine: {
      cpuModel: cpu[0]?.model ?? "",
      cpus: cpu.length,
      totalMemoryBytes: totalmem(),
      freeMemoryBytesAtEnd: freemem(),
      os: `${process.platform} ${release()}`,
      node: process.version,
      redis: redisInfo,
      postgres: cluster?.version ?? "",
      postgresSettings: pgSettings,
      redisServerVersion: redisVersion,
      bullmq: packageVersion("bullmq"),
      ioredis: packageVersion("ioredis"),
      gitCommit: git(["rev-parse", "HEAD"]),
      gitDirty: git(["status", "--porcelain", "--", "src", "proto", "clients"]).split("\n").filter((l) => l !== ""),
    },
    config: CONFIG,
    settings: SETTINGS,
    choices: {
      actionqueue: `server: node dist/main.js --log-level warn, default durability (strict: every commit flushed), fresh data directory per workload run. Workers: one LeaseRuns loop per process (max_runs ${SETTINGS.width}, start_attempt, wait ${SETTINGS.waitSeconds} s), each batch completed with one BatchCompleteAttempts (SUCCESS); the next LeaseRuns is sent while that completion is in flight. Calls refused with RESOURCE_EXHAUSTED are retried after 2-10 ms and counted ("refused").`,
      bullmq: `Queue.addBulk for batches, Queue.add for single submits, default job options (completed jobs kept). Worker: no-op processor, concurrency ${SETTINGS.width} per process (mirrors AQ's lease batch), other options default. FLUSHALL before each workload run (the fsync instance's AOF is then rewritten, not timed).`,
      redis: { "bullmq-defaults": REDIS_MODES["bullmq-defaults"], "bullmq-fsync": REDIS_MODES["bullmq-fsync"] },
      payload: "16 bytes: AQ payload bytes; BullMQ data a 16-character string",
      timing: "throughput from go (first submit, or worker start) to the last completion reported by the workers (coordinator clock, counts coalesced every 5 ms); submit only timed by the producer; latencies inside one client process (performance.now)",
      order: `each round runs every workload for the systems (${SYSTEMS.join(", ")}) back to back, rotating the order per round`,
      ...(cluster
        ? {
            postgres: `aq-postgres: node dist/main.js --storage postgres --postgres-commits serial --postgres-url <a fresh database per workload run> --log-level warn, on a throw-away cluster started by scripts/pg-cluster.mjs (127.0.0.1, fsync and synchronous_commit on, otherwise initdb defaults); the database is dropped after the run${SEVERAL ? ". aq-postgres-xN: N such servers on the one database (server 0 started first, then the others), stopped before it is dropped" : ""}${CONCURRENT ? `. aq-postgres-concurrent${SEVERAL ? "(-xN)" : ""}: the same with --postgres-commits concurrent` : ""}`,
          }
        : {}),
      commits: `ActionQueue runs: after the workload, GET /metrics on the server: actionqueue_commit_duration_seconds (sum, count) and actionqueue_commit_batch_{commands,verbs} sums${PG_MEASURED ? ", on PostgreSQL also actionqueue_commit_conflicts_total (conflicts, conflictsPer1000)" : ""}; commitBusy = commit seconds / the timed span${SEVERAL ? "; with N servers, the sums over the N servers (see notes)" : ""}`,
    },
    notes: NOTES,
    roundOrders: orders,
    rows: summaries([...ROWS, ...AQ_ROWS], samples, SYSTEMS),
    samples,
  });
  console.log("");
  console.log(`JSON: ${path} (${seconds.toFixed(0)} s in all)`);
  for (const r of Object.values(redis)) if (r) await stopRedis(r);
  cluster?.stop();
  if (bigDir) removeDir(bigDir);
}

try {
  await main();
  await cleanupAll();
} catch (e) {
  log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  await cleanupAll();
  process.exitCode = 1;
}
// Whatever handle a client library may have left open, the benchmark is over.
setTimeout(() => process.exit(), 2_000).unref();
