/**
 * Error messages read the same in every client. gRPC carries the message in the
 * `grpc-message` trailer, percent-encoded; grpc-js decodes it with `decodeURI`, which leaves
 * escapes of reserved characters (`%3A` for ':', `%3B` for ';', `%2C`, `%3F`, ...) as they
 * are, so the server must not escape more than the gRPC spec requires. Here the message text
 * itself is the point, so these tests assert on text: the same text through grpc-js,
 * Connect over gRPC and gRPC-Web, Connect JSON (never percent-encoded: the reference), and
 * Python grpcio when it is installed.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import type * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ActionQueueClients, createActionQueueClients, SubmitTaskRequestSchema } from "../../clients/typescript/src/index.js";
import { connectGrpc, connectJson, grpcErrorDetails, grpcJs, type GrpcJsClients, type ServerProcess, startServer, unary } from "../support/server.js";

/**
 * Caller-chosen text that ends up verbatim in the error message (the server quotes an
 * unknown time zone): ':' and ';' (the reported escapes), a literal "%3A" (a '%' must stay a
 * '%'), characters decodeURI does not unescape (, / ? # & = + $ @), and non-ASCII.
 */
const ZONE = "Mars/Olympus; 100%3A sure: a,b?c#d&e=f+g$h@i ünïcødé ✓";
const VALID_RUN_ID = "01890a5d-ac96-774b-bcce-b302099a8057";

const cronSpec = { queue: "error-text", policy: { kind: { case: "cron" as const, value: { expression: "0 9 * * *", timeZone: ZONE } } } };

let server: ServerProcess;
let g: GrpcJsClients;
beforeAll(async () => {
  server = await startServer();
  g = grpcJs(server.port);
});
afterAll(async () => {
  g.close();
  await server.cleanup();
});

async function connectError(p: Promise<unknown>): Promise<ConnectError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ConnectError);
  return e as ConnectError;
}

async function grpcJsError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(Error);
  return e as grpc.ServiceError;
}

/** The message of a failed SubmitTask with the unknown time zone, as Connect JSON reports it. */
async function referenceMessage(): Promise<string> {
  const e = await connectError(connectJson(server.port).tasks.submitTask({ spec: cronSpec }));
  expect(e.code).toBe(Code.InvalidArgument);
  expect(e.rawMessage).toContain(ZONE);
  expect(e.rawMessage).toContain(": ");
  return e.rawMessage;
}

describe("error messages with reserved and non-ASCII characters", () => {
  it("read the same through grpc-js as through Connect JSON", async () => {
    const expected = await referenceMessage();
    const e = await grpcJsError(unary(g.tasks, "submitTask", { spec: { queue: "error-text", policy: { cron: { expression: "0 9 * * *", timeZone: ZONE } } } }));
    expect(e.code).toBe(Code.InvalidArgument);
    expect((await grpcErrorDetails(e)).reason).toBe("INVALID_ARGUMENT");
    expect(e.details).toBe(expected);
  });

  it("read `lease_token: is required` through grpc-js, without escapes", async () => {
    const e = await grpcJsError(unary(g.workers, "heartbeat", { runId: VALID_RUN_ID, leaseToken: "" }));
    expect(e.code).toBe(Code.InvalidArgument);
    const viaJson = await connectError(connectJson(server.port).workers.heartbeat({ runId: VALID_RUN_ID, leaseToken: "" }));
    expect(e.details).toBe(viaJson.rawMessage);
    expect(e.details).toContain("lease_token: ");
  });

  it.each<[string, () => ActionQueueClients]>([
    ["Connect over gRPC", () => connectGrpc(server.port)],
    ["Connect over gRPC-Web", () => createActionQueueClients(createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" }))],
  ])("read the same through %s", async (_, clients) => {
    const expected = await referenceMessage();
    const e = await connectError(clients().tasks.submitTask({ spec: cronSpec }));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.rawMessage).toBe(expected);
  });

  it("travel in grpc-message escaped only where the gRPC spec requires ('%' and bytes outside 0x20-0x7E)", async () => {
    const expected = await referenceMessage();
    const session = http2.connect(server.url);
    try {
      const body = toBinary(SubmitTaskRequestSchema, create(SubmitTaskRequestSchema, { spec: cronSpec }));
      const frame = Buffer.alloc(5 + body.byteLength);
      frame.writeUInt32BE(body.byteLength, 1);
      frame.set(body, 5);
      const req = session.request({ ":method": "POST", ":path": "/actionqueue.v1.TaskService/SubmitTask", "content-type": "application/grpc", te: "trailers" });
      const fields = new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        let head: http2.IncomingHttpHeaders = {};
        req.on("response", (h) => (head = h));
        req.on("trailers", (t) => resolve({ ...head, ...t }));
        req.on("end", () => resolve(head));
        req.on("error", reject);
      });
      req.resume();
      req.end(frame);
      const h = await fields;
      expect(h["grpc-status"]).toBe(String(Code.InvalidArgument));
      const wire = String(h["grpc-message"]);
      expect(wire).toMatch(/^[\x20-\x7e]*$/);
      expect(wire.replace(/%[0-9A-F]{2}/g, "")).not.toContain("%");
      expect(wire).toContain(": ");
      expect(wire).toContain(";");
      expect(decodeURIComponent(wire)).toBe(expected);
    } finally {
      session.close();
    }
  });
});

// Python grpcio (Debian's python3-grpcio; .ci/run installs it). A generic unary call with raw
// bytes, so no generated code is needed.
const PYTHON = "/usr/bin/python3";
const pythonProblem = !existsSync(PYTHON)
  ? `${PYTHON} is missing`
  : spawnSync(PYTHON, ["-c", "import grpc"], { encoding: "utf8" }).status !== 0
    ? `the Python grpc module is missing (apt-get install python3-grpcio)`
    : null;

const PY_CALL = `
import grpc, json, sys
target, method, hex_body = sys.argv[1], sys.argv[2], sys.argv[3]
with grpc.insecure_channel(target) as channel:
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    try:
        call(bytes.fromhex(hex_body), timeout=10)
        print(json.dumps({"code": 0, "details": ""}))
    except grpc.RpcError as e:
        print(json.dumps({"code": e.code().value[0], "details": e.details()}))
`;

describe.skipIf(pythonProblem !== null)(`Python grpcio${pythonProblem ? ` (skipped: ${pythonProblem})` : ""}`, () => {
  it("reads the same message as Connect JSON", async () => {
    const expected = await referenceMessage();
    const body = toBinary(SubmitTaskRequestSchema, create(SubmitTaskRequestSchema, { spec: cronSpec }));
    const r = spawnSync(PYTHON, ["-c", PY_CALL, `127.0.0.1:${server.port}`, "/actionqueue.v1.TaskService/SubmitTask", Buffer.from(body).toString("hex")], {
      encoding: "utf8",
      timeout: 30_000,
      env: { ...process.env, PYTHONIOENCODING: "utf-8" },
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { code: number; details: string };
    expect(out.code).toBe(Code.InvalidArgument);
    expect(out.details).toBe(expected);
  });
});
