/**
 * A real ActionQueue server process for the benchmarks: started on a free loopback port
 * with a fresh data directory, ready once it logs "serving", stopped with SIGTERM (its data
 * directory removed). `entry` "src" runs src/main.ts under tsx, "dist" the built server.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

const HERE = join(import.meta.dirname, "../..");

/**
 * How a benchmark starts the server: "dist" the built server, "src" src/main.ts under tsx,
 * "memory" the real server over the in-memory store (memory-main.ts, under tsx; no storage
 * at all, to measure what is not storage).
 */
export type ServerEntry = "src" | "dist" | "memory";

/** The node arguments that run `entry` of the checkout at `root`. */
export function serverEntry(root: string, entry: ServerEntry): string[] {
  if (entry === "dist") return [join(root, "dist/main.js")];
  if (entry === "memory") return ["--import", "tsx", join(root, "bench/support/memory-main.ts")];
  return ["--import", "tsx", join(root, "src/main.ts")];
}

/** BENCH_STORE=memory: benchmarks that start the built server use the memory entry instead. */
export const BUILT_ENTRY: ServerEntry = process.env.BENCH_STORE === "memory" ? "memory" : "dist";

export interface BenchServerOptions {
  readonly entry?: ServerEntry;
  /** Node flags before the entry point (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  /** Server flags after the defaults (--data-dir, --listen, --log-level info). */
  readonly serverArgs?: readonly string[];
  /** Prefix of the temp data directory. */
  readonly dirPrefix?: string;
  /** The checkout whose server runs (before/after comparisons); this one by default. */
  readonly root?: string;
}

export interface BenchServer {
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcessByStdio<null, Readable, null>;
  /** SIGTERM, wait for the exit, remove the data directory. */
  stop(): Promise<void>;
}

export async function startBenchServer(opts: BenchServerOptions = {}): Promise<BenchServer> {
  const root = opts.root ?? HERE;
  const dir = mkdtempSync(join(tmpdir(), opts.dirPrefix ?? "aq-bench-"));
  const entry = serverEntry(root, opts.entry ?? "src");
  const args = [...(opts.nodeArgs ?? []), ...entry, "--data-dir", dir, "--listen", "127.0.0.1:0", "--log-level", "info", ...(opts.serverArgs ?? [])];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        const o = JSON.parse(line) as { msg?: string; port?: number };
        if (o.msg === "serving" && o.port) resolve(o.port);
      } catch {
        // not a log line
      }
    });
    void exited.then(() => reject(new Error("server exited before serving")));
  });
  child.stdout.resume();
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    child,
    async stop() {
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
