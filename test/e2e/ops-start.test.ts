/**
 * Starting and stopping as a supervisor does it: `npm start` (SIGTERM to the npm process
 * ends the server with the graceful drain, exit 0, no orphan), `npm start -- --version`, the
 * `actionqueue` command's subcommands and usage errors, and --log-format / --log-time.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/engine.js";
import { waitUntil } from "../support/wait.js";

const ROOT = join(import.meta.dirname, "..", "..");
const VERSION = (JSON.parse(execFileSync("node", ["-p", "JSON.stringify(require('./package.json'))"], { cwd: ROOT, encoding: "utf8" })) as { version: string }).version;

interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end (killed after `timeoutMs`, a guard only). */
function run(cmd: string, args: readonly string[], timeoutMs = 150_000): Promise<Finished> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    const kill = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(kill);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const cli = (...args: string[]) => run(process.execPath, ["--import", "tsx", join(ROOT, "src/bin/cli.ts"), ...args]);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every process below `pid` (children, grandchildren, ...). */
function descendants(pid: number): number[] {
  const table = execFileSync("ps", ["-e", "-o", "pid=,ppid="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const out: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of table) {
      if (ppid !== parent) continue;
      out.push(child);
      walk(child);
    }
  };
  walk(pid);
  return out;
}

describe("npm start under a supervisor", () => {
  it("SIGTERM to the npm process drains and stops the server: exit 0, no orphan", { timeout: 240_000 }, async () => {
    const dataDir = tempDir("aq-npm-start-");
    // npm is this test's direct child, as it is Docker's or systemd's; the prestart builds
    // dist/ when it is not current (that may take a while the first time).
    const npm = spawn("npm", ["start", "--", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-format", "json"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    let stderr = "";
    npm.stderr.on("data", (d) => (stderr += String(d)));
    createInterface({ input: npm.stdout }).on("line", (l) => lines.push(l));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => npm.on("exit", (code, signal) => resolve({ code, signal })));
    const logs = () => lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { msg: string });
    let children: number[] = [];
    try {
      await waitUntil("serving", () => logs().some((l) => l.msg === "serving") || npm.exitCode !== null, 200_000);
      expect(logs().some((l) => l.msg === "serving"), stderr).toBe(true);
      // Whatever npm started (with `exec`, the server itself; without, a shell and the
      // server below it): all of it must be gone after the signal.
      children = descendants(npm.pid as number);
      expect(children.length).toBeGreaterThan(0);
      npm.kill("SIGTERM");
      const end = await exited;
      expect(end).toEqual({ code: 0, signal: null });
      const msgs = logs().map((l) => l.msg);
      expect(msgs).toContain("shutting down");
      expect(msgs.at(-1)).toBe("stopped");
      await waitUntil("the server process to be gone", () => children.every((pid) => !alive(pid)), 10_000);
    } finally {
      if (npm.exitCode === null) npm.kill("SIGKILL");
      // When the test fails, the server it orphaned must not outlive it.
      for (const pid of children) if (alive(pid)) process.kill(pid, "SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("npm start -- --version prints the version without building again", { timeout: 240_000 }, async () => {
    // The first call builds when needed; the second finds the build current.
    const first = await run("npm", ["start", "-s", "--", "--version"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trim()).toBe(VERSION);
    const second = await run("npm", ["start", "-s", "--", "--version"]);
    expect(second.code).toBe(0);
    expect(second.stdout.trim()).toBe(VERSION);
    expect(second.stderr).not.toContain("building dist/");
    expect(second.stderr).not.toContain("building the dashboard");
    // The dashboard was built too (by npm ci's prepare, or by the first start).
    expect(existsSync(join(ROOT, "dist", "ui", "index.html"))).toBe(true);
  });
});

describe("the actionqueue command", () => {
  it("version, --version and serve --version print the package version", { timeout: 60_000 }, async () => {
    for (const args of [["version"], ["--version"], ["-V"], ["serve", "--version"]]) {
      const r = await cli(...args);
      expect([r.code, r.stdout.trim(), r.stderr]).toEqual([0, VERSION, ""]);
    }
  });

  it("--help lists the subcommands; serve --help the server's flags", { timeout: 60_000 }, async () => {
    const help = await cli("--help");
    expect(help.code).toBe(0);
    for (const c of ["serve", "backup", "version"]) expect(help.stdout).toMatch(new RegExp(`^  ${c}\\b`, "m"));
    const serveHelp = await cli("serve", "--help");
    expect(serveHelp.code).toBe(0);
    expect(serveHelp.stdout).toContain("--data-dir");
    expect(serveHelp.stdout).toContain("--log-format");
  });

  it("an unknown or missing command is one line on stderr and exit 2", { timeout: 60_000 }, async () => {
    for (const args of [["frobnicate"], [], ["--data-dir", "x"], ["backup", "--bogus"], ["backup"]]) {
      const r = await cli(...args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/^actionqueue: /);
    }
  });

  it("serve runs the server with its flags, and stops cleanly on SIGTERM", { timeout: 60_000 }, async () => {
    const dataDir = tempDir("aq-cli-serve-");
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/bin/cli.ts"), "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-format", "json", "--log-time", "iso"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on("line", (l) => lines.push(l));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      await waitUntil("serving", () => lines.some((l) => l.includes('"serving"')) || child.exitCode !== null);
      const serving = JSON.parse(lines.find((l) => l.includes('"serving"')) as string) as { time: unknown; data_dir: string };
      expect(serving.data_dir).toBe(dataDir);
      // --log-time iso: an ISO-8601 UTC time instead of epoch milliseconds.
      expect(serving.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(lines.some((l) => l.includes('"stopped"'))).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("stops on SIGTERM even when nobody reads its stdout any more (a closed log pipe)", { timeout: 60_000 }, async () => {
    const dataDir = tempDir("aq-epipe-");
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-format", "json"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      await waitUntil("serving", () => out.includes('"serving"') || child.exitCode !== null);
      // The reader goes away: every later log line gets EPIPE.
      child.stdout.destroy();
      child.kill("SIGTERM");
      // A generous deadline, not a speed requirement: before the fix the process never exited.
      await waitUntil("the server to exit after SIGTERM", () => child.exitCode !== null, 30_000);
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("--log-format pretty writes human-readable lines with ISO times", { timeout: 60_000 }, async () => {
    const dataDir = tempDir("aq-pretty-");
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-format", "pretty"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      await waitUntil("serving", () => / INFO: serving\n/.test(out) || child.exitCode !== null);
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(out).toMatch(/^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] INFO: serving$/m);
      expect(out).toMatch(/^\s+port: \d+$/m);
      expect(out).toMatch(/INFO: stopped$/m);
      // Not JSON: no line is an object.
      expect(out.split("\n").some((l) => l.startsWith("{"))).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
