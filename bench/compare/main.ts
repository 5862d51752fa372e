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
 */
import { execFileSync } from "node:child_process";
import { cpus, freemem, release, totalmem } from "node:os";
import { join } from "node:path";
import { cleanupAll, installCleanup, log, removeDir, tempDir } from "./procs.js";
import type { Target } from "./protocol.js";
import { aqOnlyTable, comparisonTable, type Outcome, type Row, type Samples, summaries, SYSTEMS, type SystemName, writeJson } from "./report.js";
import { AqServer, buildActionQueue, ensureRedis, freshRedis, packageVersion, type RedisInstance, REDIS_MODES, ROOT, startRedis, stopRedis } from "./targets.js";
import { cycles, endToEnd, prefill, processOnly, type Sample, sequential, type Settings, submitOnly, wakeup, watchFanOut } from "./workloads.js";

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
};
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
  readonly run: (t: Target) => Promise<Sample>;
}

const k = (n: number) => (n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n % 1000 === 0 ? `${n / 1000}k` : n.toLocaleString("en-US"));
const ALL_WORKLOADS: Workload[] = [
  ...CONFIG.e2e.map((n) => ({ key: `e2e-${n}`, group: "e2e", run: (t: Target) => endToEnd(t, n, SETTINGS) })),
  { key: `submit-${CONFIG.n}`, group: "submit", run: (t) => submitOnly(t, CONFIG.n, SETTINGS) },
  { key: `process-${CONFIG.n}`, group: "process", run: (t) => processOnly(t, CONFIG.n, SETTINGS) },
  ...CONFIG.wakeRates.map((rate) => ({ key: `wakeup-${rate}`, group: "wakeup", run: (t: Target) => wakeup(t, rate, SETTINGS) })),
  { key: "sequential", group: "sequential", run: (t) => sequential(t, SETTINGS) },
];
const WORKLOADS = ALL_WORKLOADS.filter((w) => CONFIG.only.length === 0 || CONFIG.only.includes(w.group));
const AQ_ONLY = CONFIG.only.length === 0 || CONFIG.only.includes("aq");

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

const samples: Samples = {};
const orders: SystemName[][] = [];
const isError = (o: Outcome): o is { readonly error: string } => typeof o.error === "string";
function record(workload: string, sys: SystemName, o: Outcome): void {
  const bySys = (samples[workload] ??= {});
  (bySys[sys] ??= []).push(o);
  const text = isError(o) ? `FAILED: ${o.error.split("\n")[0]}` : `${o.value.toFixed(2)}${typeof o.p99 === "number" ? ` (p99 ${o.p99.toFixed(2)})` : ""}`;
  log(`  ${workload.padEnd(16)} ${sys.padEnd(16)} ${text}`);
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
  const redisVersion = ensureRedis();
  buildActionQueue();
  const redis: Partial<Record<SystemName, RedisInstance>> = {};
  redis["bullmq-defaults"] = await startRedis("bullmq-defaults");
  redis["bullmq-fsync"] = await startRedis("bullmq-fsync");
  const redisInfo = (await redis["bullmq-defaults"].client.info("server")).match(/redis_version:(\S+)/)?.[1] ?? "";

  /** A fresh system for one workload run: a new server and data directory, or FLUSHALL. */
  const run = async (sys: SystemName, f: (t: Target) => Promise<Sample>): Promise<Sample> => {
    const r = redis[sys];
    if (r) {
      await freshRedis(r);
      return f({ system: "bullmq", host: r.host, port: r.port });
    }
    const server = await AqServer.start();
    try {
      return await f({ system: "aq", url: server.url });
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
    const ms = await prefill({ system: "aq", url: server.url }, total, SETTINGS, CONFIG.prefillProcs, "big backlog");
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
        await prefill({ system: "aq", url: server.url }, CONFIG.smallBacklog + CONFIG.cycleRuns, SETTINGS, 1, "small backlog");
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
    await attempt("aq-watch", "aq", () => run("aq", (t) => watchFanOut(t.system === "aq" ? t.url : "", CONFIG.watchers, CONFIG.watchTasks, CONFIG.watchBatch, SETTINGS)));
  }

  const seconds = (performance.now() - t0) / 1000;
  const rounds = `${CONFIG.rounds} round${CONFIG.rounds > 1 ? "s" : ""}; median [min–max] over rounds`;
  const cpu = cpus();
  console.log("");
  console.log(`ActionQueue vs BullMQ ${packageVersion("bullmq")} (ioredis ${packageVersion("ioredis")}) on Redis ${redisInfo} — ${cpu.length} × ${cpu[0]?.model ?? "?"}, node ${process.version}`);
  console.log(`${rounds}; 16-byte payloads; ${SETTINGS.workers} worker processes (AQ lease batch / BullMQ concurrency ${SETTINGS.width}); batches of ${SETTINGS.batch}, ${SETTINGS.inflight} in flight`);
  console.log(`"× faster/slower" compares ActionQueue with that BullMQ setup (throughput: AQ/BullMQ; latency: BullMQ/AQ).`);
  console.log("");
  console.log(comparisonTable(ROWS, samples));
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
      order: "each round runs every workload for the three systems back to back, rotating the order per round",
    },
    roundOrders: orders,
    rows: summaries([...ROWS, ...AQ_ROWS], samples),
    samples,
  });
  console.log("");
  console.log(`JSON: ${path} (${seconds.toFixed(0)} s in all)`);
  for (const r of Object.values(redis)) await stopRedis(r);
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
