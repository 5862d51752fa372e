/**
 * The direct path of plain unary gRPC calls over HTTP/2 (src/server/fast-unary.ts): bodies in
 * any framing, deadlines, resets mid-body and the admission slot, and the same answer as
 * connect-es gives for the calls it hands over. (Every protocol-level error row is in
 * protocol-error-reasons.test.ts; bad input for every RPC in bad-input.test.ts.)
 */
import http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SubmitTaskRequestSchema, SubmitTaskResponseSchema } from "../../src/gen/actionqueue/v1/task_service_pb.js";
import { type RawAnswer, rawPost } from "../support/raw-http2.js";
import { type ServerProcess, connectGrpc, startServer } from "../support/server.js";

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer({ args: ["--max-inflight-writes", "4"] });
});
afterAll(async () => {
  await server.cleanup();
});

function envelope(msg: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

const SUBMIT = envelope(toBinary(SubmitTaskRequestSchema, create(SubmitTaskRequestSchema, { spec: { queue: "fast", payload: { data: new Uint8Array([1, 2, 3]) } } })));

/** One SubmitTask over raw HTTP/2, its body written by `send`. */
function call(session: http2.ClientHttp2Session, send: (req: http2.ClientHttp2Stream) => void, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return rawPost(session, "/actionqueue.v1.TaskService/SubmitTask", { "content-type": "application/grpc", ...headers }, send);
}

function submitted(a: RawAnswer): string {
  expect(a.trailers["grpc-status"] ?? a.head["grpc-status"]).toBe("0");
  expect(a.head["content-type"]).toBe("application/grpc+proto");
  const res = fromBinary(SubmitTaskResponseSchema, a.body.subarray(5));
  expect(res.task?.spec?.queue).toBe("fast");
  return res.task?.id ?? "";
}

describe("plain unary gRPC calls", () => {
  it("are answered whatever the framing of the request body (one DATA frame per byte)", async () => {
    const session = http2.connect(server.url);
    try {
      const whole = await call(session, (req) => req.end(SUBMIT));
      const split = await call(session, (req) => {
        let i = 0;
        const next = (): void => {
          if (i === SUBMIT.length) req.end();
          else req.write(SUBMIT.subarray(i, ++i), next);
        };
        next();
      });
      expect(submitted(whole)).not.toBe(submitted(split));
    } finally {
      session.close();
    }
  });

  it("with a deadline are answered; with one already over, refused before anything is applied", async () => {
    const session = http2.connect(server.url);
    try {
      submitted(await call(session, (req) => req.end(SUBMIT), { "grpc-timeout": "5S" }));
      const before = (await connectGrpc(server.port).admin.getStats({ queues: ["fast"] })).total;
      const late = await call(session, (req) => req.end(SUBMIT), { "grpc-timeout": "0m" });
      expect(late.trailers["grpc-status"] ?? late.head["grpc-status"]).toBe("4");
      const after = (await connectGrpc(server.port).admin.getStats({ queues: ["fast"] })).total;
      expect(after).toEqual(before);
    } finally {
      session.close();
    }
  });

  it("give their admission slot back when the client resets them mid-body", async () => {
    // --max-inflight-writes 4: ten abandoned calls would hold every slot if one leaked.
    const session = http2.connect(server.url);
    try {
      for (let i = 0; i < 10; i++) {
        await new Promise<void>((resolve) => {
          const req = session.request({ ":method": "POST", ":path": "/actionqueue.v1.TaskService/SubmitTask", "content-type": "application/grpc", te: "trailers" });
          req.on("error", () => undefined);
          req.write(SUBMIT.subarray(0, 7), () => {
            req.close(http2.constants.NGHTTP2_CANCEL);
            req.once("close", () => resolve());
          });
        });
      }
      await new Promise((r) => setTimeout(r, 100));
      submitted(await call(session, (req) => req.end(SUBMIT)));
    } finally {
      session.close();
    }
  });

  it("answer as connect-es does for the same call it serves (gRPC with JSON)", async () => {
    const session = http2.connect(server.url);
    try {
      const bad = envelope(toBinary(SubmitTaskRequestSchema, create(SubmitTaskRequestSchema, { spec: { queue: "not a queue!" } })));
      const accept = { "grpc-accept-encoding": "identity,deflate,gzip" };
      const direct = await call(session, (req) => req.end(bad), accept);
      const json = await call(session, (req) => req.end(envelope(Buffer.from(JSON.stringify({ spec: { queue: "not a queue!" } })))), { ...accept, "content-type": "application/grpc+json" });
      for (const a of [direct, json]) expect(a.trailers["grpc-status"]).toBe("3");
      // The compression the client accepts is named, as connect-es does (messages stay uncompressed).
      expect([direct.head["grpc-encoding"], json.head["grpc-encoding"]]).toEqual(["gzip", "gzip"]);
      expect(direct.trailers["grpc-message"]).toBe(json.trailers["grpc-message"]);
      expect(direct.trailers["grpc-status-details-bin"]).toBe(json.trailers["grpc-status-details-bin"]);
    } finally {
      session.close();
    }
  });
});
