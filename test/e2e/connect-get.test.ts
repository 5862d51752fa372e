/**
 * Connect GET (the Connect protocol's GET for methods free of side effects), against a real
 * server process:
 *  - exactly the nine reads are marked `idempotency_level = NO_SIDE_EFFECTS`;
 *  - each answers a GET (JSON and binary, HTTP/1.1 and HTTP/2) with what a POST answers, and
 *    connect-es clients with `useHttpGet` send those nine — and only those — as GET;
 *  - a GET of any other method is refused as connect-es refuses it, 405 Method Not Allowed,
 *    and does nothing;
 *  - admission: GETs take and give back their read slot (a long run of GETs under a read
 *    limit of 1 all succeed, on one kept-alive connection), and a GET is refused with
 *    RESOURCE_EXHAUSTED (OVERLOADED) while the read class is full.
 */
import http from "node:http";
import net from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService, GetStatsRequestSchema, GetStatsResponseSchema } from "../../src/gen/actionqueue/v1/admin_service_pb.js";
import { RunService } from "../../src/gen/actionqueue/v1/run_service_pb.js";
import { TaskService } from "../../src/gen/actionqueue/v1/task_service_pb.js";
import { WorkerService } from "../../src/gen/actionqueue/v1/worker_service_pb.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { type Answer, type HttpVersion, request as send, until } from "../support/http-answer.js";
import { type ServerProcess, startServer } from "../support/server.js";

const SERVICES = [TaskService, RunService, WorkerService, AdminService];
const READS = ["GetStats", "GetConcurrencyKey", "ListConcurrencyKeys", "GetCaller", "GetRun", "ListRuns", "ListAttempts", "GetTask", "ListTasks"];

const http1Agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** One request; HTTP/1.1 ones share `http1Agent`'s kept-alive connection. */
function request(port: number, version: HttpVersion, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return send(port, version, method, path, headers, body, http1Agent);
}

const getPath = (method: string, json: unknown) => `/${serviceOf(method)}/${method}?connect=v1&encoding=json&message=${encodeURIComponent(JSON.stringify(json))}`;

function serviceOf(method: string): string {
  const s = SERVICES.find((svc) => svc.methods.some((m) => m.name === method));
  if (!s) throw new Error(`no method ${method}`);
  return s.typeName;
}

const submitJson = (queue: string, taskId?: string) => ({ ...(taskId ? { taskId } : {}), spec: { queue, payload: { data: "e30=", contentType: "application/json" } } });

describe("which methods are free of side effects", () => {
  it("marks exactly the nine reads NO_SIDE_EFFECTS, in the descriptors both server and clients use", () => {
    const marked = SERVICES.flatMap((s) => s.methods.filter((m) => m.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS).map((m) => m.name));
    expect(marked.sort()).toEqual([...READS].sort());
  });
});

describe("Connect GET", () => {
  let server: ServerProcess;
  let taskId: string;
  let runId: string;
  beforeAll(async () => {
    server = await startServer();
    const submitted = await request(server.port, "1.1", "POST", "/actionqueue.v1.TaskService/SubmitTask", { "content-type": "application/json" }, JSON.stringify(submitJson("get-reads")));
    const json = JSON.parse(submitted.body.toString()) as { task: { id: string }; runs: Array<{ id: string }> };
    taskId = json.task.id;
    runId = json.runs[0]?.id as string;
  });
  afterAll(async () => {
    // Kept-alive connections first: the server waits for them at shutdown.
    http1Agent.destroy();
    await server.cleanup();
  });

  const requests = (): Array<[string, unknown]> => [
    ["GetTask", { taskId }],
    ["ListTasks", { queue: "get-reads" }],
    ["GetRun", { runId }],
    ["ListRuns", { taskId }],
    ["ListAttempts", { runId }],
    ["GetConcurrencyKey", { key: "some-key" }],
    ["ListConcurrencyKeys", {}],
    ["GetStats", {}],
    ["GetCaller", {}],
  ];

  it.each(["1.1", "2"] as const)("answers each of the nine reads over GET as over POST (JSON, HTTP/%s)", async (version) => {
    expect(requests().map(([m]) => m).sort()).toEqual([...READS].sort());
    for (const [method, json] of requests()) {
      const get = await request(server.port, version, "GET", getPath(method, json));
      expect(get.status, method).toBe(200);
      expect(get.headers["content-type"], method).toBe("application/json");
      const post = await request(server.port, version, "POST", `/${serviceOf(method)}/${method}`, { "content-type": "application/json" }, JSON.stringify(json));
      expect(post.status, method).toBe(200);
      const got = JSON.parse(get.body.toString()) as Record<string, unknown>;
      const posted = JSON.parse(post.body.toString()) as Record<string, unknown>;
      // GetStats reports the store's size, which may move between two calls.
      if (method === "GetStats") {
        delete got.storageBytes;
        delete posted.storageBytes;
      }
      expect(got, method).toEqual(posted);
    }
    const task = JSON.parse((await request(server.port, version, "GET", getPath("GetTask", { taskId }))).body.toString()) as { task: { id: string } };
    expect(task.task.id).toBe(taskId);
  });

  it("answers a binary GET (encoding=proto, base64 message)", async () => {
    const message = Buffer.from(toBinary(GetStatsRequestSchema, create(GetStatsRequestSchema, {}))).toString("base64url");
    const a = await request(server.port, "1.1", "GET", `/actionqueue.v1.AdminService/GetStats?connect=v1&encoding=proto&base64=1&message=${message}`);
    expect(a.status).toBe(200);
    expect(a.headers["content-type"]).toBe("application/proto");
    expect(fromBinary(GetStatsResponseSchema, a.body).tasks).toBeGreaterThanOrEqual(1n);
  });

  it("is what connect-es clients with useHttpGet send for the reads, and only for them", async () => {
    // The transport turns POST into GET after the interceptors, so what went on the wire is
    // seen by a recording proxy in front of the server.
    const seen: Array<[string, string]> = [];
    const proxy = http.createServer((req, res) => {
      seen.push([req.method ?? "", (req.url ?? "").split("?")[0]?.split("/").pop() ?? ""]);
      const upstream = http.request({ host: "127.0.0.1", port: server.port, method: req.method, path: req.url, headers: req.headers, agent: false }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on("error", () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = proxy.address() as net.AddressInfo;
      const transport = createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1", useHttpGet: true });
      const tasks = createClient(TaskService, transport);
      const runs = createClient(RunService, transport);
      const admin = createClient(AdminService, transport);
      const submitted = await tasks.submitTask({ spec: { queue: "get-client", payload: { data: new Uint8Array([1]), contentType: "application/octet-stream" } } });
      const id = submitted.task?.id as string;
      expect((await tasks.getTask({ taskId: id })).task?.id).toBe(id);
      expect((await runs.listRuns({ taskId: id })).runs.map((r) => r.id)).toEqual(submitted.runs.map((r) => r.id));
      expect((await admin.getStats({})).queues.some((q) => q.queue?.name === "get-client")).toBe(true);
      await runs.cancelRun({ runId: submitted.runs[0]?.id as string });
      expect(seen).toEqual([
        ["POST", "SubmitTask"],
        ["GET", "GetTask"],
        ["GET", "ListRuns"],
        ["GET", "GetStats"],
        ["POST", "CancelRun"],
      ]);
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it.each(["1.1", "2"] as const)("refuses a GET of every other method with 405, and does nothing (HTTP/%s)", async (version) => {
    const others = SERVICES.flatMap((s) => s.methods.filter((m) => m.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS).map((m) => m.name));
    expect(others).toContain("WatchRuns");
    expect(others.length).toBe(SERVICES.reduce((n, s) => n + s.methods.length, 0) - READS.length);
    for (const method of others) {
      const a = await request(server.port, version, "GET", getPath(method, {}));
      expect(a.status, method).toBe(405);
    }
    // A complete, valid SubmitTask as a GET: refused, and no task was created.
    const id = "01890000-0000-7000-8000-0000000000aa";
    const refused = await request(server.port, version, "GET", getPath("SubmitTask", submitJson("get-refused", id)));
    expect(refused.status).toBe(405);
    const after = await request(server.port, version, "GET", getPath("GetTask", { taskId: id }));
    expect(after.status).toBe(404);
    expect((JSON.parse(after.body.toString()) as { code: string }).code).toBe("not_found");
  });
});

/** Takes a read slot and holds it: a Connect POST whose body never completes (see cors.test.ts). */
async function holdReadSlot(port: number): Promise<() => void> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.write("POST /actionqueue.v1.AdminService/GetStats HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{");
  return () => socket.destroy();
}

function errorReason(a: Answer): { code: string; reason: string | undefined; limit: string | undefined } {
  const json = JSON.parse(a.body.toString()) as { code: string; details?: Array<{ type: string; value: string }> };
  const info = json.details?.find((d) => d.type === "google.rpc.ErrorInfo");
  const decoded = info ? fromBinary(ErrorInfoSchema, Buffer.from(info.value, "base64")) : undefined;
  return { code: json.code, reason: decoded?.reason, limit: decoded?.metadata.limit };
}

describe("Connect GET and admission", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ args: ["--max-inflight-reads", "1", "--stall-timeout", "10m"] });
  });
  afterAll(async () => {
    http1Agent.destroy();
    await server.cleanup();
  });

  it("gives each GET's read slot back: 50 GETs under a read limit of 1 all succeed on one kept-alive connection", async () => {
    const sockets = new Set<unknown>();
    for (let i = 0; i < 50; i++) {
      const a = await new Promise<Answer>((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port: server.port, path: getPath("GetStats", {}), agent: http1Agent }, (res) => {
          sockets.add(res.socket);
          const parts: Buffer[] = [];
          res.on("data", (c: Buffer) => parts.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
        });
        req.on("error", reject);
        req.end();
      });
      expect(a.status, `GET ${i}`).toBe(200);
      expect(a.headers.connection, `GET ${i}`).not.toBe("close");
    }
    expect(sockets.size).toBe(1);
    for (let i = 0; i < 20; i++) expect((await request(server.port, "2", "GET", getPath("ListRuns", {}))).status).toBe(200);
  });

  it.each(["1.1", "2"] as const)("refuses a GET with RESOURCE_EXHAUSTED while the read class is full, and serves it once freed (HTTP/%s)", async (version) => {
    const release = await holdReadSlot(server.port);
    let refused: Answer;
    try {
      refused = await until(() => request(server.port, version, "GET", getPath("GetStats", {})), 429);
    } finally {
      release();
    }
    expect(refused.status).toBe(429);
    expect(errorReason(refused)).toEqual({ code: "resource_exhausted", reason: "OVERLOADED", limit: "max_inflight_read" });
    const served = await until(() => request(server.port, version, "GET", getPath("GetStats", {})), 200);
    expect(served.status).toBe(200);
  });
});
