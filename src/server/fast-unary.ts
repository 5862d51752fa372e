/**
 * The direct path of unary gRPC calls over HTTP/2: the bulk of the traffic (every SubmitTask,
 * LeaseRuns, CompleteAttempt…) answered without connect-es's per-call machinery.
 *
 * Through connect-node a unary call costs the server, beyond the HTTP/2 exchange and the
 * handler itself, three AbortControllers (deadline, linked, request), two AbortError
 * DOMExceptions with their stack traces (one of them before the trailers go out), four
 * Headers objects, a URL parse and a dozen async-generator layers between the socket and the
 * handler. Measured on the 2-core development VM against the same server: a Health/Check
 * (no engine work) took 0.62 ms from a raw HTTP/2 client where a bare node:http2 exchange
 * takes 0.24 ms, and a sequential SubmitTask from the Connect client went from a median of
 * about 2.0 ms to 1.4 ms on this path — time every call spends on the one event loop, so at a
 * few hundred calls per second it is also what a woken worker waits behind.
 *
 * Only the plain case takes this path, and it answers exactly as connect-es does (the same
 * service implementations, the same error details and `grpc-message` encoding, the same
 * admission slot, deadline and stall handling): HTTP/2, POST, `content-type`
 * `application/grpc` or `application/grpc+proto`, no compression, a `grpc-timeout` of at
 * least a millisecond or none, a unary method of an API service, and a body of exactly one
 * uncompressed message within the size limit that parses. Everything else — gRPC-Web,
 * Connect, JSON, compression, streams, health and reflection, an expired deadline, and any
 * body that is not that one message (oversized, compressed flag, truncated, two messages,
 * unparseable) — goes to connect-es, the bytes read so far handed over with it, so each
 * error is raised, classified and answered in one place.
 */
import http2 from "node:http2";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { EngineLogger } from "../engine/engine.js";
import { EngineError } from "../engine/errors.js";
import { patchGrpcHeaders, type ReadSoFar } from "./adapter.js";
import { type Admission, type AdmissionClass, classOf, notWorkedOn } from "./admission.js";
import { resetAfterCompatAnswer } from "./early-answer.js";
import { engineToConnect } from "./errors.js";
import { attachPeer } from "./auth/peer.js";
import { type NodeRequest, type NodeResponse, writeHead } from "./node-http.js";


/** connect-es's handler, taking over a call (with what was read of its body, if anything). */
export type Fallback = (req: NodeRequest, res: NodeResponse, readSoFar?: ReadSoFar) => void;

type UnaryFn = (request: unknown, context: HandlerContext) => unknown;

interface Route {
  readonly service: DescService;
  readonly method: DescMethod & { readonly input: DescMessage; readonly output: DescMessage };
  readonly fn: UnaryFn;
  /** "package.Service/Method", as logged. */
  readonly name: string;
  /** The call's admission class before its message is known (null: exempt). */
  readonly cls: AdmissionClass | null;
}

export interface FastUnaryOptions {
  /** The API services with their implementations (the objects given to the Connect router). */
  readonly services: ReadonlyArray<readonly [DescService, object]>;
  readonly admission: Admission;
  readonly log: EngineLogger;
  readonly readMaxBytes: number;
  readonly writeMaxBytes: number;
  /** A request body that makes no progress this long is reset (0 or undefined: never). */
  readonly stallTimeoutMs?: number | undefined;
  /** Aborts every call in progress (server shutdown). */
  readonly shutdownSignal?: AbortSignal | undefined;
  /** The ConnectError a failure of the handler is answered with (the error interceptor's). */
  readonly toError: (e: unknown, signal: AbortSignal, method: string) => ConnectError;
  /**
   * Names of the compressions the server accepts, in its order of preference: as connect-es
   * does, an answer names in `grpc-encoding` the first the client accepts (its messages stay
   * uncompressed: the server compresses nothing, see server.ts).
   */
  readonly compressions: readonly string[];
  /**
   * Told of each call answered after its handler was reached (as connect-es's interceptors
   * see calls): its method, gRPC code (0: OK) and duration in seconds (metrics).
   */
  readonly observe?: ((method: DescMethod, code: number, seconds: number) => void) | undefined;
}

const CONTENT_TYPE = "application/grpc+proto";
const GRPC_OK = "0";

/** Wraps connect-es's handler (`fallback`) with the direct path for plain unary gRPC calls. */
export function fastUnary(options: FastUnaryOptions, fallback: Fallback): (req: NodeRequest, res: NodeResponse) => void {
  const routes = new Map<string, Route>();
  for (const [service, impl] of options.services) {
    for (const method of service.methods) {
      if (method.methodKind !== "unary") continue;
      const fn: unknown = (impl as Record<string, unknown>)[method.localName];
      if (typeof fn !== "function") continue; // unimplemented: connect-es answers it
      const name = `${service.typeName}/${method.name}`;
      routes.set(`/${name}`, { service, method, fn: (fn as UnaryFn).bind(impl), name, cls: classOf(service.typeName, method.name) });
    }
  }
  const calls = new Set<FastCall>();
  let closing = false;
  const shutdown = options.shutdownSignal;
  shutdown?.addEventListener(
    "abort",
    () => {
      closing = true;
      for (const c of [...calls]) c.abort(shutdown.reason);
    },
    { once: true },
  );
  const shared: Shared = { options, calls, fallback };

  return (req, res) => {
    if (closing || !("stream" in req)) return fallback(req, res);
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const route = routes.get(q < 0 ? url : url.slice(0, q));
    if (!route || req.method !== "POST") return fallback(req, res);
    const h = req.headers;
    const ct = h["content-type"];
    if (ct !== "application/grpc" && ct !== CONTENT_TYPE) return fallback(req, res);
    const encoding = h["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return fallback(req, res);
    let timeoutMs: number | undefined;
    const timeout = h["grpc-timeout"];
    if (timeout !== undefined) {
      const parsed = parseTimeout(typeof timeout === "string" ? timeout : null, Number.MAX_SAFE_INTEGER);
      // Malformed, or already over (connect-es refuses those before reading the body).
      if (parsed.error || parsed.timeoutMs === undefined || parsed.timeoutMs < 1) return fallback(req, res);
      timeoutMs = parsed.timeoutMs;
    }
    const answerEncoding = responseEncoding(h["grpc-accept-encoding"], options.compressions);
    new FastCall(shared, route, req, res as http2.Http2ServerResponse, timeoutMs, answerEncoding).start();
  };
}

/** The compression connect-es names in an answer's `grpc-encoding` (see compressionNegotiate). */
function responseEncoding(accepted: string | string[] | undefined, available: readonly string[]): string | undefined {
  if (accepted === undefined) return undefined;
  for (const name of (Array.isArray(accepted) ? accepted.join(",") : accepted).split(",")) {
    const n = name.trim();
    if (n !== "" && available.includes(n)) return n;
  }
  return undefined;
}

interface Shared {
  readonly options: FastUnaryOptions;
  readonly calls: Set<FastCall>;
  readonly fallback: Fallback;
}

/** One call on the direct path. */
class FastCall {
  readonly #s: Shared;
  readonly #route: Route;
  readonly #req: http2.Http2ServerRequest;
  readonly #res: http2.Http2ServerResponse;
  readonly #stream: http2.ServerHttp2Stream;
  readonly #controller = new AbortController();
  readonly #startedAt = performance.now();
  readonly #deadlineAt: number | undefined;
  readonly #encoding: string | undefined;
  #release: (() => void) | null = null;
  #deadlineTimer: NodeJS.Timeout | null = null;
  #stallTimer: NodeJS.Timeout | null = null;
  #lastProgress = 0;
  readonly #chunks: Buffer[] = [];
  #size = 0;
  /** Length of the message the envelope announces (-1: envelope not read yet). */
  #declared = -1;
  #ended = false;
  /** Reading the body (listeners attached). */
  #reading = false;
  /** Answered, handed to connect-es, or gone: nothing more to do. */
  #over = false;
  #context: CallContext | null = null;
  /** The request parsed and went to its handler: the call is reported to `observe` once. */
  #invoked = false;
  #observed = false;

  constructor(s: Shared, route: Route, req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, timeoutMs: number | undefined, encoding: string | undefined) {
    this.#s = s;
    this.#encoding = encoding;
    this.#route = route;
    this.#req = req;
    this.#res = res;
    this.#stream = req.stream;
    this.#deadlineAt = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    if (timeoutMs !== undefined) {
      this.#deadlineTimer = setTimeout(() => this.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeoutMs);
    }
  }

  start(): void {
    const { admission } = this.#s.options;
    // The request gate's slot, taken before the body is read (see admission.ts).
    if (this.#route.cls !== null) {
      try {
        this.#release = admission.acquire(this.#route.cls, false);
      } catch (e) {
        this.#answerError(EngineError.is(e) ? engineToConnect(e) : this.#s.options.toError(e, this.#controller.signal, this.#route.name));
        return;
      }
    }
    this.#s.calls.add(this);
    this.#stream.once("close", this.#onClose);
    this.#reading = true;
    this.#req.on("readable", this.#onReadable);
    this.#req.once("end", this.#onEnd);
    this.#req.on("error", ignore);
    this.#onReadable();
    const stallMs = this.#s.options.stallTimeoutMs ?? 0;
    if (this.#reading && stallMs > 0) {
      this.#lastProgress = performance.now();
      this.#armStall(stallMs);
    }
  }

  /** Aborts the call's signal (shutdown, deadline, client gone). */
  abort(reason: unknown): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }

  readonly #onReadable = (): void => {
    let chunk: Buffer | null;
    let got = false;
    while (this.#reading && (chunk = this.#req.read() as Buffer | null) !== null) {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
      got = true;
    }
    if (!got || !this.#reading) return;
    this.#lastProgress = performance.now();
    if (this.#declared < 0 && this.#size >= 5) {
      const head = this.#chunks[0] as Buffer;
      const env = head.length >= 5 ? head : Buffer.concat(this.#chunks);
      // A compressed (or otherwise flagged) message, or one over the limit: connect-es refuses it.
      if (env[0] !== 0) return this.#handOver();
      this.#declared = env.readUInt32BE(1);
      if (this.#declared > this.#s.options.readMaxBytes) return this.#handOver();
    }
    // More than one message in a unary call.
    if (this.#declared >= 0 && this.#size > 5 + this.#declared) this.#handOver();
  };

  readonly #onEnd = (): void => {
    if (!this.#reading) return;
    this.#ended = true;
    if (this.#declared < 0 || this.#size !== 5 + this.#declared) return this.#handOver();
    this.#stopReading();
    this.#invoke();
  };

  readonly #onClose = (): void => {
    if (this.#over) return;
    // The client went away (or reset the stream) before the answer.
    const rst = this.#stream.rstCode;
    this.abort(
      rst === http2.constants.NGHTTP2_REFUSED_STREAM
        ? new ConnectError("http/2 stream closed with error code REFUSED_STREAM (0x7)", Code.Unavailable)
        : new ConnectError(`http/2 stream closed (code 0x${(rst ?? 0).toString(16)})`, Code.Canceled),
    );
    this.#finish();
  };

  #armStall(ms: number): void {
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = null;
      if (!this.#reading) return;
      const idle = performance.now() - this.#lastProgress;
      if (idle < ms) return this.#armStall(ms - idle);
      // As connect-es's path does (adapter.ts, bodyWithStallTimeout): reset the stream.
      if (!this.#stream.closed) this.#stream.close(http2.constants.NGHTTP2_CANCEL);
      this.#finish();
    }, ms);
    this.#stallTimer.unref();
  }

  #stopReading(): void {
    if (!this.#reading) return;
    this.#reading = false;
    this.#req.off("readable", this.#onReadable);
    this.#req.off("end", this.#onEnd);
    if (this.#stallTimer) clearTimeout(this.#stallTimer);
    this.#stallTimer = null;
  }

  /** Not the plain case: connect-es takes the call over with what was read of its body. */
  #handOver(): void {
    this.#stopReading();
    this.#finish();
    this.#s.fallback(this.#req, this.#res, { chunks: this.#chunks, ended: this.#ended });
  }

  /** The call is over for this path: its slot, timers and registration go. */
  #finish(): void {
    if (this.#over) return;
    this.#over = true;
    this.#stopReading();
    this.#release?.();
    this.#release = null;
    if (this.#deadlineTimer) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = null;
    this.#s.calls.delete(this);
    this.#stream.off("close", this.#onClose);
  }

  #invoke(): void {
    const route = this.#route;
    const body = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    let message: unknown;
    try {
      message = fromBinary(route.method.input, body.subarray(5));
    } catch {
      // connect-es raises and classifies the parse error (MALFORMED_MESSAGE).
      this.#handOver();
      return;
    }
    this.#invoked = true;
    // As admissionInterceptor: a LeaseRuns that long-polls gives its slot back (--max-long-polls).
    if (route.cls !== null && classOf(route.service.typeName, route.method.name, message) === null) {
      this.#release?.();
      this.#release = null;
    }
    const signal = this.#controller.signal;
    if (signal.aborted) {
      this.#answerError(notWorkedOn(signal));
      return;
    }
    this.#context = new CallContext(route, this.#req, signal, this.#deadlineAt);
    let result: unknown;
    try {
      result = route.fn(message, this.#context);
    } catch (e) {
      this.#failed(e);
      return;
    }
    if (result instanceof Promise) result.then(this.#succeeded, this.#failed);
    else this.#succeeded(result);
  }

  readonly #succeeded = (value: unknown): void => {
    const { log, writeMaxBytes } = this.#s.options;
    log.debug({ method: this.#route.name, ms: Math.round(performance.now() - this.#startedAt) }, "rpc");
    const output = this.#route.method.output;
    let bytes: Uint8Array;
    try {
      bytes = toBinary(output, create(output, value as never));
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      this.#answerError(new ConnectError(`serialize binary: ${m}`, Code.Internal));
      return;
    }
    if (bytes.byteLength > writeMaxBytes) {
      this.#answerError(new ConnectError(`message size ${bytes.byteLength} is larger than configured writeMaxBytes ${writeMaxBytes}`, Code.ResourceExhausted));
      return;
    }
    this.#observe(0);
    if (this.#gone()) return;
    const frame = Buffer.allocUnsafe(5 + bytes.byteLength);
    frame[0] = 0;
    frame.writeUInt32BE(bytes.byteLength, 1);
    frame.set(bytes, 5);
    const res = this.#res;
    writeHead(res, 200, this.#headers());
    res.addTrailers(this.#trailers({ "grpc-status": GRPC_OK }));
    this.#finish();
    res.end(frame);
  };

  readonly #failed = (e: unknown): void => {
    const ce = this.#s.options.toError(e, this.#controller.signal, this.#route.name);
    this.#s.options.log.debug({ method: this.#route.name, code: Code[ce.code], ms: Math.round(performance.now() - this.#startedAt) }, "rpc failed");
    this.#answerError(ce);
  };

  /** Trailers with the error's status, message and details, as connect-es writes them. */
  #answerError(error: ConnectError): void {
    this.#observe(error.code);
    if (this.#gone()) return;
    const t = new Headers();
    setTrailerStatus(t, error);
    patchGrpcHeaders(t, { maxMessageBytes: this.#s.options.readMaxBytes, thrown: { error } });
    const trailers: Record<string, string> = {};
    t.forEach((v, k) => (trailers[k] = v));
    const res = this.#res;
    writeHead(res, 200, this.#headers());
    res.addTrailers(this.#trailers(trailers));
    // Answered before its body was read (refused at the gate): stop the upload.
    if (!this.#ended) {
      const req = this.#req;
      resetAfterCompatAnswer(this.#stream, () => req.complete);
    }
    this.#finish();
    res.end();
  }

  /** Reports the call's outcome to `observe`, once, if its handler was reached. */
  #observe(code: number): void {
    if (!this.#invoked || this.#observed) return;
    this.#observed = true;
    this.#s.options.observe?.(this.#route.method, code, (performance.now() - this.#startedAt) / 1000);
  }

  /** The stream cannot carry an answer any more. */
  #gone(): boolean {
    if (this.#stream.destroyed || this.#stream.closed || this.#res.headersSent) {
      this.#finish();
      return true;
    }
    return false;
  }

  #headers(): Record<string, string> {
    const h: Record<string, string> = {};
    this.#context?.setHeaders?.forEach((v, k) => (h[k] = v));
    h["content-type"] = CONTENT_TYPE;
    if (this.#encoding !== undefined) h["grpc-encoding"] = this.#encoding;
    return h;
  }

  #trailers(status: Record<string, string>): Record<string, string> {
    const t: Record<string, string> = {};
    this.#context?.setTrailers?.forEach((v, k) => (t[k] = v));
    return Object.assign(t, status);
  }
}

function ignore(): void {}

/**
 * The HandlerContext of a call on the direct path: what connect-es gives a unary handler,
 * with the headers, trailers and values made only when a handler asks for them.
 */
class CallContext implements HandlerContext {
  readonly method: DescMethod;
  readonly service: DescService;
  readonly signal: AbortSignal;
  readonly requestMethod = "POST";
  readonly protocolName = "grpc";
  readonly #req: http2.Http2ServerRequest;
  readonly #deadlineAt: number | undefined;
  #requestHeader: Headers | undefined;
  #values: ContextValues | undefined;
  /** Response headers and trailers a handler set (undefined: none). */
  setHeaders: Headers | undefined;
  setTrailers: Headers | undefined;

  constructor(route: Route, req: http2.Http2ServerRequest, signal: AbortSignal, deadlineAt: number | undefined) {
    this.method = route.method;
    this.service = route.service;
    this.signal = signal;
    this.#req = req;
    this.#deadlineAt = deadlineAt;
  }

  readonly timeoutMs = (): number | undefined => (this.#deadlineAt === undefined ? undefined : this.#deadlineAt - Date.now());

  get requestHeader(): Headers {
    if (!this.#requestHeader) {
      const h = new Headers();
      for (const [k, v] of Object.entries(this.#req.headers)) {
        if (k.startsWith(":") || v === undefined) continue;
        if (Array.isArray(v)) for (const x of v) h.append(k, x);
        else h.set(k, v);
      }
      this.#requestHeader = h;
    }
    return this.#requestHeader;
  }

  get responseHeader(): Headers {
    return (this.setHeaders ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.setTrailers ??= new Headers());
  }

  get values(): ContextValues {
    if (!this.#values) {
      this.#values = createContextValues();
      // As adapter.ts: the TLS socket, for a client certificate mapped in the auth file.
      attachPeer(this.#values, this.#req);
    }
    return this.#values;
  }

  get url(): string {
    return `${this.#req.scheme}://${this.#req.authority}${this.#req.url}`;
  }
}
