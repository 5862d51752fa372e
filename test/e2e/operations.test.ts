/**
 * Operating the service: clean shutdown under load, start-up errors as one clear line,
 * --help, structured logs with ids and without tokens, streams ended with UNAVAILABLE.
 */
import { execFileSync, spawn } from "node:child_process";
import { closeSync, constants, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { tempDir } from "../support/engine.js";
import { connectGrpc, grpcJs, startServer, unary } from "../support/server.js";

const ROOT = join(import.meta.dirname, "..", "..");

function runMain(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    const kill = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("exit", (code) => {
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
  });
}

const payload = (s: string) => ({ data: new TextEncoder().encode(s), contentType: "text/plain" });
const TLS = join(ROOT, "test", "fixtures", "tls");

describe("shutdown", () => {
  it("exits 0 on SIGTERM under load, and after a restart every acknowledged call is there", { timeout: 180_000 }, async () => {
    // No clock in this test: the signal goes out once enough submits were acknowledged,
    // however long that takes on this machine, while 16 writers keep submitting.
    const ACKED_BEFORE_SIGTERM = 50;
    const server = await startServer({ keepData: true });
    const clients = connectGrpc(server.port);
    const acked: string[] = [];
    const refused: number[] = [];
    let signalled = false;
    let stop = false;
    let reachedTarget!: () => void;
    let failedEarly!: (e: unknown) => void;
    const loaded = new Promise<void>((resolve, reject) => {
      reachedTarget = resolve;
      failedEarly = reject;
    });
    const writers = Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        try {
          const r = await clients.tasks.submitTask({ spec: { queue: "load", payload: payload(`${w}-${i}`) } });
          acked.push(r.task?.id as string);
          if (acked.length >= ACKED_BEFORE_SIGTERM) reachedTarget();
        } catch (e) {
          refused.push(e instanceof ConnectError ? e.code : -1);
          // Before the signal every submit must succeed.
          if (!signalled) failedEarly(e);
          return;
        }
      }
    });
    await loaded;
    signalled = true;
    const code = await server.stop("SIGTERM");
    stop = true;
    await Promise.all(writers);
    expect(code).toBe(0);
    expect(acked.length).toBeGreaterThanOrEqual(ACKED_BEFORE_SIGTERM);
    // Calls that did not get through were refused cleanly (UNAVAILABLE or a closed connection).
    for (const c of refused) expect([Code.Unavailable, Code.Canceled, Code.Unknown, Code.Internal]).toContain(c);
    const logs = server.logs.map((l) => JSON.parse(l) as { msg: string });
    expect(logs.some((l) => l.msg === "stopped")).toBe(true);

    const again = await startServer({ dataDir: server.dataDir });
    try {
      const c2 = connectGrpc(again.port);
      for (const id of acked) {
        const t = await c2.tasks.getTask({ taskId: id });
        expect(t.task?.id).toBe(id);
      }
      const stats = await c2.admin.getStats({ queues: ["load"] });
      expect(Number(stats.queues[0]?.runs?.ready)).toBeGreaterThanOrEqual(acked.length);
    } finally {
      await again.cleanup();
    }
  });

  it("ends watches and long polls with UNAVAILABLE on shutdown and reports NOT_SERVING", async () => {
    const server = await startServer();
    const clients = connectGrpc(server.port);
    // Signal once the watch and the health watch have each delivered a first message (no
    // fixed delay: a loaded machine only makes this take longer).
    let watchOpen!: () => void;
    const watching = new Promise<void>((resolve) => (watchOpen = resolve));
    const watchErr = (async () => {
      try {
        for await (const m of clients.runs.watchRuns({ startRevision: 0n, progressIntervalMs: 100 })) {
          if (m.kind.case === "progress") watchOpen(); // no events expected, only progress
        }
        return null;
      } catch (e) {
        return e as ConnectError;
      } finally {
        watchOpen();
      }
    })();
    const pollErr = clients.workers
      .leaseRuns({ queues: ["idle"], workerId: "w", wait: { seconds: 30n } })
      .then(() => null)
      .catch((e: unknown) => e as ConnectError);
    const h = grpcJs(server.port);
    const healthStream = (h.health as unknown as { watch(req: object): NodeJS.EventEmitter }).watch({ service: "" });
    const statuses: string[] = [];
    const serving = new Promise<void>((resolve) => {
      healthStream.on("data", (m: { status: string }) => {
        statuses.push(m.status);
        resolve();
      });
      healthStream.on("error", () => resolve());
    });
    await Promise.all([watching, serving]);
    expect(await server.stop("SIGTERM")).toBe(0);
    const w = await watchErr;
    const p = await pollErr;
    expect(w?.code).toBe(Code.Unavailable);
    expect(w?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("SHUTTING_DOWN");
    expect(p?.code).toBe(Code.Unavailable);
    expect(statuses).toEqual(["SERVING", "NOT_SERVING"]);
    h.close();
    await server.cleanup();
  });
});

describe("a signal during start-up", () => {
  it("is a clean shutdown (exit 0, \"stopped\") even before the server serves", async () => {
    // A deterministic window inside start-up: the certificate is a FIFO, so the server blocks
    // reading it (store and engine open, port not yet bound, nothing logged yet) until this
    // test writes it. The signal goes out while the server is blocked there; it must end in
    // a clean shutdown, not kill the process (a SIGTERM before the handlers are installed does).
    const dir = tempDir("aq-startup-signal-");
    const cert = join(dir, "cert.fifo");
    execFileSync("mkfifo", [cert]);
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(ROOT, "src/main.ts"), "--data-dir", join(dir, "data"), "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", join(TLS, "key.pem")],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    let running = true;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => {
        running = false;
        resolve({ code, signal });
      }),
    );
    try {
      // Until the server opens the FIFO to read it, opening it to write without blocking fails
      // with ENXIO; once that open succeeds the server is inside the read, waiting for data.
      let fd: number | null = null;
      while (fd === null) {
        if (!running) throw new Error(`server exited before reading its certificate: ${stderr}`);
        try {
          fd = openSync(cert, constants.O_WRONLY | constants.O_NONBLOCK);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENXIO") throw e;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      expect(stdout).not.toContain('"serving"');
      child.kill("SIGTERM");
      writeSync(fd, readFileSync(join(TLS, "cert.pem")));
      closeSync(fd);
      expect(await exited, stderr).toEqual({ code: 0, signal: null });
      const msgs = stdout
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(msgs).toContain("shutting down");
      expect(msgs.at(-1)).toBe("stopped");
    } finally {
      if (running) child.kill("SIGKILL");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("start-up errors are one clear line and a non-zero exit", () => {
  it("refuses a port in use", async () => {
    const server = await startServer();
    const dir = tempDir();
    try {
      const r = await runMain(["--data-dir", dir, "--listen", `127.0.0.1:${server.port}`]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n")).toEqual([`actionqueue: cannot listen on 127.0.0.1:${server.port}: address already in use`]);
    } finally {
      await server.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a data directory locked by another server", async () => {
    const server = await startServer();
    try {
      const r = await runMain(["--data-dir", server.dataDir, "--listen", "127.0.0.1:0"]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/^actionqueue: data directory .* is in use by another ActionQueue process/);
    } finally {
      await server.cleanup();
    }
  });

  it("refuses an unwritable data directory", async () => {
    const dir = tempDir();
    const file = join(dir, "not-a-dir");
    writeFileSync(file, "x");
    const r = await runMain(["--data-dir", join(file, "data"), "--listen", "127.0.0.1:0"]);
    rmSync(dir, { recursive: true, force: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^actionqueue: data directory .* is not writable/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it.each([
    [["--bogus", "1"], /unknown flag --bogus/],
    [["--listen", "nowhere"], /listen: "nowhere" must be host:port/],
    [["--retention", "forever"], /retention: "forever" is not a duration/],
    [["--max-message-bytes", "12"], /max-message-bytes: must be at least 1024 bytes/],
    [["--log-level"], /flag --log-level needs a value/],
  ])("refuses bad flags %j with exit 2", async (args, message) => {
    const r = await runMain(args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it("refuses a bad environment value like a bad flag", async () => {
    const r = await runMain([], { ACTIONQUEUE_DURABILITY: "sometimes" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/durability: "sometimes" must be one of strict, relaxed/);
  });

  it("--help lists every setting with its environment variable and exits 0", async () => {
    const r = await runMain(["--help"]);
    expect(r.code).toBe(0);
    for (const name of ["ACTIONQUEUE_DATA_DIR", "ACTIONQUEUE_LISTEN", "ACTIONQUEUE_TLS_CERT", "ACTIONQUEUE_LOG_LEVEL", "ACTIONQUEUE_DURABILITY", "ACTIONQUEUE_RETENTION", "ACTIONQUEUE_STORAGE_QUOTA", "ACTIONQUEUE_MAX_MESSAGE_BYTES"]) {
      expect(r.stdout).toContain(name);
    }
    expect(r.stdout).toContain("default ./data");
    expect(r.stdout).toContain("default 127.0.0.1:50051");
  });
});

describe("logs", () => {
  it("writes JSON lifecycle lines with task, run, attempt and worker ids and never a lease token or payload", async () => {
    const server = await startServer({ args: ["--log-level", "debug"] }); // lifecycle lines are debug
    try {
      const c = connectGrpc(server.port);
      const secret = "super-secret-payload-bytes";
      await c.tasks.submitTask({ spec: { queue: "logs", payload: payload(secret) } });
      const leased = await c.workers.leaseRuns({ queues: ["logs"], workerId: "logger-worker", startAttempt: true });
      const g = leased.runs[0];
      if (!g?.attempt || !g.run) throw new Error("no run");
      await c.workers.completeAttempt({ runId: g.run.id, leaseToken: g.leaseToken, attemptId: g.attempt.id, outcome: 1 });
      // Wait for the last transition's line to come through the pipe (not for a fixed time).
      const runId = g.run.id;
      const parsed = () => server.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
      await vi.waitFor(() => expect(parsed().some((l) => l.msg === "run transition" && l.run_id === runId && l.to === "COMPLETED")).toBe(true), { timeout: 30_000 });
      const lines = parsed();
      const transitions = lines.filter((l) => l.msg === "run transition");
      expect(transitions.length).toBeGreaterThanOrEqual(3);
      for (const t of transitions) {
        expect(t.task_id).toBeTypeOf("string");
        expect(t.run_id).toBe(g.run.id);
      }
      const running = transitions.find((t) => t.to === "RUNNING");
      expect(running).toMatchObject({ attempt_id: g.attempt.id, worker_id: "logger-worker" });
      const all = server.logs.join("\n");
      expect(all).not.toContain(g.leaseToken);
      expect(all).not.toContain(secret);
      expect(all).not.toContain(Buffer.from(secret).toString("base64"));
    } finally {
      await server.cleanup();
    }
  });
});

describe("health over grpc-js", () => {
  it("answers SERVING for the server and every service", async () => {
    const server = await startServer();
    const h = grpcJs(server.port);
    try {
      for (const service of ["", "actionqueue.v1.TaskService", "actionqueue.v1.RunService", "actionqueue.v1.WorkerService", "actionqueue.v1.AdminService"]) {
        await expect(unary(h.health, "check", { service })).resolves.toEqual({ status: "SERVING" });
      }
    } finally {
      h.close();
      await server.cleanup();
    }
  });
});
