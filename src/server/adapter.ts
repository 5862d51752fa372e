/**
 * The Node adapter: connect-node's request handler, plus two things it does not do.
 *
 * 1. Errors raised by the protocol layer itself — a body that does not parse, a message over
 *    the size limit, broken framing — leave Connect without details, and a body that does
 *    not parse is reported as INTERNAL. Here every such error gets a google.rpc.ErrorInfo
 *    (MALFORMED_MESSAGE, MESSAGE_TOO_LARGE, PROTOCOL_ERROR or INTERNAL, chosen from the
 *    error as thrown: see ./protocol-errors.ts) and unparseable input becomes
 *    INVALID_ARGUMENT, on every protocol: gRPC (trailers), gRPC-Web (trailer frame), Connect
 *    unary (JSON error body) and Connect streaming (end-stream message).
 * 2. When a response ends before the request body was read (an oversized message is refused
 *    without reading it), the HTTP/2 stream is reset so the client stops sending, and an
 *    HTTP/1.1 connection is closed after the response, so the client cannot reuse a
 *    connection whose previous request body is still on the wire. That close lingers
 *    (`lingerBeforeClose`): the rest of the body is read and discarded, within bounds, before
 *    the socket is destroyed, since closing a socket with unread input resets the connection
 *    and a client still uploading then gets EPIPE / ECONNRESET instead of the answer.
 * 3. `grpc-message` is re-encoded as the gRPC spec prescribes: connect-node escapes it with
 *    `encodeURIComponent`, which is legal but escapes ':' ';' ',' '/' '?' and friends, and
 *    grpc-js decodes with `decodeURI`, which leaves exactly those escapes in place (clients
 *    saw "lease_token%3A is required"). Escaping only what the spec requires — '%' and bytes
 *    outside 0x20-0x7E — reads correctly in grpc-js, connect-es and grpcio alike.
 * 4. An unknown path answers UNIMPLEMENTED in `grpc-status` over gRPC and gRPC-Web (connect-node
 *    leaves that to the adapter, which answered a bare 404), and 404 with a Connect error body
 *    otherwise.
 * 5. A call whose deadline is already over (`grpc-timeout: 0m`, `1n`, `connect-timeout-ms: 0`)
 *    fails DEADLINE_EXCEEDED in the request gate, before its body is read or any work done.
 * 6. A request body that makes no progress for `stallTimeoutMs` while the handler waits on it
 *    is reset (HTTP/2 RST_STREAM CANCEL; HTTP/1.1 the connection).
 * 7. Shutdown aborts calls from a registry, not through one shared AbortSignal that every call
 *    would add a listener to (MaxListenersExceededWarning past ten concurrent calls).
 */
import type http from "node:http";
import http2 from "node:http2";
import type net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type ConnectRouterOptions, createConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import type { EngineLogger } from "../engine/engine.js";
import { resetAfterCompatAnswer } from "./early-answer.js";
import { ERROR_DOMAIN } from "./errors.js";
import { classify, contextValuesWithSlot, recordThrownError, type ThrownErrorSlot } from "./protocol-errors.js";
import { attachPeer } from "./auth/peer.js";
import { attachStreamReset } from "./watch-stream.js";
import { type NodeRequest, type NodeResponse, writeHead } from "./node-http.js";


const CODE_NAMES: Record<number, string> = {
  [Code.Canceled]: "canceled",
  [Code.Unknown]: "unknown",
  [Code.InvalidArgument]: "invalid_argument",
  [Code.DeadlineExceeded]: "deadline_exceeded",
  [Code.NotFound]: "not_found",
  [Code.AlreadyExists]: "already_exists",
  [Code.PermissionDenied]: "permission_denied",
  [Code.ResourceExhausted]: "resource_exhausted",
  [Code.FailedPrecondition]: "failed_precondition",
  [Code.Aborted]: "aborted",
  [Code.OutOfRange]: "out_of_range",
  [Code.Unimplemented]: "unimplemented",
  [Code.Internal]: "internal",
  [Code.Unavailable]: "unavailable",
  [Code.DataLoss]: "data_loss",
  [Code.Unauthenticated]: "unauthenticated",
};
const CODE_OF_NAME = new Map(Object.entries(CODE_NAMES).map(([k, v]) => [v, Number(k) as Code]));

/** HTTP status of a Connect unary error (Connect protocol spec). */
const CONNECT_HTTP_STATUS: Record<number, number> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

function errorInfoBytes(reason: string, metadata: Record<string, string>): Uint8Array {
  return toBinary(ErrorInfoSchema, create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata }));
}

/** What the patches below need: the message limit and the call's thrown-error slot. */
export interface PatchContext {
  readonly maxMessageBytes: number;
  readonly thrown: ThrownErrorSlot;
}

/** A Connect-protocol JSON error ({code, message, details}) with ErrorInfo added when missing. */
function patchConnectJsonError(json: { code?: string; message?: string; details?: unknown[] }, pc: PatchContext): { code?: string; message?: string; details?: unknown[] } {
  if (json.details && json.details.length > 0) return json;
  const code = CODE_OF_NAME.get(json.code ?? "") ?? Code.Unknown;
  const c = classify(code, pc.thrown.error, pc.maxMessageBytes);
  return {
    ...json,
    code: CODE_NAMES[c.code] ?? json.code ?? "unknown",
    details: [{ type: "google.rpc.ErrorInfo", value: Buffer.from(errorInfoBytes(c.reason, c.metadata)).toString("base64").replace(/=+$/, "") }],
  };
}

/**
 * Percent-encodes a `grpc-message` value exactly as the gRPC over HTTP/2 spec requires: the
 * text as UTF-8, with '%' and every byte outside 0x20-0x7E written as %XX and every other
 * byte as itself. Every conforming decoder reads it back, including grpc-js, which only
 * undoes escapes `decodeURI` accepts (never those of ':' ';' ',' '/' '?' '#' '&' '=' '+'
 * '$' '@').
 */
export function encodeGrpcMessage(text: string): string {
  let out = "";
  for (const b of Buffer.from(text, "utf8")) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b < 0x10 ? "0" : ""}${b.toString(16).toUpperCase()}`;
  }
  return out;
}

/** Rewrites the `grpc-message` connect-node set (encodeURIComponent) with `encodeGrpcMessage`. */
function reencodeGrpcMessage(h: Headers): void {
  const value = h.get("grpc-message");
  if (value === null) return;
  let text: string;
  try {
    text = decodeURIComponent(value);
  } catch {
    return; // not ours to fix: leave a value that is not percent-encoded UTF-8 as it is
  }
  h.set("grpc-message", encodeGrpcMessage(text));
}

/** grpc-status / grpc-message / grpc-status-details-bin patched into a Headers object. */
export function patchGrpcHeaders(h: Headers, pc: PatchContext): void {
  reencodeGrpcMessage(h);
  const status = h.get("grpc-status");
  if (status === null || status === "0" || h.has("grpc-status-details-bin")) return;
  const message = decodeURIComponent(h.get("grpc-message") ?? "");
  const c = classify(Number(status) as Code, pc.thrown.error, pc.maxMessageBytes);
  h.set("grpc-status", String(c.code));
  const details = create(StatusSchema, {
    code: c.code,
    message,
    details: [anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason: c.reason, domain: ERROR_DOMAIN, metadata: c.metadata }))],
  });
  h.set("grpc-status-details-bin", Buffer.from(toBinary(StatusSchema, details)).toString("base64").replace(/=+$/, ""));
}

/** Parses gRPC-Web trailer frame text ("k: v\r\n" lines) into Headers. */
function parseTrailerBlock(text: string): Headers {
  const h = new Headers();
  for (const line of text.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) h.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return h;
}

function trailerBlock(h: Headers): Uint8Array {
  let s = "";
  h.forEach((v, k) => {
    s += `${k}: ${v}\r\n`;
  });
  return new TextEncoder().encode(s);
}

function envelope(flags: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + data.byteLength);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, data.byteLength);
  out.set(data, 5);
  return out;
}

/**
 * Passes enveloped messages through as they come, rewriting the final envelope (`flag` set:
 * 0x02 Connect end-stream, 0x80 gRPC-Web trailers) with `rewrite`.
 */
async function* rewriteFinalEnvelope(body: AsyncIterable<Uint8Array>, flag: number, rewrite: (data: Uint8Array) => Uint8Array): AsyncIterable<Uint8Array> {
  let buf = new Uint8Array(0);
  for await (const chunk of body) {
    const joined = new Uint8Array(buf.byteLength + chunk.byteLength);
    joined.set(buf);
    joined.set(chunk, buf.byteLength);
    buf = joined;
    let offset = 0;
    const ready: Uint8Array[] = [];
    while (buf.byteLength - offset >= 5) {
      const flags = buf[offset] as number;
      const len = new DataView(buf.buffer, buf.byteOffset + offset + 1, 4).getUint32(0);
      if (buf.byteLength - offset < 5 + len) break;
      const data = buf.subarray(offset + 5, offset + 5 + len);
      ready.push(flags & flag ? envelope(flags, rewrite(data)) : buf.slice(offset, offset + 5 + len));
      offset += 5 + len;
    }
    buf = buf.slice(offset);
    for (const r of ready) yield r;
  }
  if (buf.byteLength > 0) yield buf;
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of body) parts.push(c);
  return Buffer.concat(parts);
}

/**
 * Adds details to a protocol-level error response of any of the supported protocols, and
 * re-encodes every gRPC / gRPC-Web `grpc-message` with `encodeGrpcMessage`.
 */
export async function withErrorDetails(contentType: string, res: UniversalServerResponse, pc: PatchContext): Promise<UniversalServerResponse> {
  const ct = contentType.toLowerCase();
  if (ct.startsWith("application/grpc-web")) {
    if (ct.startsWith("application/grpc-web-text") || !res.body) return res;
    return {
      ...res,
      body: rewriteFinalEnvelope(res.body, 0x80, (data) => {
        const h = parseTrailerBlock(new TextDecoder().decode(data));
        patchGrpcHeaders(h, pc);
        return trailerBlock(h);
      }),
    };
  }
  if (ct.startsWith("application/grpc")) {
    if (res.header) patchGrpcHeaders(res.header, pc);
    if (!res.body) {
      if (res.trailer) patchGrpcHeaders(res.trailer, pc);
      return res;
    }
    const body = res.body;
    const trailer = res.trailer;
    return {
      ...res,
      body: (async function* () {
        yield* body;
        if (trailer) patchGrpcHeaders(trailer, pc);
      })(),
    };
  }
  if (ct.startsWith("application/connect+")) {
    if (!res.body) return res;
    return {
      ...res,
      body: rewriteFinalEnvelope(res.body, 0x02, (data) => {
        try {
          const end = JSON.parse(new TextDecoder().decode(data)) as { error?: { code?: string; message?: string; details?: unknown[] } };
          if (!end.error) return data;
          return new TextEncoder().encode(JSON.stringify({ ...end, error: patchConnectJsonError(end.error, pc) }));
        } catch {
          return data;
        }
      }),
    };
  }
  // Connect unary: a non-200 answer carries a JSON error body.
  if (res.status === 200 || !res.body) return res;
  const bytes = await readAll(res.body);
  try {
    const json = JSON.parse(new TextDecoder().decode(bytes)) as { code?: string; message?: string; details?: unknown[] };
    if (typeof json.code !== "string") throw new Error("not a Connect error");
    const patched = patchConnectJsonError(json, pc);
    const code = CODE_OF_NAME.get(patched.code ?? "") ?? Code.Unknown;
    const body = new TextEncoder().encode(JSON.stringify(patched));
    const header = new Headers(res.header);
    header.set("content-length", String(body.byteLength));
    return { ...res, status: CONNECT_HTTP_STATUS[code] ?? res.status, header, body: (async function* () { yield body; })() };
  } catch {
    return { ...res, body: (async function* () { yield bytes; })() };
  }
}

/** Longest a closing HTTP/1.1 connection keeps reading the unread rest of a request body. */
export const LINGER_MS = 2_000;
/** Most bytes of an unread request body a closing HTTP/1.1 connection discards (see below). */
export const LINGER_MAX_BYTES = 16 * 1024 * 1024;

/**
 * A bounded "lingering close" for an HTTP/1.1 connection answered before its request body was
 * read. Node closes such a connection (the answer says `connection: close`) with
 * `socket.destroySoon()` once the answer is written; destroying a socket while the client is
 * still uploading makes the kernel reset the connection, and the client typically sees
 * `write EPIPE` or ECONNRESET before it reads the answer. Here that close becomes: half-close
 * (the answer and a FIN go out), keep reading the rest of the request body and discard it —
 * never buffered — until it ends, `maxBytes` were discarded or `maxMs` passed, then destroy.
 */
export function lingerBeforeClose(req: http.IncomingMessage, maxBytes: number, maxMs: number): void {
  // A destroyed request has lost its socket and reads nothing more: nothing to linger on.
  const socket = req.socket as net.Socket | null;
  if (!socket || req.destroyed) return;
  const destroySoon = socket.destroySoon;
  if (typeof destroySoon !== "function") return;
  socket.destroySoon = function lingeringDestroySoon(this: net.Socket) {
    socket.destroySoon = destroySoon; // once
    const close = () => {
      if (!socket.destroyed) destroySoon.call(socket);
    };
    if (req.complete || req.readableEnded || socket.destroyed || !socket.readable) {
      close();
      return;
    }
    if (socket.writable) socket.end();
    let discarded = 0;
    const stop = () => {
      clearTimeout(timer);
      req.off("readable", drain);
      req.off("end", stop);
      req.off("error", stop);
      socket.off("close", stop);
      close();
    };
    const drain = () => {
      for (let chunk = req.read() as Buffer | null; chunk !== null; chunk = req.read() as Buffer | null) {
        discarded += chunk.byteLength;
        if (discarded >= maxBytes) {
          stop();
          return;
        }
      }
    };
    const timer = setTimeout(stop, maxMs);
    timer.unref();
    req.on("readable", drain);
    req.once("end", stop);
    req.once("error", stop);
    socket.once("close", stop);
    drain();
  };
}

/**
 * An HTTP/1.1 request body for connect-node: like `for await (const chunk of req)`, except that
 * a handler that stops reading early (an oversized message is refused after its length
 * prefix) leaves the request open. Readable's default iterator destroys the request then,
 * which detaches it from its socket and stops the connection reading, so the rest of the
 * upload could only be met with a reset; `lingerBeforeClose` reads it instead.
 */
async function* bodyKeptOpen(req: http.IncomingMessage): AsyncGenerator<Uint8Array> {
  yield* req.iterator({ destroyOnReturn: false }) as AsyncIterableIterator<Uint8Array>;
}

/** What was read of a request body before the call was handed to connect-es (fast-unary.ts). */
export interface ReadSoFar {
  readonly chunks: readonly Buffer[];
  /** The body ended: nothing more is to be read from the request. */
  readonly ended: boolean;
}

/** The chunks already read of a request body, then the rest of it. */
async function* replayed(read: ReadSoFar, rest: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for (const c of read.chunks) yield c;
  if (!read.ended) yield* rest;
}

/**
 * A request body that must make progress: while the handler waits for the next chunk, at
 * most `stallMs` may pass; then `stall()` resets the request (HTTP/2: RST_STREAM CANCEL;
 * HTTP/1.1: the connection) and the wait ends with DEADLINE_EXCEEDED. Time the handler
 * spends not reading (backpressure, work) does not count: only waiting on the client.
 */
export async function* bodyWithStallTimeout(body: AsyncIterable<Uint8Array>, stallMs: number, stall: () => void): AsyncGenerator<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  let stuck = false;
  try {
    for (;;) {
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          stuck = true;
          stall();
          reject(new ConnectError(`the request body made no progress for ${stallMs} ms`, Code.DeadlineExceeded));
        }, stallMs);
        timer.unref();
      });
      stalled.catch(() => undefined);
      const next = await Promise.race([it.next(), stalled]);
      clearTimeout(timer);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    clearTimeout(timer);
    // After a stall the inner read may still be pending: a generator's return() would wait
    // for it, so it is not awaited then (the reset request ends it).
    if (stuck) it.return?.().catch(() => undefined);
    else await it.return?.();
  }
}

/**
 * The answer to a path no handler serves. gRPC and gRPC-Web clients read the status from
 * `grpc-status` (a trailers-only response, HTTP 200): UNIMPLEMENTED. Connect and plain HTTP
 * get 404 — the Connect protocol's answer for an unknown procedure — with a Connect JSON
 * error body ({code: "unimplemented"}).
 */
function answerUnknownPath(path: string, contentType: string, res: NodeResponse): void {
  const ct = contentType.toLowerCase();
  const message = `unknown method ${path}`;
  if (ct.startsWith("application/grpc")) {
    const web = ct.startsWith("application/grpc-web");
    writeHead(res, 200, {
      "content-type": web ? (ct.startsWith("application/grpc-web-text") ? "application/grpc-web-text+proto" : "application/grpc-web+proto") : "application/grpc+proto",
      "grpc-status": String(Code.Unimplemented),
      "grpc-message": encodeGrpcMessage(message),
    });
    res.end();
    return;
  }
  const body = JSON.stringify({ code: "unimplemented", message });
  writeHead(res, 404, { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) });
  res.end(body);
}

/**
 * Calls in progress, aborted one by one at shutdown. Handing connect-node one shared shutdown
 * signal instead makes every call add an "abort" listener to it for its whole life (removed
 * only when the call ends), so a few hundred concurrent calls trip Node's
 * MaxListenersExceededWarning and each removal scans the whole listener list.
 */
type AbortableContext = HandlerContext & { abort(reason?: unknown): void };

class InFlightCalls {
  private readonly calls = new Set<AbortableContext>();
  private reason: unknown = undefined;
  private stopped = false;

  add(context: AbortableContext): void {
    if (this.stopped) {
      context.abort(this.reason);
      return;
    }
    if (context.signal.aborted) return;
    this.calls.add(context);
    context.signal.addEventListener("abort", () => this.calls.delete(context), { once: true });
  }

  abortAll(reason: unknown): void {
    this.stopped = true;
    this.reason = reason;
    for (const c of [...this.calls]) c.abort(reason);
    this.calls.clear();
  }
}

/**
 * Refuses a call whose deadline has already passed (`grpc-timeout: 0m` or `1n`,
 * `connect-timeout-ms: 0`), before its body is read or any work is done. connect-node only
 * aborts such a call's signal, which a handler that does not watch it ignores.
 */
function refuseExpired(context: HandlerContext): void {
  const left = context.timeoutMs();
  if (left !== undefined && left <= 0) throw new ConnectError("the deadline expired before the call started", Code.DeadlineExceeded);
  if (context.signal.aborted) {
    const reason: unknown = context.signal.reason;
    if (reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) throw reason;
  }
}

/** Options of the adapter: Connect router options plus the routes and a logger. */
export interface AdapterOptions extends Partial<ConnectRouterOptions> {
  readonly routes: (router: ConnectRouter) => void;
  readonly readMaxBytes: number;
  readonly log: EngineLogger;
  /** A request body the handler waits on that makes no progress for this long is reset. */
  readonly stallTimeoutMs?: number;
}

/** A Node request handler (http and http2) over the Connect router. */
export function nodeAdapter(options: AdapterOptions): (req: NodeRequest, res: NodeResponse, readSoFar?: ReadSoFar) => void {
  const gate = options.requestGate;
  const { shutdownSignal, ...routerOptions } = options;
  const inFlight = new InFlightCalls();
  shutdownSignal?.addEventListener("abort", () => inFlight.abortAll(shutdownSignal.reason), { once: true });
  const router = createConnectRouter({
    ...routerOptions,
    requestGate: async (context) => {
      recordThrownError(context);
      refuseExpired(context);
      // connect-node's handler context has abort() (not in its public type).
      inFlight.add(context as AbortableContext);
      if (gate) await gate(context);
    },
  });
  options.routes(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  // Enough for the rest of any upload a little over the limit; never more than the cap.
  const lingerMaxBytes = Math.min(2 * options.readMaxBytes, LINGER_MAX_BYTES);
  return (req, res, readSoFar) => {
    const path = (req.url ?? "").split("?", 2)[0] ?? "";
    const handler = paths.get(path);
    // When the answer is out but the request body was not fully read, stop the upload.
    // HTTP/2: when the answer is out before the request body was read (an oversized message
    // is refused unread), reset just this stream so the client stops sending (early-answer.ts).
    if ("stream" in req && req.stream) {
      const stream = req.stream;
      resetAfterCompatAnswer(stream, () => req.complete);
    }
    // HTTP/1.1: a request body that arrived in full but was not read to its end (the handler
    // stopped early; see bodyKeptOpen) is discarded once the answer is out, so the connection
    // reads on and can carry the next request.
    if (!("stream" in req)) {
      res.once("finish", () => {
        if (req.complete && !req.readableEnded && !req.destroyed) req.resume();
      });
    }
    if (!handler) {
      answerUnknownPath(path, String(req.headers["content-type"] ?? ""), res);
      return;
    }
    const contentType = String(req.headers["content-type"] ?? "");
    const { values, slot } = contextValuesWithSlot();
    // Lets a WatchRuns stream whose client stopped reading be reset (see watch-stream.ts).
    attachStreamReset(values, req, res);
    // The TLS socket, for a client certificate mapped in the auth file (auth/peer.ts).
    attachPeer(values, req);
    const fromNode = universalRequestFromNodeRequest(req, res as never, undefined, values);
    // HTTP/1.1: a body the handler stops reading early stays open for the lingering close.
    const rest = "stream" in req ? fromNode.body : bodyKeptOpen(req);
    // Handed over by the direct path (fast-unary.ts): what it read comes first.
    const body = readSoFar ? replayed(readSoFar, rest as AsyncIterable<Uint8Array>) : rest;
    const stallMs = options.stallTimeoutMs;
    const uReq = {
      ...fromNode,
      body:
        stallMs !== undefined && stallMs > 0 && !req.complete
          ? bodyWithStallTimeout(body as AsyncIterable<Uint8Array>, stallMs, () => {
              if ("stream" in req) {
                if (!req.stream.closed) req.stream.close(http2.constants.NGHTTP2_CANCEL);
              } else req.socket.destroy();
            })
          : body,
    };
    handler(uReq)
      .then((uRes) => withErrorDetails(contentType, uRes, { maxMessageBytes: options.readMaxBytes, thrown: slot }))
      .then((uRes) => {
        // HTTP/1.1: an answer sent before the request body was read leaves the connection
        // mid-request; close it after this response rather than let the client reuse it
        // (it may stop uploading, and the next request would be read as this one's body).
        // The close lingers, so a client still uploading gets to read the answer.
        if (!("stream" in req) && !req.complete) {
          lingerBeforeClose(req, lingerMaxBytes, LINGER_MS);
          const header = new Headers(uRes.header);
          header.set("connection", "close");
          return { ...uRes, header };
        }
        return uRes;
      })
      .then((uRes) => universalResponseToNodeResponse(uRes, res as never))
      .catch((reason: unknown) => {
        // The client hung up while the answer was being written (connect-node reports a
        // destroyed stream or reset connection as ABORTED; the request's own signal is
        // aborted only by its stream or connection closing): not a server problem.
        if ((reason as { code?: unknown })?.code === Code.Aborted || uReq.signal.aborted) {
          options.log.debug({ err: reason, method: path }, "client went away before the response was written");
          return;
        }
        options.log.warn({ err: reason, method: path }, "response failed");
      });
  };
}
