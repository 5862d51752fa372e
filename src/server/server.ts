/**
 * The network server: every service on one port, speaking gRPC, gRPC-Web and the Connect
 * protocol. Cleartext serves HTTP/2 (prior knowledge) and HTTP/1.1 on the same port by
 * sniffing the HTTP/2 connection preface; with a certificate, TLS negotiates h2 or
 * http/1.1 through ALPN. Messages larger than `maxMessageBytes` are refused before parsing.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import type { Config } from "../config.js";
import type { Engine, EngineLogger } from "../engine/engine.js";
import { EngineError } from "../engine/errors.js";
import { AdminService } from "../gen/actionqueue/v1/admin_service_pb.js";
import { RunService } from "../gen/actionqueue/v1/run_service_pb.js";
import { TaskService } from "../gen/actionqueue/v1/task_service_pb.js";
import { WorkerService } from "../gen/actionqueue/v1/worker_service_pb.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { nodeAdapter } from "./adapter.js";
import { fastUnary } from "./fast-unary.js";
import { ConnectionTracker, http2Options } from "./connections.js";
import { withCors } from "./cors.js";
import { Admission, admissionInterceptor, shedAtTheDoor } from "./admission.js";
import type { ServiceContext } from "./context.js";
import { toConnectError } from "./errors.js";
import { HealthState, healthService } from "./health.js";
import { reflectionV1, reflectionV1alpha } from "./reflection.js";
import { adminService } from "./services/admin-service.js";
import { runService } from "./services/run-service.js";
import { taskService } from "./services/task-service.js";
import { workerService } from "./services/worker-service.js";
import { listenMetrics, type MetricsListener, withMetrics } from "./metrics/http.js";
import { UI_PATH, UiAssets, withUi } from "./ui.js";
import { metricsInterceptor } from "./metrics/interceptor.js";
import { Metrics } from "./metrics/metrics.js";
import type { AuthFile } from "./auth/auth-file.js";
import { Guard, guardService } from "./auth/guard.js";

/** A listening server. */
export interface RunningServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** The port --metrics-listen bound, or null without it. */
  readonly metricsPort: number | null;
  /** The dashboard's path on the main port (`/ui/`), or null with --ui false. */
  readonly uiPath: string | null;
  readonly health: HealthState;
  /**
   * Graceful shutdown: NOT_SERVING, stop accepting connections, close the engine (which
   * ends watches and long polls with UNAVAILABLE and finishes in-flight commits), then close
   * sessions; after `graceMs` remaining connections are destroyed.
   */
  close(graceMs: number): Promise<void>;
}

/** Raised when the port cannot be bound; the message is one line. */
export class ListenError extends Error {
  override readonly name = "ListenError";
}

const API_SERVICES: readonly DescService[] = [TaskService, RunService, WorkerService, AdminService];

/** Request compressions accepted, in order of preference (answers are never compressed). */
const COMPRESSIONS = [compressionGzip, compressionBrotli];

/**
 * Whether a call's signal was aborted from the client's side — its HTTP/2 stream reset, its
 * connection closed or reset — rather than by the server's shutdown (UNAVAILABLE) or by the
 * call's deadline (DEADLINE_EXCEEDED), the two aborts the server itself causes.
 */
export function abortedByClient(signal: AbortSignal): boolean {
  if (!signal.aborted) return false;
  const reason: unknown = signal.reason;
  return !(reason instanceof ConnectError && (reason.code === Code.Unavailable || reason.code === Code.DeadlineExceeded));
}

/**
 * The ConnectError a failure of a call is answered with, with details; logs bugs. A failure
 * after the client went away — typically ERR_STREAM_PREMATURE_CLOSE from reading a request
 * body the client abandoned (a bidirectional reflection stream, a request still being sent) —
 * is the hang-up itself, not a server error: logged at debug and answered CANCELED (nobody
 * reads it).
 */
export function callError(log: EngineLogger): (e: unknown, signal: AbortSignal, method: string) => ConnectError {
  return (e, signal, method) => {
    if (!(e instanceof ConnectError) && !EngineError.is(e) && abortedByClient(signal)) {
      log.debug({ err: e, method }, "client went away");
      return new ConnectError("the client went away", Code.Canceled, undefined, undefined, e);
    }
    return toConnectError(e, (bug) => log.error({ err: bug, method }, "unexpected error in handler"));
  };
}

/** Maps every failure to a ConnectError with details and logs bugs (see `callError`). */
function errorInterceptor(log: EngineLogger): Interceptor {
  const toError = callError(log);
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const started = performance.now();
    const convert = (e: unknown): ConnectError => toError(e, req.signal, method);
    try {
      const res = await next(req);
      if (!res.stream) {
        log.debug({ method, ms: Math.round(performance.now() - started) }, "rpc");
        return res;
      }
      const inner = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* inner;
          } catch (e) {
            throw convert(e);
          }
        })(),
      };
    } catch (e) {
      const ce = convert(e);
      log.debug({ method, code: Code[ce.code], ms: Math.round(performance.now() - started) }, "rpc failed");
      throw ce;
    }
  };
}

/**
 * Starts serving `engine` per `config`, with `metrics` on GET /metrics (and on
 * --metrics-listen); give the engine `metrics.engineObserver` for the engine's series. Throws
 * ListenError when an address is unusable.
 * With `auth` (the validated auth file) every method but health's needs a bearer token
 * (auth/guard.ts); without it the API is open (config.ts allows that on loopback only).
 */
export async function startServer(engine: Engine, config: Config, log: EngineLogger, auth: AuthFile | null = null, metrics: Metrics = new Metrics()): Promise<RunningServer> {
  const ctx: ServiceContext = { engine, config, log, gauges: { longPolls: 0, watches: 0 } };
  const all: DescService[] = [...API_SERVICES, Health, ReflectionV1, ReflectionV1alpha];
  const health = new HealthState(all.map((s) => s.typeName));
  const shutdown = new AbortController();
  // One implementation of each API service, served by connect-es and by the direct path.
  // With an auth file each implementation is wrapped once, so both paths check alike.
  const guard = auth ? new Guard(auth, engine) : null;
  const guarded = <I extends object>(service: DescService, impl: I): I => (guard ? guardService(service, impl, guard) : impl);
  const tasks = guarded(TaskService, taskService(ctx));
  const runs = guarded(RunService, runService(ctx));
  const workers = guarded(WorkerService, workerService(ctx));
  const admin = guarded(AdminService, adminService(ctx));
  const routes = (router: ConnectRouter) => {
    router.service(TaskService, tasks);
    router.service(RunService, runs);
    router.service(WorkerService, workers);
    router.service(AdminService, admin);
    router.service(Health, healthService(health));
    router.service(ReflectionV1, guarded(ReflectionV1, reflectionV1(all)));
    router.service(ReflectionV1alpha, guarded(ReflectionV1alpha, reflectionV1alpha(all)));
  };
  const admission = new Admission({ write: config.maxInflightWrites, worker: config.maxInflightWorker, read: config.maxInflightReads }, { maxUtilization: config.maxEventLoopUtilization / 100 });
  const connect = nodeAdapter({
    routes,
    log,
    stallTimeoutMs: config.stallTimeoutMs,
    readMaxBytes: config.maxMessageBytes,
    writeMaxBytes: config.maxMessageBytes,
    // Metrics first: it sees each call's outcome as the client does (after errorInterceptor).
    interceptors: [metricsInterceptor(metrics), errorInterceptor(log), admissionInterceptor()],
    requestGate: admission.gate,
    shutdownSignal: shutdown.signal,
    requireConnectProtocolHeader: false,
    // Compressed requests are accepted; responses go uncompressed (as grpc-go and grpc-java
    // servers do by default): on the networks a queue runs on, compressing every reply costs
    // more CPU than it saves wire (docs/performance.md).
    acceptCompression: COMPRESSIONS,
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    // proto3 JSON: unknown fields are an error, not silently dropped.
    jsonOptions: { ignoreUnknownFields: false },
  });
  // Plain unary gRPC calls over HTTP/2 skip connect-es's per-call machinery (fast-unary.ts);
  // everything else, and every call that is not the plain case, is connect-es's.
  const direct = fastUnary(
    {
      services: [
        [TaskService, tasks],
        [RunService, runs],
        [WorkerService, workers],
        [AdminService, admin],
      ],
      admission,
      log,
      readMaxBytes: config.maxMessageBytes,
      writeMaxBytes: config.maxMessageBytes,
      stallTimeoutMs: config.stallTimeoutMs,
      shutdownSignal: shutdown.signal,
      toError: callError(log),
      compressions: COMPRESSIONS.map((c) => c.name),
      observe: (method, code, seconds) => metrics.rpc(method, code, seconds),
    },
    connect,
  );
  // CORS first: a preflight is answered before admission and routing, and the CORS headers
  // are on the response before anything (a refusal included) can write it (cors.ts).
  // GET /metrics before all of it: answered under load shedding, and outside authentication
  // (the guard wraps the services; see metrics/http.ts and --metrics-listen).
  metrics.attach({ engine, gauges: ctx.gauges, admission });
  const api = withMetrics(metrics, withCors(config.corsOrigins, shedAtTheDoor(admission, direct)));
  // The dashboard's files in front of it all, as cheap as /metrics and as public (ui.ts).
  const ui = config.ui ? UiAssets.load() : null;
  if (ui && !ui.built) log.warn({ ui_dir: ui.dir }, "the dashboard is not built: /ui/ answers 503 until `npm run build:ui` (npm ci and npm start build it)");
  const handler = ui ? withUi(ui, api) : api;

  const sessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<net.Socket>();
  let listener: net.Server;
  let http1: http.Server | null = null;
  // Connection cap, handshake / idle timeouts, rapid-reset detection, bounded close (see
  // connections.ts for every HTTP/2 setting and limit and why).
  const tracker = new ConnectionTracker(config, log);
  const h2Options = http2Options(config);
  const onSession = (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
    tracker.session(s);
  };
  const onRequest = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    if (req.httpVersionMajor === 1) tracker.request(req as http.IncomingMessage, res as http.ServerResponse);
  };
  if (config.tlsCert && config.tlsKey) {
    const secure = http2.createSecureServer(
      {
        ...h2Options,
        cert: readFileSync(config.tlsCert),
        key: readFileSync(config.tlsKey),
        allowHTTP1: true,
        handshakeTimeout: config.handshakeTimeoutMs,
        // Mutual TLS (auth/peer.ts): when the auth file maps client certificates, clients are
        // asked for one. Not required, and no CA is checked: the certificate's fingerprint is
        // pinned in the file, and a client without one can still use a bearer token.
        ...(guard?.wantsClientCertificates ? { requestCert: true, rejectUnauthorized: false } : {}),
      },
      handler,
    );
    secure.on("session", onSession);
    secure.on("request", onRequest);
    secure.on("connection", (socket: net.Socket) => {
      socket.setNoDelay(true);
      tracker.accept(socket);
    });
    listener = secure;
  } else {
    const h2 = http2.createServer(h2Options, handler);
    h2.on("session", onSession);
    const h1 = http.createServer(
      {
        // Idle keep-alive connections close after the idle timeout; a request's headers must
        // arrive within the handshake timeout (checked every connectionsCheckingInterval).
        keepAliveTimeout: config.idleTimeoutMs,
        headersTimeout: config.handshakeTimeoutMs,
        requestTimeout: Math.max(300_000, config.handshakeTimeoutMs),
        connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(config.handshakeTimeoutMs / 4))),
      },
      handler,
    );
    h1.on("request", onRequest);
    // h1 never listens itself (the sniffing listener below hands it its connections), and
    // Node starts an http.Server's connection tracking — the headersTimeout/requestTimeout
    // checks above and what closeIdleConnections() walks — on its "listening" event. Without
    // it a keep-alive connection's second request could hold its headers open forever, and
    // an idle keep-alive connection held shutdown for the whole grace period
    // (connections.test.ts: "second request never completes its headers"; shutdown tests).
    h1.emit("listening");
    http1 = h1;
    // Decide per connection from its first bytes: the HTTP/2 preface starts with "PRI", no
    // HTTP/1.1 method does. The bytes are read in paused mode and put back with unshift, so
    // the chosen server sees the connection from its first byte.
    // noDelay: small replies go out at once instead of waiting for Nagle's algorithm to
    // collect more (with delayed ACKs on the other side, up to 40 ms per reply).
    listener = net.createServer({ noDelay: true }, (socket) => {
      if (!tracker.accept(socket)) return;
      let head = Buffer.alloc(0);
      const onReadable = () => {
        const chunk = socket.read() as Buffer | null;
        if (chunk) head = Buffer.concat([head, chunk]);
        if (head.length < 3 && "PRI".startsWith(head.toString("latin1"))) {
          socket.once("readable", onReadable);
          return;
        }
        socket.unshift(head);
        (head.toString("latin1").startsWith("PRI") ? h2 : h1).emit("connection", socket);
      };
      socket.once("readable", onReadable);
      socket.on("error", () => socket.destroy());
    });
  }
  listener.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const why = e.code === "EADDRINUSE" ? "address already in use" : e.code === "EACCES" ? "permission denied" : e.code === "EADDRNOTAVAIL" ? "address not available" : e.message;
      reject(new ListenError(`cannot listen on ${config.host}:${config.port}: ${why}`));
    };
    listener.once("error", onError);
    listener.listen(config.port, config.host, () => {
      listener.off("error", onError);
      resolve();
    });
  });
  const address = listener.address() as net.AddressInfo;
  let metricsListener: MetricsListener | null = null;
  if (config.metricsListen) {
    const { host, port } = config.metricsListen;
    try {
      metricsListener = await listenMetrics(metrics, host, port);
    } catch (e) {
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      http1?.close();
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === "EADDRINUSE" ? "address already in use" : code === "EACCES" ? "permission denied" : code === "EADDRNOTAVAIL" ? "address not available" : (e as Error).message;
      throw new ListenError(`cannot listen on ${host}:${port} (--metrics-listen): ${why}`);
    }
    log.info({ metrics_listen: `${host}:${metricsListener.port}`, metrics_port: metricsListener.port }, "serving metrics");
  }

  let closing: Promise<void> | null = null;
  return {
    port: address.port,
    metricsPort: metricsListener?.port ?? null,
    uiPath: ui ? UI_PATH : null,
    health,
    close(graceMs: number) {
      closing ??= (async () => {
        health.stopServing();
        const stopped = new Promise<void>((resolve) => listener.close(() => resolve()));
        const metricsStopped = metricsListener?.close();
        // Engine first: refuses new commands (UNAVAILABLE), ends watches and long polls, and
        // finishes the commits in flight before closing LMDB.
        await engine.close();
        tracker.closeAll(graceMs);
        shutdown.abort(new ConnectError("the server is shutting down", Code.Unavailable));
        // HTTP/2: GOAWAY, then the session closes when its streams are done.
        for (const s of sessions) s.close();
        // HTTP/1.1: idle keep-alive connections hold nothing in flight. close() closes them
        // and stops the connection-tracking interval (h1 itself holds no listening handle).
        http1?.close();
        const deadline = setTimeout(() => {
          for (const s of sessions) s.destroy();
          for (const s of sockets) s.destroy();
        }, graceMs);
        deadline.unref();
        await stopped;
        await metricsStopped;
        clearTimeout(deadline);
      })();
      return closing;
    },
  };
}
