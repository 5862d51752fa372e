/**
 * The servers under test, each in its own process: the ActionQueue server (`node
 * dist/main.js`, built once) and two redis-server instances (`scripts/redis-server.sh`).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Redis } from "ioredis";
import { aqHealthy, sleep } from "./drivers.js";
import { freePort, log, removeDir, stopProcess, tempDir, track } from "./procs.js";
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

  static async start(dataDir: string | null = null): Promise<AqServer> {
    const dir = dataDir ?? tempDir("aq-compare-");
    const port = await freePort();
    const args = ["--expose-gc", "--import", MEM_PROBE, ...serverEntry(ROOT, BUILT_ENTRY), "--data-dir", dir, "--listen", `127.0.0.1:${port}`, "--log-level", "warn"];
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

  /** Stops the process; keeps the data directory when `keepData`. */
  async stop(keepData = false): Promise<void> {
    await stopProcess(this.cp);
    if (!keepData) removeDir(this.dataDir);
  }
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
