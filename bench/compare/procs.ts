/**
 * Every process and temporary directory the benchmark starts is registered here and
 * removed on a normal exit, an error, SIGINT or SIGTERM (`installCleanup`). Also: client
 * processes (`Agent`, a forked `agent.ts` driven over IPC), free loopback ports, stderr
 * progress lines.
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FromAgent, Role, ToAgent } from "./protocol.js";

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
/** Synchronous clean-ups beyond processes and directories (a PostgreSQL cluster), run after the processes are stopped. */
const hooks = new Set<() => void>();

export function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

export function track(cp: ChildProcess): ChildProcess {
  children.add(cp);
  cp.once("exit", () => children.delete(cp));
  return cp;
}

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(d);
  return d;
}

/**
 * Registers a synchronous clean-up that `cleanupAll` (and the exit / signal handlers) run
 * once, after every tracked process has stopped; returns a function that runs it now (once)
 * and unregisters it.
 */
export function onCleanup(f: () => void): () => void {
  let done = false;
  const hook = () => {
    hooks.delete(hook);
    if (done) return;
    done = true;
    f();
  };
  hooks.add(hook);
  return hook;
}

function runHooks(): void {
  for (const h of [...hooks]) {
    try {
      h();
    } catch (e) {
      log(`cleanup failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

export function removeDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  dirs.delete(d);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export function stopProcess(cp: ChildProcess, graceMs = 15_000): Promise<void> {
  if (cp.exitCode !== null || cp.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => cp.kill("SIGKILL"), graceMs);
    cp.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    cp.kill("SIGTERM");
  });
}

export async function cleanupAll(): Promise<void> {
  await Promise.all([...children].map((cp) => stopProcess(cp, 5_000)));
  runHooks();
  for (const d of [...dirs]) removeDir(d);
}

/** Stops everything on SIGINT / SIGTERM (exit 130 / 143) and, as a last resort, on exit. */
export function installCleanup(): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals, code: number) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping everything this benchmark started`);
    cleanupAll()
      .catch((e: unknown) => log(`cleanup failed: ${String(e)}`))
      .finally(() => process.exit(code));
  };
  process.on("SIGINT", () => onSignal("SIGINT", 130));
  process.on("SIGTERM", () => onSignal("SIGTERM", 143));
  process.on("exit", () => {
    for (const cp of children) cp.kill("SIGKILL");
    runHooks();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const AGENT = join(import.meta.dirname, "agent.ts");

/** A client process: `ready` once connected; `go()` starts it; `result` / `stop()` end it. */
export class Agent {
  readonly ready: Promise<void>;
  readonly result: Promise<unknown>;
  /** Rejects when the agent reports an error or exits before it is done; never resolves. */
  readonly failed: Promise<never>;
  private readonly stopped: Promise<unknown>;
  private readonly cp: ChildProcess;
  private onCount: (n: number) => void = () => undefined;

  constructor(role: Role) {
    this.cp = track(fork(AGENT, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] }));
    const settle: { ready?: () => void; result?: (d: unknown) => void; stopped?: (d: unknown) => void } = {};
    let fail: (e: Error) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => (fail = reject));
    failed.catch(() => undefined);
    this.failed = failed;
    const guard = <T>(p: Promise<T>): Promise<T> => {
      const g = Promise.race([p, failed]);
      g.catch(() => undefined);
      return g;
    };
    this.ready = guard(new Promise<void>((r) => (settle.ready = r)));
    this.result = guard(new Promise<unknown>((r) => (settle.result = r)));
    this.stopped = guard(new Promise<unknown>((r) => (settle.stopped = r)));
    let finished = false;
    this.cp.on("message", (m: FromAgent) => {
      if (m.type === "ready") settle.ready?.();
      else if (m.type === "count") this.onCount(m.n);
      else if (m.type === "result") settle.result?.(m.data);
      else if (m.type === "stopped") {
        finished = true;
        settle.stopped?.(m.data);
      } else if (m.type === "error") fail(new Error(`${role.role} agent failed: ${m.message}`));
    });
    this.cp.once("exit", (code, signal) => {
      if (!finished) fail(new Error(`${role.role} agent exited (code ${code}, signal ${signal})`));
    });
    this.result.then(() => {
      if (role.role !== "worker" && role.role !== "watchers") finished = true;
    }, () => undefined);
    this.send({ kind: "init", role });
  }

  counts(f: (n: number) => void): this {
    this.onCount = f;
    return this;
  }

  private send(m: ToAgent): void {
    if (this.cp.connected) this.cp.send(m);
  }

  go(): void {
    this.send({ kind: "go" });
  }

  async stop(): Promise<unknown> {
    this.send({ kind: "stop" });
    return this.stopped;
  }

  kill(): Promise<void> {
    return stopProcess(this.cp, 2_000);
  }
}

/** Runs `f` with a list to register agents in; every agent is killed afterwards, whatever happens. */
export async function withAgents<T>(f: (spawn: (role: Role) => Agent) => Promise<T>): Promise<T> {
  const agents: Agent[] = [];
  try {
    return await f((role) => {
      const a = new Agent(role);
      agents.push(a);
      return a;
    });
  } finally {
    await Promise.all(agents.map((a) => a.kill()));
  }
}
