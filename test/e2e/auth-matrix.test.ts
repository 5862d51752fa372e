/**
 * The auth matrix (issue 11, SPEC §12): every method of every guarded service, enumerated
 * from the generated descriptors, × every kind of credential (none, empty bearer, malformed
 * header, unknown token, each built-in role, a custom role, an admin limited to another
 * queue) × gRPC (HTTP/2: the direct unary path, connect-es for streams), gRPC-Web and
 * Connect JSON — unary, server streaming (WatchRuns) and bidi (reflection) — against one
 * real server with test/fixtures/auth/auth.json. Each outcome is compared with what the
 * policy table (src/server/auth/policy.ts) says; refusals carry ErrorInfo naming the method.
 * The server runs at debug level, and no line it writes may contain a token.
 */
import { join } from "node:path";
import { create, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { TaskService } from "../../src/gen/actionqueue/v1/task_service_pb.js";
import { AdminService } from "../../src/gen/actionqueue/v1/admin_service_pb.js";
import { GUARDED_SERVICES, METHOD_POLICY, builtinMethods, expandPattern, type BuiltinRole } from "../../src/server/auth/policy.js";
import { type ServerProcess, startServer } from "../support/server.js";

const AUTH_FILE = join(import.meta.dirname, "../fixtures/auth/auth.json");
/** The token of a fixture entry (the file holds its digest). */
const tokenOf = (name: string) => `aq-test-${name}-token`;

interface Credential {
  readonly label: string;
  /** The authorization header sent (undefined: none). */
  readonly header: string | undefined;
  /** The methods it may call (null: not authenticated). */
  readonly methods: ReadonlySet<string> | null;
  readonly limited: boolean;
}

const role = (name: string, r: BuiltinRole): Credential => ({ label: name, header: `Bearer ${tokenOf(name)}`, methods: builtinMethods(r), limited: false });
const CREDENTIALS: readonly Credential[] = [
  { label: "no header", header: undefined, methods: null, limited: false },
  { label: "empty bearer", header: "Bearer ", methods: null, limited: false },
  { label: "malformed header", header: `Basic ${tokenOf("admin")}`, methods: null, limited: false },
  { label: "unknown token", header: `Bearer ${tokenOf("nobody")}`, methods: null, limited: false },
  role("admin", "admin"),
  role("worker", "worker"),
  role("submitter", "submitter"),
  role("reader", "reader"),
  // Its patterns, plus GetCaller: every valid token may call it, listed or not.
  {
    label: "stats (custom role)",
    header: `Bearer ${tokenOf("stats")}`,
    methods: new Set([...(expandPattern("actionqueue.v1.AdminService/GetStats") ?? []), ...(expandPattern("actionqueue.v1.RunService/*") ?? []), "actionqueue.v1.AdminService/GetCaller"]),
    limited: false,
  },
  { label: "admin limited to another queue", header: `Bearer ${tokenOf("admin-elsewhere")}`, methods: builtinMethods("admin"), limited: true },
];

type Outcome = "allowed" | "UNAUTHENTICATED" | "PERMISSION_DENIED";

/** What the policy table says: every request below touches queue "main" (or names nothing). */
function expected(c: Credential, method: string): Outcome {
  if (c.methods === null) return "UNAUTHENTICATED";
  if (!c.methods.has(method)) return "PERMISSION_DENIED";
  if (c.limited && METHOD_POLICY[method]?.scope !== "none") return "PERMISSION_DENIED";
  return "allowed";
}

const QUEUE = "main";

/** A request for each method, touching queue QUEUE through a real task and run. */
function requests(taskId: string, runId: string): Record<string, object> {
  const spec = { queue: QUEUE, payload: { data: new Uint8Array([1]), contentType: "application/octet-stream" } };
  const lease = { runId, leaseToken: "00000000-0000-7000-8000-000000000000" };
  const complete = { ...lease, attemptId: "00000000-0000-7000-8000-000000000001", outcome: 1 };
  const T = "actionqueue.v1.TaskService/";
  const R = "actionqueue.v1.RunService/";
  const W = "actionqueue.v1.WorkerService/";
  const A = "actionqueue.v1.AdminService/";
  return {
    [`${T}SubmitTask`]: { spec },
    [`${T}BatchSubmitTasks`]: { tasks: [{ spec }] },
    [`${T}GetTask`]: { taskId },
    [`${T}ListTasks`]: { queue: QUEUE },
    [`${T}CancelTask`]: { taskId },
    [`${R}GetRun`]: { runId },
    [`${R}ListRuns`]: { queue: QUEUE },
    [`${R}ListAttempts`]: { runId },
    [`${R}CancelRun`]: { runId },
    [`${R}SuspendRun`]: { runId },
    [`${R}ResumeRun`]: { runId },
    [`${R}SetRunPriority`]: { runId, priority: 1 },
    [`${R}WatchRuns`]: { queues: [QUEUE], startRevision: 1n, progressIntervalMs: 100 },
    [`${W}LeaseRuns`]: { queues: [QUEUE], workerId: "matrix", maxRuns: 1 },
    [`${W}StartAttempt`]: lease,
    [`${W}Heartbeat`]: lease,
    [`${W}BatchHeartbeat`]: { heartbeats: [lease] },
    [`${W}CompleteAttempt`]: complete,
    [`${W}BatchCompleteAttempts`]: { completions: [complete] },
    [`${W}ReleaseLease`]: lease,
    [`${A}PauseEngine`]: {},
    [`${A}ResumeEngine`]: {},
    [`${A}PauseQueue`]: { queue: QUEUE },
    [`${A}ResumeQueue`]: { queue: QUEUE },
    [`${A}SetQueueRateLimit`]: { queue: QUEUE, runsPerSecond: 1000, burst: 10 },
    [`${A}GetStats`]: { queues: [QUEUE] },
    [`${A}GetConcurrencyKey`]: { key: "k" },
    [`${A}ListConcurrencyKeys`]: {},
    [`${A}GetCaller`]: {},
    ["grpc.reflection.v1.ServerReflection/ServerReflectionInfo"]: { listServices: "" },
    ["grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"]: { listServices: "" },
  };
}

interface Protocol {
  readonly name: string;
  /** Unary and server streaming. */
  readonly transport: Transport;
  /** Bidi streaming (needs HTTP/2). */
  readonly bidi: Transport;
}

type Caller = (req: unknown, opts: { headers: Record<string, string>; signal: AbortSignal }) => unknown;

/** Calls `method` and returns its code ("OK" or the Code name) and the ErrorInfo of a failure. */
async function call(transport: Transport, service: DescService, method: DescMethod, init: object, header: string | undefined): Promise<{ code: string; reason?: string; metadata?: Record<string, string>; message?: string }> {
  const client = createClient(service, transport) as unknown as Record<string, Caller>;
  const fn = client[method.localName] as Caller;
  const headers: Record<string, string> = header === undefined ? {} : { authorization: header };
  const ctrl = new AbortController();
  const input = create(method.input, init as never);
  try {
    if (method.methodKind === "unary") await fn(input, { headers, signal: ctrl.signal });
    else {
      const req = method.methodKind === "bidi_streaming" ? (async function* () { yield input; })() : input;
      const stream = fn(req, { headers, signal: ctrl.signal }) as AsyncIterable<unknown>;
      // The first message proves the call was let through (history replay, reflection's answer).
      for await (const _ of stream) break;
      ctrl.abort();
    }
    return { code: "OK" };
  } catch (e) {
    const ce = ConnectError.from(e);
    const info = ce.findDetails(ErrorInfoSchema)[0];
    return { code: Code[ce.code], ...(info ? { reason: info.reason, metadata: info.metadata } : {}), message: ce.rawMessage };
  }
}

describe("auth matrix", () => {
  let server: ServerProcess;
  let protocols: Protocol[];
  let reqs: Record<string, object>;

  beforeAll(async () => {
    server = await startServer({ args: ["--auth-file", AUTH_FILE, "--log-level", "debug"] });
    const baseUrl = server.url;
    protocols = [
      { name: "gRPC", transport: createGrpcTransport({ baseUrl }), bidi: createGrpcTransport({ baseUrl }) },
      { name: "gRPC-Web", transport: createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }), bidi: createGrpcWebTransport({ baseUrl, httpVersion: "2" }) },
      { name: "Connect", transport: createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }), bidi: createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false }) },
    ];
    // A task and its run in queue "main", created by the admin token.
    const admin = createClient(TaskService, protocols[0]!.transport);
    const r = await admin.submitTask({ spec: { queue: QUEUE, payload: { data: new Uint8Array([1]), contentType: "application/octet-stream" } } }, { headers: { authorization: `Bearer ${tokenOf("admin")}` } });
    reqs = requests(r.task?.id ?? "", r.runs[0]?.id ?? "");
  });

  afterAll(async () => {
    await server?.cleanup();
  });

  it("answers every method × credential × protocol as the policy table says", async () => {
    const counts = { combinations: 0, allowed: 0, UNAUTHENTICATED: 0, PERMISSION_DENIED: 0 };
    const mismatches: string[] = [];
    for (const p of protocols) {
      for (const service of GUARDED_SERVICES) {
        for (const method of service.methods) {
          const name = `${service.typeName}/${method.name}`;
          const init = reqs[name];
          if (!init) throw new Error(`no request for ${name}`);
          for (const c of CREDENTIALS) {
            const want = expected(c, name);
            const got = await call(method.methodKind === "bidi_streaming" ? p.bidi : p.transport, service, method, init, c.header);
            counts.combinations++;
            counts[want]++;
            const outcome: Outcome = got.code === "Unauthenticated" ? "UNAUTHENTICATED" : got.code === "PermissionDenied" ? "PERMISSION_DENIED" : "allowed";
            const where = `${p.name} ${name} with ${c.label}`;
            if (outcome !== want) mismatches.push(`${where}: expected ${want}, got ${got.code} ${got.message ?? ""}`);
            else if (outcome !== "allowed") {
              // ErrorInfo with the reason and the method; never the token.
              if (got.reason !== want || got.metadata?.method !== name) mismatches.push(`${where}: ErrorInfo ${got.reason} ${JSON.stringify(got.metadata)}`);
              if (c.header && `${got.message}${JSON.stringify(got.metadata)}`.includes(c.header.replace(/^\S+ /, "")) && c.header !== "Bearer ") mismatches.push(`${where}: the error names the token`);
            }
          }
        }
      }
      // The admin's PauseEngine / PauseQueue of this round are undone for the next protocol.
      const admin = createClient(AdminService, p.transport);
      const headers = { authorization: `Bearer ${tokenOf("admin")}` };
      await admin.resumeEngine({}, { headers });
      await admin.resumeQueue({ queue: QUEUE }, { headers });
    }
    console.log(`auth matrix: ${counts.combinations} combinations, ${counts.allowed} allowed, ${counts.UNAUTHENTICATED} UNAUTHENTICATED, ${counts.PERMISSION_DENIED} PERMISSION_DENIED`);
    expect(mismatches).toEqual([]);
    expect(counts.combinations).toBe(31 * CREDENTIALS.length * 3);
  });

  it("keeps grpc.health.v1.Health open", async () => {
    const { Health } = await import("../../src/gen/grpc/health/v1/health_pb.js");
    for (const p of protocols) {
      const r = await createClient(Health, p.transport).check({ service: "" });
      expect(r.status).toBe(1); // SERVING
    }
  });

  it("refuses a worker call without a token on the direct unary path too (grpc-js)", async () => {
    const { grpcJs, unary, grpcErrorDetails } = await import("../support/server.js");
    const c = grpcJs(server.port);
    try {
      const e = await unary(c.workers, "leaseRuns", { queues: [QUEUE], workerId: "w", maxRuns: 1 }).catch((x: unknown) => x);
      expect((e as { code: number }).code).toBe(Code.Unauthenticated);
      expect((await grpcErrorDetails(e as never)).reason).toBe("UNAUTHENTICATED");
    } finally {
      c.close();
    }
  });

  it("never writes a token to its logs (debug level, the whole suite)", () => {
    const lines = [...server.logs, ...server.stderr().split("\n")];
    expect(lines.some((l) => l.includes('"msg":"rpc failed"'))).toBe(true);
    for (const c of CREDENTIALS) {
      if (!c.header || c.header === "Bearer ") continue;
      const token = c.header.replace(/^\S+ /, "");
      expect(lines.filter((l) => l.includes(token))).toEqual([]);
    }
    expect(lines.filter((l) => /authorization/i.test(l))).toEqual([]);
  });
});
