/**
 * AdminService.GetCaller through the wire, against real server processes: without an auth
 * file (auth disabled, every guarded method, no queue limit), and with
 * test/fixtures/auth/auth.json — a reader (reads only), submitters limited to queues (their
 * queues, sorted), a custom role (the methods its patterns name, plus GetCaller, which it does
 * not list), a limited admin — over gRPC (the direct unary path), Connect JSON on HTTP/1.1 and
 * Connect GET; a missing or unknown token is UNAUTHENTICATED as for every method. The methods
 * expected are spelled out here, not taken from the policy table.
 */
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ActionQueueClients, GetCallerResponse } from "../../clients/typescript/src/index.js";
import { AdminService } from "../../src/gen/actionqueue/v1/admin_service_pb.js";
import { RunService } from "../../src/gen/actionqueue/v1/run_service_pb.js";
import { TaskService } from "../../src/gen/actionqueue/v1/task_service_pb.js";
import { WorkerService } from "../../src/gen/actionqueue/v1/worker_service_pb.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { request } from "../support/http-answer.js";
import { type ServerProcess, connectGrpc, connectJson, startServer } from "../support/server.js";

const AUTH_FILE = join(import.meta.dirname, "../fixtures/auth/auth.json");
const tokenOf = (name: string) => `aq-test-${name}-token`;
const as = (name: string) => ({ headers: { authorization: `Bearer ${tokenOf(name)}` } });

const T = "actionqueue.v1.TaskService/";
const R = "actionqueue.v1.RunService/";
const A = "actionqueue.v1.AdminService/";
const REFLECTION = ["grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"];
const GET_CALLER = `${A}GetCaller`;

/** Every method of the four API services and both reflection services, from the descriptors. */
const EVERY_METHOD = [...[TaskService, RunService, WorkerService, AdminService].flatMap((s) => s.methods.map((m) => `${s.typeName}/${m.name}`)), ...REFLECTION].sort();

const READER = [`${T}GetTask`, `${T}ListTasks`, `${R}GetRun`, `${R}ListRuns`, `${R}ListAttempts`, `${R}WatchRuns`, `${A}GetStats`, `${A}GetConcurrencyKey`, `${A}ListConcurrencyKeys`, GET_CALLER, ...REFLECTION].sort();
const SUBMITTER = [`${T}SubmitTask`, `${T}BatchSubmitTasks`, `${T}GetTask`, `${T}ListTasks`, `${T}CancelTask`, `${R}GetRun`, `${R}ListRuns`, `${R}ListAttempts`, `${R}WatchRuns`, GET_CALLER, ...REFLECTION].sort();
/** The fixture's custom role "stats-reader": GetStats and RunService/*, and GetCaller unlisted. */
const STATS_READER = [`${A}GetStats`, ...RunService.methods.map((m) => `${R}${m.name}`), GET_CALLER].sort();

/** The fields of a GetCallerResponse. */
const view = (r: GetCallerResponse) => ({ authEnabled: r.authEnabled, name: r.name, role: r.role, methods: r.methods, queues: r.queues });

describe("GetCaller without an auth file", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.cleanup();
  });

  it("answers auth disabled, no name or role, every guarded method sorted, no queue limit (gRPC and Connect JSON)", async () => {
    expect(EVERY_METHOD).toHaveLength(31);
    const want = { authEnabled: false, name: "", role: "", methods: EVERY_METHOD, queues: [] };
    for (const c of [connectGrpc(server.port), connectJson(server.port)]) expect(view(await c.admin.getCaller({}))).toEqual(want);
  });

  it("answers a Connect GET (it is free of side effects)", async () => {
    const a = await request(server.port, "1.1", "GET", `/actionqueue.v1.AdminService/GetCaller?connect=v1&encoding=json&message=${encodeURIComponent("{}")}`);
    expect(a.status).toBe(200);
    const body = JSON.parse(a.body.toString()) as { authEnabled?: boolean; methods: string[] };
    expect(body.authEnabled).toBeUndefined(); // false: a default, left out of JSON
    expect(body.methods).toEqual(EVERY_METHOD);
  });
});

describe("GetCaller with an auth file", () => {
  let server: ServerProcess;
  let clients: ActionQueueClients[];
  beforeAll(async () => {
    server = await startServer({ args: ["--auth-file", AUTH_FILE, "--log-level", "debug"] });
    clients = [connectGrpc(server.port), connectJson(server.port)];
  });
  afterAll(async () => {
    await server?.cleanup();
  });

  /** The caller `name` is, the same over both protocols. */
  async function caller(name: string): Promise<ReturnType<typeof view>> {
    const [grpc, json] = await Promise.all(clients.map(async (c) => view(await c.admin.getCaller({}, as(name)))));
    expect(json).toEqual(grpc);
    if (!grpc) throw new Error("no answer");
    return grpc;
  }

  it("tells a reader it may call the reads only, on every queue", async () => {
    expect(await caller("reader")).toEqual({ authEnabled: true, name: "reader", role: "reader", methods: READER, queues: [] });
  });

  it("tells a submitter limited to queues its methods and its queues, sorted", async () => {
    expect(await caller("submitter-emails")).toEqual({ authEnabled: true, name: "submitter-emails", role: "submitter", methods: SUBMITTER, queues: ["emails"] });
    expect((await caller("submitter-multi")).queues).toEqual(["billing", "emails", "zeta"]);
  });

  it("tells a custom role the methods its patterns name, plus GetCaller, which it does not list", async () => {
    expect(await caller("stats")).toEqual({ authEnabled: true, name: "stats", role: "stats-reader", methods: STATS_READER, queues: [] });
  });

  it("answers an admin limited to a queue (GetCaller touches no queue)", async () => {
    expect(await caller("admin-elsewhere")).toEqual({ authEnabled: true, name: "admin-elsewhere", role: "admin", methods: EVERY_METHOD, queues: ["elsewhere"] });
    expect((await caller("admin")).queues).toEqual([]);
  });

  it("says what the server enforces: a reader's refused call is not among its methods", async () => {
    const reader = await caller("reader");
    expect(reader.methods).not.toContain(`${T}SubmitTask`);
    const e = await clients[0]!.tasks.submitTask({ spec: { queue: "q", payload: { data: new Uint8Array([1]), contentType: "application/octet-stream" } } }, as("reader")).catch((x: unknown) => ConnectError.from(x));
    expect(e).toBeInstanceOf(ConnectError);
    expect((e as ConnectError).code).toBe(Code.PermissionDenied);
  });

  it("refuses a missing or unknown token with UNAUTHENTICATED, naming the method", async () => {
    for (const c of clients) {
      for (const opts of [{}, as("nobody"), { headers: { authorization: "Bearer " } }]) {
        const e = await c.admin.getCaller({}, opts).then(
          () => null,
          (x: unknown) => ConnectError.from(x),
        );
        expect(e?.code).toBe(Code.Unauthenticated);
        expect(e?.findDetails(ErrorInfoSchema)[0]).toMatchObject({ reason: "UNAUTHENTICATED", metadata: { method: GET_CALLER } });
      }
    }
    // Connect GET with a token, and without one.
    const path = `/actionqueue.v1.AdminService/GetCaller?connect=v1&encoding=json&message=${encodeURIComponent("{}")}`;
    const ok = await request(server.port, "1.1", "GET", path, { authorization: `Bearer ${tokenOf("reader")}` });
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body.toString()) as { role: string }).role).toBe("reader");
    expect((await request(server.port, "1.1", "GET", path)).status).toBe(401);
  });

  it("never writes a token to its logs (debug level)", () => {
    const lines = [...server.logs, ...server.stderr().split("\n")];
    for (const name of ["reader", "submitter-emails", "submitter-multi", "stats", "admin-elsewhere", "admin"]) expect(lines.filter((l) => l.includes(tokenOf(name)))).toEqual([]);
  });
});
