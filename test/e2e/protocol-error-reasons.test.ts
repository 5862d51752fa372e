/**
 * The ErrorInfo every protocol-level failure carries, case by case, on every protocol: the
 * adapter classifies connect-es errors by code and cause (not message text), and this table
 * pins the result so a library upgrade that changes what is thrown shows up here. Each row
 * sends raw bytes over HTTP/2 and reads the status code and ErrorInfo reason back from the
 * protocol's own error encoding (gRPC trailers, gRPC-Web trailer frame, Connect JSON error,
 * Connect end-stream message).
 */
import http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { fromBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import { rawPost } from "../support/raw-http2.js";
import { type ServerProcess, startServer } from "../support/server.js";

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.cleanup();
});

type Protocol = "grpc" | "grpc-web" | "connect" | "connect-stream";

interface Answer {
  readonly code: number;
  readonly reason: string | undefined;
  readonly domain: string | undefined;
}

const CONNECT_CODES: Record<string, number> = Object.fromEntries(
  Object.entries(Code)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [k.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c.toLowerCase() : `_${c.toLowerCase()}`)), v as number]),
);

/** A length-prefixed message: flags, 4-byte big-endian length, then `msg`. */
function envelope(msg: Buffer, opts: { length?: number; flags?: number } = {}): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(opts.flags ?? 0, 0);
  head.writeUInt32BE(opts.length ?? msg.length, 1);
  return Buffer.concat([head, msg]);
}

/** Splits a body into envelopes (a trailing partial one is dropped). */
function envelopes(body: Buffer): Array<{ flags: number; data: Buffer }> {
  const out: Array<{ flags: number; data: Buffer }> = [];
  for (let i = 0; i + 5 <= body.length; ) {
    const len = body.readUInt32BE(i + 1);
    out.push({ flags: body[i] as number, data: body.subarray(i + 5, i + 5 + len) });
    i += 5 + len;
  }
  return out;
}

function fromStatusBin(code: number, bin: string | undefined): Answer {
  if (!bin) return { code, reason: undefined, domain: undefined };
  const st = fromBinary(StatusSchema, Buffer.from(bin, "base64"));
  const any = st.details.find((d) => d.typeUrl.endsWith("google.rpc.ErrorInfo"));
  const info = any ? fromBinary(ErrorInfoSchema, any.value) : undefined;
  return { code, reason: info?.reason, domain: info?.domain };
}

function fromConnectJson(error: { code?: string; details?: Array<{ type: string; value: string }> }): Answer {
  const d = error.details?.find((x) => x.type === "google.rpc.ErrorInfo");
  const info = d ? fromBinary(ErrorInfoSchema, Buffer.from(d.value, "base64")) : undefined;
  return { code: CONNECT_CODES[error.code ?? ""] ?? -1, reason: info?.reason, domain: info?.domain };
}

const CONTENT_TYPE: Record<Protocol, string> = {
  grpc: "application/grpc",
  "grpc-web": "application/grpc-web+proto",
  connect: "application/proto",
  "connect-stream": "application/connect+proto",
};

/** Sends one request over HTTP/2 and decodes the error the protocol carries. */
function call(protocol: Protocol, path: string, body: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(server.url);
    session.on("error", reject);
    const sent = rawPost(session, `/actionqueue.v1.${path}`, { "content-type": CONTENT_TYPE[protocol], ...headers }, (req) => req.end(body));
    void sent.then(({ head, trailers, body: res }) => {
      session.close();
      const all = { ...head, ...trailers };
      try {
        switch (protocol) {
          case "grpc":
            resolve(fromStatusBin(Number(all["grpc-status"]), all["grpc-status-details-bin"] as string | undefined));
            break;
          case "grpc-web": {
            const t = envelopes(res).find((e) => e.flags & 0x80);
            const fields = new Map(
              (t?.data.toString("latin1") ?? "")
                .split("\r\n")
                .filter((l) => l.includes(":"))
                .map((l) => [l.slice(0, l.indexOf(":")).trim().toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
            );
            resolve(fromStatusBin(Number(fields.get("grpc-status") ?? head["grpc-status"]), fields.get("grpc-status-details-bin")));
            break;
          }
          case "connect":
            resolve(fromConnectJson(JSON.parse(res.toString("utf8")) as { code?: string }));
            break;
          case "connect-stream": {
            const end = envelopes(res).find((e) => e.flags & 0x02);
            resolve(fromConnectJson((JSON.parse(end?.data.toString("utf8") ?? "{}") as { error?: { code?: string } }).error ?? {}));
            break;
          }
        }
      } catch (e) {
        reject(e);
      }
    }, reject);
  });
}

const GARBAGE = Buffer.from([0xff, 0xff, 0xff]);
/** A valid SubmitTaskRequest {spec: {queue: "q"}}. */
const SUBMIT = Buffer.from([0x12, 0x03, 0x0a, 0x01, 0x71]);
/** 5 MiB of zeros, gzipped: small on the wire, over the 4 MiB limit once decompressed. */
const BOMB = gzipSync(Buffer.alloc(5 * 1024 * 1024));
const NOT_GZIP = Buffer.from("definitely not gzip");

const I = Code.InvalidArgument;
const rows: ReadonlyArray<readonly [string, Protocol, string, Buffer, Record<string, string>, number, string]> = [
  // Bodies that do not parse: the client's fault, INVALID_ARGUMENT.
  ["unparseable protobuf", "grpc", "RunService/GetRun", envelope(GARBAGE), {}, I, "MALFORMED_MESSAGE"],
  ["unparseable protobuf", "grpc-web", "RunService/GetRun", envelope(GARBAGE), {}, I, "MALFORMED_MESSAGE"],
  ["unparseable protobuf", "connect", "RunService/GetRun", GARBAGE, {}, I, "MALFORMED_MESSAGE"],
  ["unparseable protobuf", "connect-stream", "RunService/WatchRuns", envelope(GARBAGE), {}, I, "MALFORMED_MESSAGE"],
  ["unparseable protobuf in a server stream", "grpc", "RunService/WatchRuns", envelope(GARBAGE), {}, I, "MALFORMED_MESSAGE"],
  ["malformed JSON", "connect", "RunService/GetRun", Buffer.from("{not json"), { "content-type": "application/json" }, I, "MALFORMED_MESSAGE"],
  ["an unknown JSON field", "connect", "RunService/GetRun", Buffer.from('{"nonsense": 1}'), { "content-type": "application/json" }, I, "MALFORMED_MESSAGE"],
  ["malformed JSON", "connect-stream", "RunService/WatchRuns", envelope(Buffer.from("{not json")), { "content-type": "application/connect+json" }, I, "MALFORMED_MESSAGE"],
  ["malformed JSON", "grpc", "RunService/GetRun", envelope(Buffer.from("{not json")), { "content-type": "application/grpc+json" }, I, "MALFORMED_MESSAGE"],
  // Broken framing and protocol misuse: PROTOCOL_ERROR with the code connect-es chose.
  ["a length prefix promising more than was sent", "grpc", "TaskService/SubmitTask", envelope(GARBAGE, { length: 100 }), {}, I, "PROTOCOL_ERROR"],
  ["a truncated frame header", "grpc", "TaskService/SubmitTask", Buffer.from([0, 0, 0]), {}, I, "PROTOCOL_ERROR"],
  ["a truncated frame header", "connect-stream", "RunService/WatchRuns", Buffer.from([0, 0, 0]), {}, I, "PROTOCOL_ERROR"],
  ["no message for a unary call", "grpc", "TaskService/SubmitTask", Buffer.alloc(0), {}, Code.Unimplemented, "PROTOCOL_ERROR"],
  ["two messages for a unary call", "grpc", "TaskService/SubmitTask", Buffer.concat([envelope(SUBMIT), envelope(SUBMIT)]), {}, Code.Unimplemented, "PROTOCOL_ERROR"],
  ["a malformed grpc-timeout", "grpc", "TaskService/SubmitTask", envelope(SUBMIT), { "grpc-timeout": "soon" }, I, "PROTOCOL_ERROR"],
  // The message quotes the header, so text matching would read these as JSON parse errors.
  ["a malformed grpc-timeout that reads `json`", "grpc", "TaskService/SubmitTask", envelope(SUBMIT), { "grpc-timeout": "json" }, I, "PROTOCOL_ERROR"],
  ["a malformed connect-timeout-ms that reads `json`", "connect", "TaskService/SubmitTask", SUBMIT, { "connect-timeout-ms": "json" }, I, "PROTOCOL_ERROR"],
  ["an unsupported grpc-encoding", "grpc", "TaskService/SubmitTask", envelope(SUBMIT, { flags: 1 }), { "grpc-encoding": "snappy" }, Code.Unimplemented, "PROTOCOL_ERROR"],
  ["a compressed message that does not decompress", "grpc", "TaskService/SubmitTask", envelope(NOT_GZIP, { flags: 1 }), { "grpc-encoding": "gzip" }, I, "PROTOCOL_ERROR"],
  ["a compressed body that does not decompress", "connect", "TaskService/SubmitTask", NOT_GZIP, { "content-encoding": "gzip" }, I, "PROTOCOL_ERROR"],
  // The compressed flag without grpc-encoding is INTERNAL in the gRPC spec.
  ["the compressed flag without grpc-encoding", "grpc", "TaskService/SubmitTask", envelope(GARBAGE, { flags: 1 }), {}, Code.Internal, "INTERNAL"],
  // Over the size limit, before or after decompression: RESOURCE_EXHAUSTED.
  ["a length prefix over the limit", "grpc", "TaskService/SubmitTask", envelope(GARBAGE, { length: 0x7fff_ffff }), {}, Code.ResourceExhausted, "MESSAGE_TOO_LARGE"],
  ["a length prefix over the limit", "grpc-web", "TaskService/SubmitTask", envelope(GARBAGE, { length: 0x7fff_ffff }), {}, Code.ResourceExhausted, "MESSAGE_TOO_LARGE"],
  ["a length prefix over the limit", "connect-stream", "RunService/WatchRuns", envelope(GARBAGE, { length: 0x7fff_ffff }), {}, Code.ResourceExhausted, "MESSAGE_TOO_LARGE"],
  ["a message over the limit once decompressed", "grpc", "TaskService/SubmitTask", envelope(BOMB, { flags: 1 }), { "grpc-encoding": "gzip" }, Code.ResourceExhausted, "MESSAGE_TOO_LARGE"],
  ["a body over the limit once decompressed", "connect", "TaskService/SubmitTask", BOMB, { "content-encoding": "gzip" }, Code.ResourceExhausted, "MESSAGE_TOO_LARGE"],
];

describe("protocol-level errors carry ErrorInfo chosen by code and cause", () => {
  it.each(rows)("%s over %s (%s)", async (_what, protocol, path, body, headers, code, reason) => {
    const a = await call(protocol, path, body, headers);
    expect(a).toEqual({ code, reason, domain: "actionqueue.v1" });
  });
});
