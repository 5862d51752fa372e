/**
 * The servers under test, each in its own process: the ActionQueue server (`node
 * dist/main.js`, built once; on LMDB in a fresh data directory, or with `--storage postgres`
 * on a fresh database of a throw-away cluster, `PgCluster`, with serial or concurrent
 * commits; or N such servers sharing one database, `startAqServers`) and two redis-server
 * instances (`scripts/redis-server.sh`).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Redis } from "ioredis";
import pg from "pg";
import { aqHealthy, sleep } from "./drivers.js";
import { freePort, log, onCleanup, removeDir, stopProcess, tempDir, track } from "./procs.js";
import type { PgCommits } from "./report.js";
import { BUILT_ENTRY, serverEntry } from "../support/server.js";

export const ROOT = join(import.meta.dirname, "..", "..");

// Preloaded into the server (public wire API only, src/ untouched): on SIGUSR2, two GCs then
// process.memoryUsage() as one `MEM {json}` line on stderr.
const MEM_PROBE = `data:text/javascript,${encodeURIComponent(
  `process.on("SIGUSR2",()=>{globalThis.gc?.();globalThis.gc?.();process.stderr.write("MEM "+JSON.stringify(process.memoryUsage())+"\\n")})`,
)}`;

export function buildActionQueue(): void {
  log("building ActionQueue: npx tsc -p tsconfig.build.json");
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "inherit" });
}

export interface Memory {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

/**
 * One ActionQueue server process on a port we pick (with `--log-level warn` the "serving"
 * line is not printed, and `info` logs every run transition, which would slow the server:
 * readiness is the first SERVING answer of grpc.health.v1.Health/Check instead).
 */
export class AqServer {
  readonly url: string;
  private constructor(
    private readonly cp: ChildProcess,
    readonly dataDir: string,
    readonly port: number,
    /** Spawn → first SERVING health check, ms. */
    readonly startMs: number,
    private readonly memWaiters: ((m: Memory) => void)[],
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /**
   * `dataDir`: reuse that LMDB data directory (kept by `stop(true)`); otherwise a fresh one.
   * `postgresUrl`: the built server with `--storage postgres` on that database instead (the
   * data directory is then an empty, unused temp directory), and `--postgres-commits
   * <commits>` (given even when serial, the default, so that an ACTIONQUEUE_POSTGRES_COMMITS
   * in the benchmark's environment cannot change a system's mode).
   */
  static async start(dataDir: string | null = null, postgresUrl: string | null = null, commits: PgCommits = "serial"): Promise<AqServer> {
    const dir = dataDir ?? tempDir("aq-compare-");
    const port = await freePort();
    const entry = postgresUrl === null ? serverEntry(ROOT, BUILT_ENTRY) : serverEntry(ROOT, "dist");
    const storage = postgresUrl === null ? [] : ["--storage", "postgres", "--postgres-commits", commits, "--postgres-url", postgresUrl];
    const args = ["--expose-gc", "--import", MEM_PROBE, ...entry, "--data-dir", dir, "--listen", `127.0.0.1:${port}`, "--log-level", "warn", ...storage];
    const t0 = performance.now();
    const cp = track(spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }));
    const memWaiters: ((m: Memory) => void)[] = [];
    cp.stdout?.resume(); // drained; warn-level lines are rare
    if (cp.stderr) {
      createInterface({ input: cp.stderr }).on("line", (line) => {
        if (line.startsWith("MEM ")) memWaiters.shift()?.(JSON.parse(line.slice(4)) as Memory);
        else process.stderr.write(`[actionqueue] ${line}\n`);
      });
    }
    const url = `http://127.0.0.1:${port}`;
    for (;;) {
      if (cp.exitCode !== null) throw new Error(`the ActionQueue server exited with ${cp.exitCode} during start-up`);
      try {
        await aqHealthy(url);
        break;
      } catch {
        if (performance.now() - t0 > 600_000) throw new Error("the ActionQueue server did not become healthy within 10 minutes");
        await sleep(5);
      }
    }
    return new AqServer(cp, dir, port, performance.now() - t0, memWaiters);
  }

  /** The server's memory after a full GC (heap) and its RSS from /proc. */
  async memory(): Promise<Memory> {
    const got = new Promise<Memory>((r) => this.memWaiters.push(r));
    this.cp.kill("SIGUSR2");
    const m = await Promise.race([got, sleep(30_000).then(() => null)]);
    if (!m) throw new Error("the server did not answer the memory probe");
    return m;
  }

  /**
   * The server's commit figures so far, from its GET /metrics (the engine's group commits:
   * `actionqueue_commit_duration_seconds`, store-agnostic — LMDB's write and flush, or
   * PostgreSQL's transaction up to the durable COMMIT) and its commit conflicts
   * (`actionqueue_commit_conflicts_total`: batches decided again because their commit raced
   * another server's; NaN when the server does not expose it).
   */
  async commits(): Promise<Commits> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const get = (name: string): number => {
      const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m"));
      return m ? Number(m[1]) : NaN;
    };
    return {
      commits: get("actionqueue_commit_duration_seconds_count"),
      commitSeconds: get("actionqueue_commit_duration_seconds_sum"),
      commands: get("actionqueue_commit_batch_commands_sum"),
      verbs: get("actionqueue_commit_batch_verbs_sum"),
      conflicts: get("actionqueue_commit_conflicts_total"),
    };
  }

  /** Stops the process; keeps the data directory when `keepData`. */
  async stop(keepData = false): Promise<void> {
    await stopProcess(this.cp);
    if (!keepData) removeDir(this.dataDir);
  }
}

/** A server's commit figures (GET /metrics): count and summed seconds of its commits, summed commands and store writes, commit conflicts. */
export interface Commits {
  readonly commits: number;
  readonly commitSeconds: number;
  readonly commands: number;
  readonly verbs: number;
  readonly conflicts: number;
}

/** Several servers' commit figures added up (each server counts only its own commits). */
export function sumCommits(all: readonly Commits[]): Commits {
  const add = (k: keyof Commits) => all.reduce((a, c) => a + c[k], 0);
  return { commits: add("commits"), commitSeconds: add("commitSeconds"), commands: add("commands"), verbs: add("verbs"), conflicts: add("conflicts") };
}

/**
 * `n` ActionQueue servers with `--storage postgres --postgres-commits <commits>` on the one
 * database `postgresUrl`, each on its own port with its own (unused) data directory. They start one after the other:
 * server 0 first, on the empty database (it creates the schema), then the others, each once
 * the previous one answers SERVING; start-up is not timed. Should one fail to start, those
 * already running are stopped before the error is thrown.
 */
export async function startAqServers(n: number, postgresUrl: string, commits: PgCommits = "serial"): Promise<AqServer[]> {
  const servers: AqServer[] = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await AqServer.start(null, postgresUrl, commits));
    return servers;
  } catch (e) {
    await stopAqServers(servers);
    throw e;
  }
}

/** Stops every server of `startAqServers` (all at once) and removes their data directories. */
export async function stopAqServers(servers: readonly AqServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.stop()));
}

export interface RedisInstance {
  readonly name: "bullmq-defaults" | "bullmq-fsync";
  readonly host: string;
  readonly port: number;
  readonly args: string[];
  readonly client: Redis;
  readonly cp: ChildProcess;
  readonly dir: string;
}

const REDIS_SH = join(ROOT, "scripts/redis-server.sh");

/** Installs redis-server when missing; returns `redis-server --version`. */
export function ensureRedis(): string {
  return execFileSync("bash", [REDIS_SH, "--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}

/** Persistence off for the defaults instance; AOF with an fsync per write for the other. No RDB snapshots on either. */
export const REDIS_MODES = {
  "bullmq-defaults": ["--save", "", "--appendonly", "no"],
  "bullmq-fsync": ["--save", "", "--appendonly", "yes", "--appendfsync", "always"],
} as const;

export async function startRedis(name: RedisInstance["name"]): Promise<RedisInstance> {
  const dir = tempDir(`redis-${name}-`);
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--daemonize", "no", "--logfile", "", ...REDIS_MODES[name]];
  const cp = track(spawn("bash", [REDIS_SH, ...args], { stdio: ["ignore", "pipe", "pipe"] }));
  cp.stderr?.on("data", (b: Buffer) => process.stderr.write(`[redis ${name}] ${b.toString()}`));
  await new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: cp.stdout ?? process.stdin });
    rl.on("line", (line) => {
      if (line.includes("Ready to accept connections")) resolve();
      // Redis logs to stdout; only its warnings about this very setup are worth showing.
      if (/ # (?!WARNING Memory overcommit)(WARNING|Failed|Error)/i.test(line)) process.stderr.write(`[redis ${name}] ${line}\n`);
    });
    cp.once("exit", (code) => reject(new Error(`redis-server (${name}) exited with ${code}`)));
  });
  cp.stdout?.resume();
  const client = new Redis({ host: "127.0.0.1", port, lazyConnect: false });
  client.on("error", () => undefined); // reconnects on its own; a dead server surfaces as failed commands
  await client.ping();
  log(`redis ${name} on 127.0.0.1:${port} (${REDIS_MODES[name].map((a) => (a === "" ? '""' : a)).join(" ")}), dir ${dir}`);
  return { name, host: "127.0.0.1", port, args, client, cp, dir };
}

/** FLUSHALL; with AOF on, also compacts the AOF (a rewrite of the empty dataset) and waits for it. */
export async function freshRedis(r: RedisInstance): Promise<void> {
  await r.client.flushall();
  if ((await r.client.config("GET", "appendonly"))[1] !== "yes") return;
  for (;;) {
    const info = await r.client.info("persistence");
    if (!/aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(info)) break;
    await sleep(20);
  }
  await r.client.bgrewriteaof();
  for (;;) {
    await sleep(20);
    const info = await r.client.info("persistence");
    if (!/aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(info)) break;
  }
}

export async function stopRedis(r: RedisInstance): Promise<void> {
  r.client.disconnect();
  await stopProcess(r.cp);
  removeDir(r.dir);
}

export function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
}

const PG_CLUSTER = join(ROOT, "scripts/pg-cluster.mjs");

/**
 * A throw-away PostgreSQL cluster (`scripts/pg-cluster.mjs start`: its own directory,
 * 127.0.0.1 on a free port, fsync and synchronous_commit on) for the `aq-postgres` system:
 * one cluster per benchmark, a fresh database per workload run (CREATE DATABASE before the
 * server starts, DROP DATABASE after it stopped). `stop()` — also run by the benchmark's
 * clean-up on errors, SIGINT and SIGTERM — stops the cluster and removes its directory.
 */
export class PgCluster {
  private next = 0;
  private constructor(
    readonly url: string,
    readonly dir: string,
    readonly version: string,
    private readonly admin: pg.Client,
    readonly stop: () => void,
  ) {}

  static async start(): Promise<PgCluster> {
    const out = execFileSync(process.execPath, [PG_CLUSTER, "start"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    const { url, dir } = JSON.parse(out.trim().split("\n").at(-1) ?? "") as { url: string; dir: string };
    let admin: pg.Client | null = null;
    const stop = onCleanup(() => {
      admin?.end().catch(() => undefined);
      execFileSync(process.execPath, [PG_CLUSTER, "stop", dir], { stdio: ["ignore", "ignore", "inherit"] });
      log(`postgres cluster stopped and removed (${dir})`);
    });
    try {
      admin = new pg.Client({ connectionString: url });
      admin.on("error", () => undefined);
      await admin.connect();
      const version = ((await admin.query<{ server_version: string }>("SHOW server_version")).rows[0]?.server_version ?? "").split(" ")[0] ?? "";
      log(`postgres ${version} cluster on ${new URL(url).host}, dir ${dir}`);
      return new PgCluster(url, dir, version, admin, stop);
    } catch (e) {
      stop();
      throw e;
    }
  }

  /** A new, empty database; its URL. */
  async createDatabase(): Promise<{ name: string; url: string }> {
    const name = `aq_bench_${++this.next}`;
    await this.admin.query(`CREATE DATABASE ${name}`);
    const u = new URL(this.url);
    u.pathname = `/${name}`;
    return { name, url: u.toString() };
  }

  /** Drops a database made by `createDatabase` (its server stopped: no session is left). */
  async dropDatabase(name: string): Promise<void> {
    await this.admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }

  /** The cluster's settings that bear on commit cost, for the JSON document. */
  async settings(): Promise<Record<string, string>> {
    const names = ["fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "shared_buffers", "max_wal_size", "commit_delay"];
    const r = await this.admin.query<{ name: string; setting: string; unit: string | null }>("SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)", [names]);
    return Object.fromEntries(r.rows.map((x) => [x.name, x.unit ? `${x.setting} ${x.unit}` : x.setting]));
  }
}
