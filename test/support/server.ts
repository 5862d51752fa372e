/**
 * A real ActionQueue server process on a loopback port for black-box tests, and the three
 * kinds of client the tests drive it with:
 *  - `grpcJs(port)`: @grpc/grpc-js with the .proto files loaded at run time by
 *    @grpc/proto-loader (independent of the generated code);
 *  - `connectGrpc(port)`: the generated Connect clients over the gRPC protocol (HTTP/2);
 *  - `connectJson(port)`: the generated Connect clients over the Connect protocol with JSON
 *    on HTTP/1.1.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { type ActionQueueClients, createActionQueueClients } from "../../clients/typescript/src/index.js";
import { tempDir } from "./engine.js";

const ROOT = join(import.meta.dirname, "..", "..");

/**
 * What a bearer token of the test suite looks like in a log line: every token the suite
 * sends is `aq-test-<name>-token` (the auth fixtures, the client tests). Every server this
 * module starts has its stdout and stderr checked for it, line by line, and `cleanup()`
 * fails the test that leaked one: no token may reach a log line anywhere in the suite.
 */
export const TOKEN_IN_LOG = /aq-test-[\w-]+-token/;

/** A running server process. */
export interface ServerProcess {
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** Every stdout line (JSON log lines) so far. */
  readonly logs: string[];
  readonly stderr: () => string;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Stops (SIGTERM) and removes the data directory unless `keepData`. */
  cleanup(): Promise<void>;
}

/** Options of `startServer`. */
export interface StartOptions {
  readonly dataDir?: string;
  readonly keepData?: boolean;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** Run the server under `ulimit -n <n>` (spawned through bash; `child.pid` is still the server's). */
  readonly maxOpenFiles?: number;
}

/** How long a server may take to log "serving" before it is killed (start-up takes about a second). */
const START_DEADLINE_MS = 45_000;

/**
 * Starts `src/main.ts` on 127.0.0.1 with a free port and waits for its "serving" log line.
 * Rejects with the process's stderr when it exits first.
 */
export async function startServer(opts: StartOptions = {}): Promise<ServerProcess> {
  const dataDir = opts.dataDir ?? tempDir("aq-server-");
  const argv = ["--import", "tsx", join(ROOT, "src/main.ts"), "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-level", "info", ...(opts.args ?? [])];
  const child =
    opts.maxOpenFiles === undefined
      ? spawn(process.execPath, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...opts.env } })
      : spawn("bash", ["-c", `ulimit -n ${opts.maxOpenFiles} && exec "$0" "$@"`, process.execPath, ...argv], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...opts.env } });
  const logs: string[] = [];
  let stderr = "";
  const leaks: string[] = [];
  child.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  if (child.stderr) createInterface({ input: child.stderr }).on("line", (line) => {
    if (TOKEN_IN_LOG.test(line)) leaks.push(line);
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let serving = false;
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      logs.push(line);
      if (TOKEN_IN_LOG.test(line)) leaks.push(line);
      try {
        const o = JSON.parse(line) as { msg?: string; port?: number };
        if (o.msg === "serving" && typeof o.port === "number") {
          serving = true;
          resolve(o.port);
        }
      } catch {
        // not JSON
      }
    });
    // A server that neither serves nor exits (a start-up that hangs, or a "serving" line this
    // helper does not recognise) is killed, so the test fails with its output instead of
    // timing out with the process and its data directory left behind.
    const deadline = setTimeout(() => {
      if (!serving) child.kill("SIGKILL");
    }, START_DEADLINE_MS);
    deadline.unref();
    void exited.then((code) => {
      clearTimeout(deadline);
      if (serving) return;
      // A directory made for this server goes with it when the server never served.
      if (opts.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
      reject(new Error(`server exited with ${code} before serving: ${stderr}`));
    });
  });
  let stopped: Promise<number | null> | null = null;
  const stop = (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    stopped ??= exited;
    return stopped;
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    child,
    logs,
    stderr: () => stderr,
    stop,
    async cleanup() {
      await stop("SIGTERM");
      if (!opts.keepData) rmSync(dataDir, { recursive: true, force: true });
      if (leaks.length > 0) throw new Error(`a token reached the server's log (${leaks.length} line(s)); first: ${leaks[0] ?? ""}`);
    },
  };
}

/** Connect clients over the gRPC protocol (HTTP/2). */
export function connectGrpc(port: number): ActionQueueClients {
  return createActionQueueClients(createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
}

/** Connect clients over the Connect protocol, JSON on HTTP/1.1. */
export function connectJson(port: number): ActionQueueClients {
  return createActionQueueClients(createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1", useBinaryFormat: false }));
}

/** The actionqueue.v1 services as @grpc/grpc-js clients built from the .proto files at run time. */
export interface GrpcJsClients {
  readonly tasks: grpc.Client & Record<string, grpc.MethodDefinition<unknown, unknown> | ((...a: unknown[]) => unknown)>;
  readonly runs: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  readonly workers: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  readonly admin: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  readonly health: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  close(): void;
}

let packageDefinition: protoLoader.PackageDefinition | undefined;

/** The loaded package definition (enums as strings, 64-bit numbers as strings, defaults filled). */
export function protoPackage(): protoLoader.PackageDefinition {
  packageDefinition ??= protoLoader.loadSync(
    ["actionqueue/v1/task_service.proto", "actionqueue/v1/run_service.proto", "actionqueue/v1/worker_service.proto", "actionqueue/v1/admin_service.proto", "grpc/health/v1/health.proto"],
    {
      includeDirs: [join(ROOT, "proto"), join(ROOT, "third_party/proto")],
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    },
  );
  return packageDefinition;
}

/** grpc-js clients for every service. */
export function grpcJs(port: number): GrpcJsClients {
  const pkg = grpc.loadPackageDefinition(protoPackage()) as unknown as {
    actionqueue: { v1: Record<string, grpc.ServiceClientConstructor> };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  const addr = `127.0.0.1:${port}`;
  const creds = grpc.credentials.createInsecure();
  const make = (ctor: grpc.ServiceClientConstructor | undefined) => {
    if (!ctor) throw new Error("service missing from the proto package");
    return new ctor(addr, creds) as never;
  };
  const clients = {
    tasks: make(pkg.actionqueue.v1.TaskService),
    runs: make(pkg.actionqueue.v1.RunService),
    workers: make(pkg.actionqueue.v1.WorkerService),
    admin: make(pkg.actionqueue.v1.AdminService),
    health: make(pkg.grpc.health.v1.Health),
  };
  return {
    ...clients,
    close() {
      for (const c of Object.values(clients)) (c as grpc.Client).close();
    },
  };
}

/** Calls a unary grpc-js method as a promise; rejects with the grpc.ServiceError. */
export function unary<T>(client: unknown, method: string, request: unknown, metadata = new grpc.Metadata()): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client as Record<string, (req: unknown, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r: T) => void) => void>)[method];
    if (!fn) throw new Error(`no method ${method}`);
    fn.call(client, request, metadata, (e, r) => (e ? reject(e) : resolve(r)));
  });
}

/**
 * Decodes the google.rpc.Status details a grpc-js error carries in `grpc-status-details-bin`:
 * the ErrorInfo reason/metadata and the BadRequest field violations.
 */
export async function grpcErrorDetails(e: grpc.ServiceError): Promise<{ reason?: string; metadata?: Record<string, string>; fields: string[] }> {
  const { fromBinary } = await import("@bufbuild/protobuf");
  const { StatusSchema } = await import("../../src/gen/google/rpc/status_pb.js");
  const { ErrorInfoSchema, BadRequestSchema } = await import("../../src/gen/google/rpc/error_details_pb.js");
  const bin = e.metadata.get("grpc-status-details-bin")[0];
  if (!bin) return { fields: [] };
  const status = fromBinary(StatusSchema, typeof bin === "string" ? Buffer.from(bin, "base64") : bin);
  const out: { reason?: string; metadata?: Record<string, string>; fields: string[] } = { fields: [] };
  for (const any of status.details) {
    if (any.typeUrl.endsWith("google.rpc.ErrorInfo")) {
      const info = fromBinary(ErrorInfoSchema, any.value);
      out.reason = info.reason;
      out.metadata = info.metadata;
    } else if (any.typeUrl.endsWith("google.rpc.BadRequest")) {
      out.fields = fromBinary(BadRequestSchema, any.value).fieldViolations.map((f) => f.field);
    }
  }
  return out;
}
