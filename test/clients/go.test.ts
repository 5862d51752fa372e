/**
 * The Go client (clients/go) against a real server: its own `go test` suite (round trip,
 * attempt ledger, watch resume, rich errors, worker loop) and the two Go examples.
 *
 * Go builds offline from Debian's packages (golang-go, golang-google-grpc-dev,
 * golang-google-protobuf-dev, golang-github-golang-protobuf-1-5-dev, golang-google-genproto-dev):
 * clients/go/scripts/go.sh sets GOPATH mode, GOPROXY=off and the rest, so nothing here depends
 * on the caller's Go environment. The build cache goes under the OS temp directory, because
 * HOME may not be writable in CI. The first build compiles grpc-go from source, which takes
 * a few minutes on two cores, hence the long timeouts (they bound a hang, they time nothing).
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, startServer } from "../support/server.js";

const ROOT = join(import.meta.dirname, "..", "..");
const GO = join(ROOT, "clients/go/scripts/go.sh");
const RUN_EXAMPLE = join(ROOT, "examples/go/run.sh");
const BUILD_TIMEOUT_MS = 15 * 60_000;

/** The environment of every Go command: a build cache that works without a writable HOME. */
function goEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, GOCACHE: join(tmpdir(), "actionqueue-gocache"), ...extra };
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (or until `signal` aborts, which sends it SIGTERM), collecting its output. */
function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], ...(signal ? { signal } : {}) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    child.on("error", (e) => {
      if (e.name !== "AbortError") reject(e);
    });
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** A long-running example process (run.sh execs the binary, so signals reach it). */
interface Example {
  readonly exited: Promise<number | null>;
  output(): string;
  /** Resolves once the output matches `re`; rejects if the process exits first or after the deadline. */
  waitFor(re: RegExp): Promise<void>;
  stop(): Promise<number | null>;
}

function startExample(args: readonly string[], env: NodeJS.ProcessEnv): Example {
  const child = spawn(RUN_EXAMPLE, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let done = false;
  child.stdout.on("data", (d) => (out += String(d)));
  child.stderr.on("data", (d) => (out += String(d)));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  void exited.then(() => (done = true));
  return {
    exited,
    output: () => out,
    async waitFor(re) {
      const deadline = Date.now() + BUILD_TIMEOUT_MS;
      while (!re.test(out)) {
        if (done) throw new Error(`${args.join(" ")} exited before printing ${re}:\n${out}`);
        if (Date.now() > deadline) throw new Error(`${args.join(" ")} did not print ${re}:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop() {
      if (!done) child.kill("SIGTERM");
      return exited;
    },
  };
}

describe("Go client against a real server", () => {
  let server: ServerProcess;
  let target: string;

  beforeAll(async () => {
    server = await startServer();
    target = `127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it(
    "passes its go test suite: round trip, ledger, watch resume, rich errors and the worker loop",
    async () => {
      const r = await run(GO, ["test", "-count=1", "-v", "./clients/go/..."], goEnv({ ACTIONQUEUE_TEST_TARGET: target }));
      const out = r.stdout + r.stderr;
      expect(r.code, out).toBe(0);
      for (const name of [
        "TestRoundTripSubmitLeaseStartHeartbeatComplete",
        "TestAttemptLedgerKeepsEveryAttemptAndRefusesAStaleToken",
        "TestRichErrorsCarryFieldViolationsAndReasons",
        "TestWatchResumesFromARevisionWithNoGapAndNoDuplicate",
        "TestWorkerMapsOutcomesKeepsLeasesAliveAndStopsOnCancel",
      ]) {
        expect(out, `${name} did not pass`).toContain(`--- PASS: ${name} `);
      }
      // A skipped test would mean the server address did not reach the suite.
      expect(out).not.toContain("--- SKIP");
      expect(out).not.toContain("--- FAIL");
    },
    BUILD_TIMEOUT_MS,
  );

  it(
    "runs the Go producer and worker examples: every submitted run completes with the worker's output",
    async () => {
      const queue = `go-examples-${process.pid}`;
      const env = goEnv({ ACTIONQUEUE_TARGET: target });
      const worker = startExample(["worker", "-queue", queue, "-concurrency", "2"], env);
      // The producer waits for the worker's results: if the worker dies, stop waiting.
      const abort = new AbortController();
      void worker.exited.then(() => abort.abort());
      try {
        const producer = await run(RUN_EXAMPLE, ["producer", "-queue", queue, "-n", "3", "-wait"], env, abort.signal);
        const out = producer.stdout + producer.stderr;
        expect(producer.code, `${out}\nworker:\n${worker.output()}`).toBe(0);
        const submitted = [...producer.stdout.matchAll(/^submitted task \S+ run (\S+) payload \{"n":(\d)\}$/gm)].map((m) => [m[1], m[2]]);
        expect(submitted).toHaveLength(3);
        for (const [runId, n] of submitted) {
          const square = Number(n) * Number(n);
          expect(producer.stdout).toContain(`run ${runId} RUN_STATE_COMPLETED output "{\\"square\\":${square}}"`);
        }
        expect(producer.stdout).toContain("all runs finished");
      } finally {
        // SIGTERM reaches the worker binary itself (run.sh execs it): it drains and exits 0.
        await worker.stop();
      }
      expect(await worker.exited, worker.output()).toBe(0);
      expect(worker.output()).toContain("worker stopped");
    },
    BUILD_TIMEOUT_MS,
  );
});

describe("Go examples across a server restart", () => {
  it(
    "the worker keeps leasing and the producer's watch resumes, so runs submitted before and after the restart all complete",
    async () => {
      const first = await startServer({ keepData: true });
      const { port, dataDir } = first;
      const env = goEnv({ ACTIONQUEUE_TARGET: `127.0.0.1:${port}` });
      const before = `go-restart-before-${process.pid}`;
      const after = `go-restart-after-${process.pid}`;
      let second: ServerProcess | undefined;
      const examples: Example[] = [];
      try {
        // A worker on one queue; a producer waiting on another queue that has no worker yet.
        const worker = startExample(["worker", "-queue", after], env);
        examples.push(worker);
        await worker.waitFor(/worker on queue/);
        const waiting = startExample(["producer", "-queue", before, "-n", "2", "-wait"], env);
        examples.push(waiting);
        await waiting.waitFor(/(submitted task[^\n]*\n[^]*){2}/);

        await first.stop();
        second = await startServer({ dataDir, args: ["--listen", `127.0.0.1:${port}`] });
        expect(second.port).toBe(port);

        // The first worker reconnected: a fresh producer on its queue finishes.
        const fresh = await run(RUN_EXAMPLE, ["producer", "-queue", after, "-n", "2", "-wait"], env, AbortSignal.timeout(120_000));
        expect(fresh.code, `${fresh.stdout}${fresh.stderr}\nworker:\n${worker.output()}`).toBe(0);
        expect(fresh.stdout.match(/RUN_STATE_COMPLETED/g)).toHaveLength(2);

        // The waiting producer's watch resumed: once a worker serves its queue, it finishes.
        const late = startExample(["worker", "-queue", before], env);
        examples.push(late);
        const exit = await Promise.race([waiting.exited, new Promise<string>((r) => setTimeout(() => r("still waiting after 2 minutes"), 120_000))]);
        expect(exit, waiting.output()).toBe(0);
        expect(waiting.output().match(/RUN_STATE_COMPLETED/g)).toHaveLength(2);
        expect(waiting.output()).toContain("all runs finished");
        expect(await worker.stop(), worker.output()).toBe(0);
        expect(await late.stop(), late.output()).toBe(0);
      } finally {
        await Promise.all(examples.map((e) => e.stop()));
        await first.stop();
        if (second) await second.cleanup();
        else rmSync(dataDir, { recursive: true, force: true });
      }
    },
    BUILD_TIMEOUT_MS,
  );
});
