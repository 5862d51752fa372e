/**
 * Errors raised below the services — oversized messages, bodies that do not parse, unknown
 * JSON fields — carry ErrorInfo on every protocol, unparseable input is INVALID_ARGUMENT,
 * and an oversized message does not break the connection it came on. Also: field paths keep
 * the caller's list indexes, and batch completions validate every item before applying any.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createActionQueueClients } from "../../clients/typescript/src/index.js";
import { BadRequestSchema, ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { connectGrpc, connectJson, type ServerProcess, startServer } from "../support/server.js";

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.cleanup();
});

const small = { data: new Uint8Array([1]), contentType: "application/octet-stream" };
const huge = { data: new Uint8Array(5 * 1024 * 1024), contentType: "application/octet-stream" };

async function errorOf(p: Promise<unknown>): Promise<ConnectError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ConnectError);
  return e as ConnectError;
}

function post(path: string, contentType: string, body: Buffer | string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: server.port, path, method: "POST", headers: { "content-type": contentType }, timeout: 10_000 }, (res) => {
      let data = "";
      res.on("data", (d) => (data += String(d)));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function connectErrorInfo(json: { details?: Array<{ type: string; value: string }> }): { reason: string } | undefined {
  const d = json.details?.find((x) => x.type === "google.rpc.ErrorInfo");
  if (!d) return undefined;
  // reason is field 1 (a string) of the binary ErrorInfo.
  const bytes = Buffer.from(d.value, "base64");
  const len = bytes[1] as number;
  return { reason: bytes.subarray(2, 2 + len).toString("utf8") };
}

describe("oversized messages", () => {
  it.each([
    ["gRPC", () => connectGrpc(server.port)],
    ["Connect JSON", () => connectJson(server.port)],
    ["gRPC-Web", () => createActionQueueClients(createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" }))],
  ])("are refused with RESOURCE_EXHAUSTED and ErrorInfo MESSAGE_TOO_LARGE over %s", async (_name, make) => {
    const e = await errorOf(make().tasks.submitTask({ spec: { queue: "big", payload: huge } }));
    expect(e.code).toBe(Code.ResourceExhausted);
    const info = e.findDetails(ErrorInfoSchema)[0];
    expect(info).toMatchObject({ reason: "MESSAGE_TOO_LARGE", domain: "actionqueue.v1" });
    expect(info?.metadata.limit_bytes).toBe(String(4 * 1024 * 1024));
  });

  it("leave the HTTP/2 connection usable for the calls that follow", async () => {
    // Node's HTTP/2 client accounts its own queued upload against maxSessionMemory (10 MB by
    // default), so repeated 5 MiB uploads need a larger allowance on the client side.
    const c = createActionQueueClients(createGrpcTransport({ baseUrl: server.url, nodeOptions: { maxSessionMemory: 64 } }));
    for (let i = 0; i < 4; i++) {
      const e = await errorOf(c.tasks.submitTask({ spec: { queue: "big", payload: huge } }));
      expect(e.code).toBe(Code.ResourceExhausted);
      const ok = await c.tasks.submitTask({ spec: { queue: "after-big", payload: small } });
      expect(ok.created).toBe(true);
    }
    const stats = await c.admin.getStats({ queues: ["big", "after-big"] });
    expect(stats.queues.map((q) => [q.queue?.name, q.runs?.ready])).toEqual([
      ["after-big", 4n],
      ["big", 0n],
    ]);
  });

  it("leave an HTTP/1.1 client able to go on (the refused connection is closed, not reused mid-body)", async () => {
    const c = connectJson(server.port);
    for (let i = 0; i < 3; i++) {
      const e = await errorOf(c.tasks.submitTask({ spec: { queue: "big-h1", payload: huge } }));
      expect(e.code).toBe(Code.ResourceExhausted);
      // A connection reused mid-body would hang; the deadline turns such a hang into a failure
      // (and is generous: it bounds a hang, not the machine's speed).
      const ok = await c.tasks.submitTask({ spec: { queue: "after-big-h1", payload: small } }, { timeoutMs: 30_000 });
      expect(ok.created).toBe(true);
    }
  });
});

describe("the rest of a refused HTTP/1.1 upload", () => {
  it("is read and discarded only within bounds: a client that never stops sending is cut off after the answer", async () => {
    const socket = net.connect({ port: server.port, host: "127.0.0.1", allowHalfOpen: true });
    let response = "";
    let answered!: () => void;
    const answer = new Promise<void>((resolve) => (answered = resolve));
    socket.on("data", (d: Buffer) => {
      response += d.toString("latin1");
      if (response.includes("\r\n0\r\n\r\n")) answered(); // the last chunk of the answer
    });
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.on("error", () => {}); // the reset that ends the upload
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    // A gRPC-Web call announcing a 100 MiB message: refused from its length prefix.
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(100 * 1024 * 1024, 1);
    socket.write("POST /actionqueue.v1.TaskService/SubmitTask HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc-web+proto\r\nTransfer-Encoding: chunked\r\n\r\n");
    socket.write(Buffer.concat([Buffer.from("5\r\n"), prefix, Buffer.from("\r\n")]));
    await answer;
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    expect(response.toLowerCase()).toContain("connection: close");
    expect(response).toContain("grpc-status: 8");
    // Then keep sending for good: the server reads on only so far, then closes.
    const chunk = Buffer.concat([Buffer.from(`${(64 * 1024).toString(16)}\r\n`), Buffer.alloc(64 * 1024), Buffer.from("\r\n")]);
    const pump = () => {
      while (!socket.destroyed && socket.write(chunk));
      if (!socket.destroyed) socket.once("drain", pump);
    };
    pump();
    await closed;
  });
});

describe("bodies that do not parse", () => {
  it("are INVALID_ARGUMENT with ErrorInfo MALFORMED_MESSAGE over Connect binary (HTTP/1.1)", async () => {
    const r = await post("/actionqueue.v1.TaskService/SubmitTask", "application/proto", Buffer.from([0xff, 0xff, 0xff]));
    expect(r.status).toBe(400);
    const json = JSON.parse(r.body) as { code: string; details?: Array<{ type: string; value: string }> };
    expect(json.code).toBe("invalid_argument");
    expect(connectErrorInfo(json)?.reason).toBe("MALFORMED_MESSAGE");
  });

  it("are INVALID_ARGUMENT with ErrorInfo MALFORMED_MESSAGE for malformed JSON and unknown JSON fields, and store nothing", async () => {
    const before = await connectGrpc(server.port).admin.getStats({});
    for (const body of ["{not json", '{"spec": {"queue": "x", "payload": {}}, "nonsense": 1}']) {
      const r = await post("/actionqueue.v1.TaskService/SubmitTask", "application/json", body);
      expect(r.status).toBe(400);
      const json = JSON.parse(r.body) as { code: string; details?: Array<{ type: string; value: string }> };
      expect(json.code).toBe("invalid_argument");
      expect(connectErrorInfo(json)?.reason).toBe("MALFORMED_MESSAGE");
    }
    const after = await connectGrpc(server.port).admin.getStats({});
    expect(after.revision).toBe(before.revision);
    expect(after.tasks).toBe(before.tasks);
  });

  it("are INVALID_ARGUMENT with MALFORMED_MESSAGE in grpc-status-details-bin over gRPC", async () => {
    const session = http2.connect(server.url);
    try {
      const { status, details } = await new Promise<{ status: string | undefined; details: string | undefined }>((resolve, reject) => {
        const s = session.request({ ":method": "POST", ":path": "/actionqueue.v1.RunService/GetRun", "content-type": "application/grpc", te: "trailers" });
        let status: string | undefined;
        let details: string | undefined;
        const read = (h: http2.IncomingHttpHeaders) => {
          status ??= h["grpc-status"] as string | undefined;
          details ??= h["grpc-status-details-bin"] as string | undefined;
        };
        s.on("response", read);
        s.on("trailers", read);
        s.on("data", () => {});
        s.on("end", () => resolve({ status, details }));
        s.on("error", reject);
        const msg = Buffer.from([0xff, 0xff, 0xff]);
        const frame = Buffer.alloc(5 + msg.length);
        frame.writeUInt32BE(msg.length, 1);
        msg.copy(frame, 5);
        s.end(frame);
      });
      expect(status).toBe("3");
      expect(Buffer.from(details ?? "", "base64").toString("latin1")).toContain("MALFORMED_MESSAGE");
    } finally {
      session.close();
    }
  });

  it("end a Connect server stream with invalid_argument and ErrorInfo", async () => {
    const frame = Buffer.alloc(8);
    frame.writeUInt32BE(3, 1);
    Buffer.from([0xff, 0xff, 0xff]).copy(frame, 5);
    const r = await new Promise<Buffer>((resolve, reject) => {
      const req = http.request(
        { host: "127.0.0.1", port: server.port, path: "/actionqueue.v1.RunService/WatchRuns", method: "POST", headers: { "content-type": "application/connect+proto" }, timeout: 10_000 },
        (res) => {
          const parts: Buffer[] = [];
          res.on("data", (d: Buffer) => parts.push(d));
          res.on("end", () => resolve(Buffer.concat(parts)));
        },
      );
      req.on("error", reject);
      req.end(frame);
    });
    expect(r[0]).toBe(0x02); // end-stream envelope
    const end = JSON.parse(r.subarray(5).toString("utf8")) as { error: { code: string; details?: Array<{ type: string; value: string }> } };
    expect(end.error.code).toBe("invalid_argument");
    expect(connectErrorInfo(end.error)?.reason).toBe("MALFORMED_MESSAGE");
  });
});

describe("field paths and batch validation", () => {
  it.each([
    [["gpu", ""], 1],
    [["b", "a b"], 1],
    [["x", "x", "bad one"], 2],
  ])("name the caller's index in required_capabilities %j", async (caps, index) => {
    const e = await errorOf(connectGrpc(server.port).tasks.submitTask({ spec: { queue: "caps", payload: small, constraints: { requiredCapabilities: caps } } }));
    expect(e.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field)).toEqual([`spec.constraints.required_capabilities[${index}]`]);
  });

  it("refuse a BatchCompleteAttempts whose item breaks a limit as a whole, naming the item's field, applying nothing", async () => {
    const c = connectGrpc(server.port);
    await c.tasks.batchSubmitTasks({ tasks: [{ spec: { queue: "bc", payload: small } }, { spec: { queue: "bc", payload: small } }] });
    const leased = await c.workers.leaseRuns({ queues: ["bc"], workerId: "w", maxRuns: 2, startAttempt: true });
    expect(leased.runs).toHaveLength(2);
    const [a, b] = leased.runs;
    if (!a?.run || !a.attempt || !b?.run || !b.attempt) throw new Error("no runs");
    const e = await errorOf(
      c.workers.batchCompleteAttempts({
        completions: [
          { runId: a.run.id, leaseToken: a.leaseToken, attemptId: a.attempt.id, outcome: 1 },
          { runId: b.run.id, leaseToken: b.leaseToken, attemptId: b.attempt.id, outcome: 3, error: "x".repeat(70_000) },
        ],
      }),
    );
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field)).toEqual(["completions[1].error"]);
    expect((await c.runs.getRun({ runId: a.run.id })).run?.state).toBe(4); // still RUNNING
  });
});
