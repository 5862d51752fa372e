/**
 * CORS on the one port (src/server/cors.ts), against real server processes, over HTTP/1.1
 * and HTTP/2 (prior knowledge) with raw clients that send exactly what a browser would:
 *  - a preflight from a listed origin is answered 204 with the origin, the methods, the
 *    headers Connect and gRPC-Web need plus `authorization`, and a max age;
 *  - a preflight from any other origin, for another method, or to a server with no origin
 *    listed, is 403 without any CORS header;
 *  - every answer to a listed origin carries Access-Control-Allow-Origin and -Expose-Headers:
 *    results, errors, unknown methods, Connect and gRPC-Web streams, and calls refused by
 *    load shedding (the preflight itself is answered even when the class is full);
 *  - requests without Origin (non-browser clients) get no CORS header at all;
 *  - a bad --cors-origins stops the server at start-up with one line and exit code 2.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import { cors } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { type Answer, type HttpVersion, request, until } from "../support/http-answer.js";
import { type ServerProcess, startServer } from "../support/server.js";

const ALLOWED = "http://app.example:5173";
const OTHER = "https://elsewhere.example";

type Version = HttpVersion;

/** The response headers a server sets for CORS, by lower-case name. */
function corsHeaders(a: Answer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a.headers)) if (k.startsWith("access-control-")) out[k] = String(v);
  return out;
}

const list = (v: string | string[] | undefined): string[] =>
  String(v ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "");

function envelope(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + data.byteLength);
  out[0] = flags;
  out.writeUInt32BE(data.byteLength, 1);
  out.set(data, 5);
  return out;
}

/** The messages of an enveloped body (Connect streaming, gRPC-Web), with their flags. */
function envelopes(body: Buffer): Array<{ flags: number; data: Buffer }> {
  const out: Array<{ flags: number; data: Buffer }> = [];
  for (let o = 0; o + 5 <= body.length; ) {
    const len = body.readUInt32BE(o + 1);
    out.push({ flags: body[o] as number, data: body.subarray(o + 5, o + 5 + len) });
    o += 5 + len;
  }
  return out;
}

/** grpc-status of a gRPC-Web answer: a header (trailers-only) or the trailer frame. */
function grpcWebStatus(a: Answer): string | undefined {
  if (a.headers["grpc-status"] !== undefined) return String(a.headers["grpc-status"]);
  const trailer = envelopes(a.body).find((e) => e.flags & 0x80);
  return /grpc-status:\s*(\d+)/i.exec(trailer?.data.toString("latin1") ?? "")?.[1];
}

const preflight = (origin: string, method = "POST", extra: Record<string, string> = {}) => ({
  origin,
  "access-control-request-method": method,
  "access-control-request-headers": "content-type,connect-protocol-version,connect-timeout-ms,authorization",
  ...extra,
});

const connectJson = (origin?: string): Record<string, string> => ({ "content-type": "application/json", ...(origin ? { origin } : {}) });

const submitBody = (queue = "cors") => JSON.stringify({ spec: { queue, payload: { data: "e30=", contentType: "application/json" } } });

function expectAllowed(a: Pick<Answer, "headers">, origin = ALLOWED): void {
  expect(a.headers["access-control-allow-origin"]).toBe(origin);
  expect(list(a.headers["access-control-expose-headers"])).toEqual(expect.arrayContaining(["grpc-status", "grpc-message", "grpc-status-details-bin"]));
  expect(list(a.headers.vary)).toContain("origin");
}

describe("CORS with allowed origins", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    // One origin from the environment variable, normalised (upper case, default port).
    server = await startServer({ env: { ACTIONQUEUE_CORS_ORIGINS: `${ALLOWED},HTTPS://Second.Example:443` } });
  });
  afterAll(async () => {
    await server.cleanup();
  });

  describe.each(["1.1", "2"] as const)("over HTTP/%s", (version) => {
    it("answers a preflight from a listed origin 204 with what Connect and gRPC-Web need", async () => {
      const a = await request(server.port, version, "OPTIONS", "/actionqueue.v1.TaskService/SubmitTask", preflight(ALLOWED));
      expect(a.status).toBe(204);
      expect(a.body.length).toBe(0);
      expect(a.headers["access-control-allow-origin"]).toBe(ALLOWED);
      expect(list(a.headers.vary)).toContain("origin");
      expect(list(a.headers["access-control-allow-methods"])).toEqual(expect.arrayContaining(["post", "get"]));
      const allowHeaders = list(a.headers["access-control-allow-headers"]);
      expect(allowHeaders).toEqual(expect.arrayContaining([...cors.allowedHeaders.map((h) => h.toLowerCase()), "authorization"]));
      expect(Number(a.headers["access-control-max-age"])).toBeGreaterThan(0);
      expect(a.headers["access-control-allow-credentials"]).toBeUndefined();
    });

    it("matches the origin as the browser sends it (normalised from the configuration)", async () => {
      const a = await request(server.port, version, "OPTIONS", "/actionqueue.v1.AdminService/GetStats", preflight("https://second.example", "GET"));
      expect(a.status).toBe(204);
      expect(a.headers["access-control-allow-origin"]).toBe("https://second.example");
    });

    it("refuses a preflight from an origin not listed: 403, no CORS header", async () => {
      for (const origin of [OTHER, "http://app.example:5174", "http://app.example", "null"]) {
        const a = await request(server.port, version, "OPTIONS", "/actionqueue.v1.TaskService/SubmitTask", preflight(origin));
        expect(a.status, origin).toBe(403);
        expect(corsHeaders(a), origin).toEqual({});
        expect(a.body.toString()).toContain("origin not allowed");
      }
    });

    it("refuses a preflight for a method other than POST and GET", async () => {
      const a = await request(server.port, version, "OPTIONS", "/actionqueue.v1.TaskService/SubmitTask", preflight(ALLOWED, "PUT"));
      expect(a.status).toBe(403);
      expect(corsHeaders(a)).toEqual({});
    });

    it("adds the CORS headers to a result, an error and an unknown method for a listed origin", async () => {
      const ok = await request(server.port, version, "POST", "/actionqueue.v1.TaskService/SubmitTask", connectJson(ALLOWED), submitBody());
      expect(ok.status).toBe(200);
      expect((JSON.parse(ok.body.toString()) as { created: boolean }).created).toBe(true);
      expectAllowed(ok);

      const notFound = await request(server.port, version, "POST", "/actionqueue.v1.RunService/GetRun", connectJson(ALLOWED), JSON.stringify({ runId: "01890000-0000-7000-8000-000000000000" }));
      expect(notFound.status).toBe(404);
      expect((JSON.parse(notFound.body.toString()) as { code: string }).code).toBe("not_found");
      expectAllowed(notFound);

      const invalid = await request(server.port, version, "POST", "/actionqueue.v1.RunService/GetRun", connectJson(ALLOWED), JSON.stringify({ runId: "nope" }));
      expect(invalid.status).toBe(400);
      expect((JSON.parse(invalid.body.toString()) as { code: string }).code).toBe("invalid_argument");
      expectAllowed(invalid);

      const unknown = await request(server.port, version, "POST", "/actionqueue.v1.TaskService/NoSuchMethod", connectJson(ALLOWED), "{}");
      expect(unknown.status).toBe(404);
      expectAllowed(unknown);
    });

    it("adds them to gRPC-Web answers, whose status a page reads from exposed headers", async () => {
      const grpcWeb = { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", origin: ALLOWED };
      const ok = await request(server.port, version, "POST", "/actionqueue.v1.AdminService/GetStats", grpcWeb, envelope(0, new Uint8Array()));
      expect(ok.status).toBe(200);
      expect(grpcWebStatus(ok)).toBe("0");
      expectAllowed(ok);
      // A trailers-only error: grpc-status is a header, which the page can read only exposed.
      const unknown = await request(server.port, version, "POST", "/actionqueue.v1.AdminService/NoSuchMethod", grpcWeb, envelope(0, new Uint8Array()));
      expect(unknown.headers["grpc-status"]).toBe("12");
      expectAllowed(unknown);
    });

    it("adds them to a Connect server stream (WatchRuns), and to one that ends in an error", async () => {
      const streamHeaders = { "content-type": "application/connect+json", origin: ALLOWED };
      // A watch refused by its filter: the error is in the stream's end message.
      const bad = await request(server.port, version, "POST", "/actionqueue.v1.RunService/WatchRuns", streamHeaders, envelope(0, Buffer.from(JSON.stringify({ queues: ["not a queue name!"] }))));
      expect(bad.status).toBe(200);
      expectAllowed(bad);
      const end = envelopes(bad.body).find((e) => e.flags & 0x02);
      expect((JSON.parse(end?.data.toString() ?? "{}") as { error?: { code: string } }).error?.code).toBe("invalid_argument");

      // A live watch (replaying from revision 1): headers are out while the stream is open.
      const live = await firstStreamHeaders(server.port, version, { ...streamHeaders }, envelope(0, Buffer.from(JSON.stringify({ startRevision: "1", progressIntervalMs: 100 }))));
      expect(live.status).toBe(200);
      expectAllowed(live);
    });

    it("serves an origin not listed without any CORS header", async () => {
      const a = await request(server.port, version, "POST", "/actionqueue.v1.AdminService/GetStats", connectJson(OTHER), "{}");
      expect(a.status).toBe(200);
      expect(corsHeaders(a)).toEqual({});
    });

    it("leaves requests without Origin alone (non-browser clients)", async () => {
      const post = await request(server.port, version, "POST", "/actionqueue.v1.AdminService/GetStats", connectJson(), "{}");
      expect(post.status).toBe(200);
      expect(corsHeaders(post)).toEqual({});
      expect(post.headers.vary).toBeUndefined();
      // A GET may be cached: its answer says it varies by Origin, and nothing else changes.
      const get = await request(server.port, version, "GET", "/actionqueue.v1.AdminService/GetStats?connect=v1&encoding=json&message=%7B%7D", {});
      expect(get.status).toBe(200);
      expect(corsHeaders(get)).toEqual({});
      expect(list(get.headers.vary)).toEqual(["origin"]);
      // An OPTIONS that is not a preflight is not answered as one.
      const options = await request(server.port, version, "OPTIONS", "/actionqueue.v1.AdminService/GetStats", { origin: ALLOWED });
      expect(options.status).toBe(405);
    });
  });

  it("allows a public page to reach a private address when Chromium asks (Private Network Access)", async () => {
    const a = await request(server.port, "1.1", "OPTIONS", "/actionqueue.v1.TaskService/SubmitTask", preflight(ALLOWED, "POST", { "access-control-request-private-network": "true" }));
    expect(a.status).toBe(204);
    expect(a.headers["access-control-allow-private-network"]).toBe("true");
    const other = await request(server.port, "1.1", "OPTIONS", "/actionqueue.v1.TaskService/SubmitTask", preflight(OTHER, "POST", { "access-control-request-private-network": "true" }));
    expect(other.status).toBe(403);
    expect(corsHeaders(other)).toEqual({});
  });
});

/** The status and headers of a streaming answer, then the connection is dropped. */
function firstStreamHeaders(port: number, version: Version, headers: Record<string, string>, body: Buffer): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  if (version === "1.1") {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/actionqueue.v1.RunService/WatchRuns", headers, agent: false }, (res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers });
        req.destroy();
      });
      req.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? undefined : reject(e)));
      req.end(body);
    });
  }
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": "/actionqueue.v1.RunService/WatchRuns", ...headers });
    req.on("response", (h) => {
      resolve({ status: Number(h[":status"]), headers: h });
      session.destroy();
    });
    req.on("error", () => undefined);
    req.end(body);
  });
}

/**
 * Takes a slot of the class of `path` and holds it: a Connect POST over HTTP/1.1 whose body
 * never completes (the request gate takes the slot before the body is read). Resolves with
 * the release (closing the connection ends the call).
 */
async function holdSlot(port: number, path: string): Promise<() => void> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
  return () => socket.destroy();
}

function overloadReason(a: Answer): { code: string; reason: string | undefined; limit: string | undefined } {
  const json = JSON.parse(a.body.toString()) as { code: string; details?: Array<{ type: string; value: string }> };
  const info = json.details?.find((d) => d.type === "google.rpc.ErrorInfo");
  const decoded = info ? fromBinary(ErrorInfoSchema, Buffer.from(info.value, "base64")) : undefined;
  return { code: json.code, reason: decoded?.reason, limit: decoded?.metadata.limit };
}

describe("CORS and load shedding", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ args: ["--cors-origins", ALLOWED, "--max-inflight-writes", "1", "--stall-timeout", "10m"] });
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it("answers preflights before admission and carries the CORS headers on refusals", async () => {
    const release = await holdSlot(server.port, "/actionqueue.v1.TaskService/SubmitTask");
    try {
      for (const version of ["1.1", "2"] as const) {
        const submit = () => request(server.port, version, "POST", "/actionqueue.v1.TaskService/SubmitTask", connectJson(ALLOWED), submitBody("shed"));
        const refused = await until(submit, 429);
        expect(refused.status, `HTTP/${version}`).toBe(429);
        expect(overloadReason(refused)).toEqual({ code: "resource_exhausted", reason: "OVERLOADED", limit: "max_inflight_write" });
        expectAllowed(refused);

        const grpcWeb = await request(server.port, version, "POST", "/actionqueue.v1.TaskService/SubmitTask", { "content-type": "application/grpc-web+json", "x-grpc-web": "1", origin: ALLOWED }, envelope(0, Buffer.from(submitBody("shed"))));
        expect(grpcWebStatus(grpcWeb)).toBe("8");
        expectAllowed(grpcWeb);

        const pre = await request(server.port, version, "OPTIONS", "/actionqueue.v1.TaskService/SubmitTask", preflight(ALLOWED));
        expect(pre.status).toBe(204);
        expect(pre.headers["access-control-allow-origin"]).toBe(ALLOWED);
      }
    } finally {
      release();
    }
    // The slot comes back with the connection: served again, still with the headers.
    const served = await until(() => request(server.port, "1.1", "POST", "/actionqueue.v1.TaskService/SubmitTask", connectJson(ALLOWED), submitBody("shed")), 200);
    expect(served.status).toBe(200);
    expectAllowed(served);
  });
});

describe("CORS with no origin configured (the default)", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it.each(["1.1", "2"] as const)("refuses every preflight and adds no CORS header anywhere (HTTP/%s)", async (version) => {
    const pre = await request(server.port, version, "OPTIONS", "/actionqueue.v1.TaskService/SubmitTask", preflight(ALLOWED));
    expect(pre.status).toBe(403);
    expect(corsHeaders(pre)).toEqual({});
    const post = await request(server.port, version, "POST", "/actionqueue.v1.TaskService/SubmitTask", connectJson(ALLOWED), submitBody());
    expect(post.status).toBe(200);
    expect(corsHeaders(post)).toEqual({});
    expect(post.headers.vary).toBeUndefined();
    const get = await request(server.port, version, "GET", "/actionqueue.v1.AdminService/GetStats?connect=v1&encoding=json&message=%7B%7D", { origin: ALLOWED });
    expect(get.status).toBe(200);
    expect(corsHeaders(get)).toEqual({});
    expect(get.headers.vary).toBeUndefined();
  });
});

describe("a bad --cors-origins", () => {
  it.each([["*"], ["https://app.example/"], ["app.example"]])("stops the server at start-up with one line and exit code 2: %s", async (value) => {
    const failed = startServer({ args: ["--cors-origins", value] });
    await expect(failed).rejects.toThrow(/server exited with 2 before serving: actionqueue: cors-origins: [^\n]+\n$/);
  });
});
