/**
 * `createClient(url, options)`: the typed ActionQueue clients for Node.js, over
 * @connectrpc/connect-node. This is the Node-only part of the package; the browser entry
 * (./web.ts) must not import it.
 */
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { type ActionQueueClients, createTypedClients, headersInterceptor } from "./clients.js";

/** TLS settings for an `https://` URL. PEM text or bytes. */
export interface TlsOptions {
  /** CA certificate(s) to trust instead of Node's default roots (e.g. a self-signed server certificate). */
  readonly ca?: string | Uint8Array | undefined;
  /** Client certificate, for servers behind a proxy that wants mutual TLS. */
  readonly cert?: string | Uint8Array | undefined;
  /** Client private key matching `cert`. */
  readonly key?: string | Uint8Array | undefined;
  /** Default true. false accepts any server certificate: for local experiments only. */
  readonly rejectUnauthorized?: boolean | undefined;
}

/** Wire protocols the server speaks on its one port. */
export type Protocol = "grpc" | "connect" | "grpc-web";

/** Options of `createClient`. */
export interface ClientOptions {
  /**
   * Wire protocol. Default "grpc" (HTTP/2). "connect" and "grpc-web" are useful through
   * proxies that do not pass gRPC trailers; they also run over HTTP/2 by default.
   */
  readonly protocol?: Protocol | undefined;
  /**
   * HTTP version for "connect" and "grpc-web": default "2", which multiplexes every call
   * (long polls, watch streams, heartbeats) over one connection the way gRPC does; "1.1"
   * for proxies that only speak HTTP/1.1 (one connection per concurrent call). gRPC always
   * uses HTTP/2; asking for "1.1" with it throws.
   */
  readonly httpVersion?: "1.1" | "2" | undefined;
  /** Bearer token, sent as `authorization: Bearer <token>` on every call. */
  readonly token?: string | undefined;
  /** Extra headers sent on every call (a header given to a call itself wins). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** TLS settings; used with an `https://` URL. */
  readonly tls?: TlsOptions | undefined;
  /**
   * Default deadline of unary calls in milliseconds (not of WatchRuns; LeaseRuns gets it on
   * top of its long-poll wait). Default: none.
   */
  readonly timeoutMs?: number | undefined;
  /** Protobuf binary (default true) or JSON ("connect" and "grpc-web" only) on the wire. */
  readonly useBinaryFormat?: boolean | undefined;
  /**
   * HTTP/2 keepalive: a PING after this many milliseconds without data from the server, so
   * that a dead connection under a long watch or poll is noticed (the call then fails
   * UNAVAILABLE and watchRuns reconnects). Default 30,000; Infinity disables.
   */
  readonly pingIntervalMs?: number | undefined;
  /** More interceptors, run after the one that sets headers (e.g. logging, tracing). */
  readonly interceptors?: readonly Interceptor[] | undefined;
}

/**
 * The typed service clients `{ tasks, runs, workers, admin }` for the server at `url`
 * (`http://host:port`, or `https://host:port` when the server has a certificate). Calls
 * throw ActionQueueError subclasses (see errors.ts) with the ConnectError as `cause`.
 *
 * Connections open lazily on the first call and, idle, do not keep the process alive, so
 * a script exits on its own without closing anything.
 *
 * Throws TypeError for a URL that is not http(s) or an impossible option combination.
 */
export function createClient(url: string | URL, options: ClientOptions = {}): ActionQueueClients {
  return createTypedClients(createNodeTransport(url, options), { timeoutMs: options.timeoutMs });
}

/**
 * The connect-node transport `createClient` uses, for callers that want the raw Connect
 * clients (`createActionQueueClients(createNodeTransport(url))`) or their own wrapping.
 */
export function createNodeTransport(url: string | URL, options: ClientOptions = {}): Transport {
  const baseUrl = new URL(url);
  if (baseUrl.protocol !== "http:" && baseUrl.protocol !== "https:") throw new TypeError(`createClient: url must be http:// or https://, got ${baseUrl.href}`);
  const protocol = options.protocol ?? "grpc";
  const httpVersion = options.httpVersion ?? "2";
  if (protocol === "grpc" && httpVersion !== "2") throw new TypeError(`createClient: gRPC needs HTTP/2 (httpVersion "${httpVersion}" given)`);
  const interceptors = [headersInterceptor(options.headers, options.token), ...(options.interceptors ?? [])];
  const tls = tlsNodeOptions(options.tls);
  const base = {
    // href keeps a path prefix (a server mounted behind a proxy at /aq/); no trailing slash.
    baseUrl: baseUrl.href.replace(/\/$/, ""),
    interceptors,
    useBinaryFormat: options.useBinaryFormat ?? true,
  };
  const h2 = {
    ...base,
    httpVersion: "2" as const,
    nodeOptions: tls,
    pingIntervalMs: options.pingIntervalMs ?? 30_000,
  };
  const h1 = { ...base, httpVersion: "1.1" as const, nodeOptions: tls };
  switch (protocol) {
    case "grpc":
      return createGrpcTransport(h2);
    case "connect":
      return createConnectTransport(httpVersion === "2" ? h2 : h1);
    case "grpc-web":
      return createGrpcWebTransport(httpVersion === "2" ? h2 : h1);
    default:
      throw new TypeError(`createClient: unknown protocol ${String(protocol satisfies never)}`);
  }
}

/** Node's TLS options from ours (bytes as Buffer, which Node's TLS wants). */
function tlsNodeOptions(tls: TlsOptions | undefined): { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean } {
  const out: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean } = {};
  if (tls === undefined) return out;
  const pem = (v: string | Uint8Array) => (typeof v === "string" ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  if (tls.ca !== undefined) out.ca = pem(tls.ca);
  if (tls.cert !== undefined) out.cert = pem(tls.cert);
  if (tls.key !== undefined) out.key = pem(tls.key);
  if (tls.rejectUnauthorized !== undefined) out.rejectUnauthorized = tls.rejectUnauthorized;
  return out;
}
