/**
 * Protocol details at the edge (src/server/adapter.ts), against a real server process:
 *  - an unknown method answers UNIMPLEMENTED (grpc-status 12) over gRPC and gRPC-Web, and
 *    404 with a Connect error body over Connect;
 *  - a deadline that is already over (`grpc-timeout: 0m`, `1n`, `connect-timeout-ms: 0`)
 *    fails DEADLINE_EXCEEDED and the call is not worked on;
 *  - oversized request headers: 431 over HTTP/1.1; over HTTP/2 the stream (or connection)
 *    is refused — RST_STREAM or GOAWAY is what HTTP/2 allows once the header block is
 *    refused — and the server goes on serving;
 *  - a burst of 500 concurrent calls leaves no MaxListenersExceededWarning on stderr.
 */
import { randomUUID } from "node:crypto";
import http2 from "node:http2";
import net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetTaskRequestSchema, SubmitTaskRequestSchema } from "../../clients/typescript/src/index.js";
import { Code } from "@connectrpc/connect";
import { connectGrpc, connectJson, type ServerProcess, startServer } from "../support/server.js";

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.cleanup();
});

function envelope(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.byteLength);
  out.writeUInt32BE(message.byteLength, 1);
  out.set(message, 5);
  return out;
}

interface GrpcAnswer {
  readonly status: string | undefined;
  readonly httpStatus: number | undefined;
  readonly rstCode: number | undefined;
  readonly error: string | undefined;
}

/** One gRPC call over a fresh HTTP/2 connection with a raw client; the status from headers or trailers. */
async function rawGrpc(path: string, message: Uint8Array, headers: Record<string, string> = {}, warmUp = false): Promise<GrpcAnswer> {
  const session = http2.connect(server.url);
  session.on("error", () => undefined);
  try {
    // A first call on the connection: by its answer the client has acknowledged the server's
    // SETTINGS, which nghttp2 applies to incoming header blocks only once acknowledged.
    if (warmUp) await call(session, "/grpc.health.v1.Health/Check", new Uint8Array(), {});
    return await call(session, path, message, headers);
  } finally {
    session.destroy();
  }
}

function call(session: http2.ClientHttp2Session, path: string, message: Uint8Array, headers: Record<string, string>): Promise<GrpcAnswer> {
  return new Promise<GrpcAnswer>((resolve) => {
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    let status: string | undefined;
    let httpStatus: number | undefined;
    let error: string | undefined;
    req.on("response", (h) => {
      httpStatus = Number(h[":status"]);
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
    });
    req.on("trailers", (h) => {
      status = String(h["grpc-status"]);
    });
    req.on("error", (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    req.on("close", () => resolve({ status, httpStatus, rstCode: req.rstCode, error }));
    req.resume();
    req.end(envelope(message));
  });
}

const submit = (taskId: string) => toBinary(SubmitTaskRequestSchema, create(SubmitTaskRequestSchema, { taskId, spec: { queue: "deadlines", payload: { data: new Uint8Array([1]), contentType: "application/octet-stream" } } }));
const getTask = (taskId: string) => toBinary(GetTaskRequestSchema, create(GetTaskRequestSchema, { taskId }));

describe("unknown methods", () => {
  it("answer grpc-status UNIMPLEMENTED over gRPC", async () => {
    const a = await rawGrpc("/actionqueue.v1.TaskService/NoSuchMethod", new Uint8Array());
    expect(a).toMatchObject({ httpStatus: 200, status: "12" });
    const b = await rawGrpc("/no.such.Service/Method", new Uint8Array());
    expect(b).toMatchObject({ httpStatus: 200, status: "12" });
  });

  it("answer grpc-status UNIMPLEMENTED over gRPC-Web", async () => {
    for (const ct of ["application/grpc-web+proto", "application/grpc-web-text"]) {
      const res = await fetch(`${server.url}/actionqueue.v1.TaskService/NoSuchMethod`, { method: "POST", headers: { "content-type": ct, "x-grpc-web": "1" }, body: new Uint8Array(5) });
      expect(res.status).toBe(200);
      expect(res.headers.get("grpc-status")).toBe("12");
      expect(res.headers.get("content-type")).toMatch(/^application\/grpc-web/);
    }
  });

  it("answer 404 with a Connect error body over Connect", async () => {
    const res = await fetch(`${server.url}/actionqueue.v1.TaskService/NoSuchMethod`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: "unimplemented" });
  });
});

describe("a stream answered before its request ended", () => {
  it("gets its answer, then is closed (RST_STREAM NO_ERROR), not left half-open", async () => {
    const session = http2.connect(server.url);
    session.on("error", () => undefined);
    // An envelope announcing a message over the 4 MiB default limit: refused unread.
    const oversized = Buffer.from([0, 0x01, 0, 0, 0]);
    try {
      for (const [path, headers, body, status] of [
        ["/actionqueue.v1.TaskService/NoSuchMethod", {}, Buffer.alloc(3), Code.Unimplemented],
        ["/grpc.health.v1.Health/Check", { "grpc-timeout": "0m" }, Buffer.alloc(3), Code.DeadlineExceeded],
        ["/actionqueue.v1.TaskService/SubmitTask", {}, oversized, Code.ResourceExhausted],
        ["/actionqueue.v1.RunService/GetRun", { "grpc-encoding": "identity" }, oversized, Code.ResourceExhausted],
      ] as const) {
        const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
        req.on("error", () => undefined);
        // The status comes in a trailers-only answer (headers) or in trailers.
        let answered: string | undefined;
        req.on("response", (h) => (answered ??= h["grpc-status"] as string | undefined));
        req.on("trailers", (h) => (answered ??= h["grpc-status"] as string | undefined));
        req.resume();
        req.write(body); // an incomplete message, and the request never ends
        const closed = await new Promise<number | "open">((resolve) => {
          const t = setTimeout(() => resolve("open"), 10_000);
          req.once("close", () => {
            clearTimeout(t);
            resolve(req.rstCode ?? -1);
          });
        });
        expect({ path, answered, closed }).toEqual({ path, answered: String(status), closed: http2.constants.NGHTTP2_NO_ERROR });
      }
      // The connection itself is still usable.
      expect(await call(session, "/grpc.health.v1.Health/Check", new Uint8Array(), {})).toMatchObject({ status: "0" });
    } finally {
      session.destroy();
    }
  });
});

describe("deadlines already over", () => {
  for (const timeout of ["0m", "1n", "0n", "0S"]) {
    it(`grpc-timeout: ${timeout} fails DEADLINE_EXCEEDED and the task is not submitted`, async () => {
      const id = randomUUID();
      expect(await rawGrpc("/actionqueue.v1.TaskService/SubmitTask", submit(id), { "grpc-timeout": timeout })).toMatchObject({ status: "4" });
      expect(await rawGrpc("/actionqueue.v1.TaskService/GetTask", getTask(id))).toMatchObject({ status: "5" });
    });
  }

  it("connect-timeout-ms: 0 fails deadline_exceeded and the task is not submitted", async () => {
    const id = randomUUID();
    const res = await fetch(`${server.url}/actionqueue.v1.TaskService/SubmitTask`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "0" },
      body: JSON.stringify({ taskId: id, spec: { queue: "deadlines", payload: { data: "AQ==", contentType: "application/octet-stream" } } }),
    });
    expect(await res.json()).toMatchObject({ code: "deadline_exceeded" });
    expect(res.status).toBe(504);
    expect(await rawGrpc("/actionqueue.v1.TaskService/GetTask", getTask(id))).toMatchObject({ status: "5" });
  });
});

describe("oversized request headers", () => {
  it("are answered 431 over HTTP/1.1", async () => {
    const socket = net.connect(server.port, "127.0.0.1");
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    socket.on("error", () => undefined);
    socket.write(`POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\nx-big: ${"a".repeat(32 * 1024)}\r\nContent-Length: 2\r\n\r\n{}`);
    await new Promise((r) => socket.once("close", r));
    expect(text).toMatch(/^HTTP\/1\.1 431/);
  });

  it("are refused over HTTP/2 (stream reset or connection ended) and the server goes on", async () => {
    // Past the advertised 16 KiB once the settings are acknowledged; past nghttp2's 64 KiB default before.
    const a = await rawGrpc("/grpc.health.v1.Health/Check", new Uint8Array(), { "x-big": "a".repeat(32 * 1024) }, true);

    expect(a.status).toBeUndefined();
    expect(a.error ?? a.rstCode).toBeTruthy();
    const b = await rawGrpc("/grpc.health.v1.Health/Check", new Uint8Array(), { "x-big": "a".repeat(100 * 1024) });
    expect(b.status).toBeUndefined();
    expect(b.error ?? b.rstCode).toBeTruthy();
    expect(await rawGrpc("/grpc.health.v1.Health/Check", new Uint8Array())).toMatchObject({ status: "0" });
    expect(server.child.exitCode).toBeNull();
  });
});

describe("a burst of concurrent calls", () => {
  it("leaves no MaxListenersExceededWarning (500 concurrent calls over HTTP/2 and HTTP/1.1)", async () => {
    const grpc = [connectGrpc(server.port), connectGrpc(server.port)];
    const json = connectJson(server.port);
    const calls: Array<Promise<unknown>> = [];
    for (let i = 0; i < 500; i++) {
      const c = i % 4 === 3 ? json : (grpc[i % 2] as (typeof grpc)[number]);
      // Long polls that wait 1 s: all 500 are in progress together.
      calls.push(c.workers.leaseRuns({ queues: [`burst-${i % 7}`], workerId: `w${i}`, maxRuns: 1, leaseDuration: { seconds: 30n }, wait: { seconds: 1n } }).catch((e: unknown) => e));
    }
    await Promise.all(calls);
    await new Promise((r) => setTimeout(r, 200));
    expect(server.stderr()).not.toMatch(/MaxListenersExceeded/);
  });
});
