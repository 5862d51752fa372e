/**
 * `@actionqueue/client/web`: the browser entry. The same generated types, typed errors,
 * clients and watch iterator as the main entry, over @connectrpc/connect-web (fetch) instead
 * of connect-node, and nothing that needs Node. Browsers cannot speak gRPC (no trailers in
 * fetch): the protocol is "connect" or "grpc-web". The server must list the page's origin in
 * its allowed CORS origins when the page is served from another origin.
 *
 * @connectrpc/connect-web is an optional peer dependency: install it next to this package
 * when you use this entry.
 */
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { type ActionQueueClients, createTypedClients, headersInterceptor } from "./clients.js";

export * from "./generated.js";
export * from "./errors.js";
export { type ActionQueueClients, type TypedClientOptions, createActionQueueClients, createTypedClients, headersInterceptor } from "./clients.js";
export * from "./watch.js";

/** Options of `createWebClient`. */
export interface WebClientOptions {
  /** "connect" (default) or "grpc-web". */
  readonly protocol?: "connect" | "grpc-web" | undefined;
  /** Bearer token, sent as `authorization: Bearer <token>` (the server's CORS settings must allow the header). */
  readonly token?: string | undefined;
  /** Extra headers sent on every call. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Default deadline of unary calls in milliseconds (not of WatchRuns). Default: none. */
  readonly timeoutMs?: number | undefined;
  /** Protobuf binary (default true) or JSON on the wire (JSON is easier to read in devtools). */
  readonly useBinaryFormat?: boolean | undefined;
  /** A fetch to use instead of globalThis.fetch (e.g. one that sets `credentials`). */
  readonly fetch?: typeof globalThis.fetch | undefined;
  /** More interceptors, run after the one that sets headers. */
  readonly interceptors?: readonly Interceptor[] | undefined;
}

/**
 * The typed service clients `{ tasks, runs, workers, admin }` for the server at `url`, over
 * fetch. Calls throw ActionQueueError subclasses with the ConnectError as `cause`.
 */
export function createWebClient(url: string | URL, options: WebClientOptions = {}): ActionQueueClients {
  return createTypedClients(createWebTransport(url, options), { timeoutMs: options.timeoutMs });
}

/** The connect-web transport `createWebClient` uses, for callers that want the raw Connect clients. */
export function createWebTransport(url: string | URL, options: WebClientOptions = {}): Transport {
  // A relative URL resolves against the page (same-origin deployments behind one host).
  const page = (globalThis as { location?: { href?: string } }).location?.href;
  const baseUrl = new URL(url, page).href.replace(/\/$/, "");
  const common = {
    baseUrl,
    interceptors: [headersInterceptor(options.headers, options.token), ...(options.interceptors ?? [])],
    useBinaryFormat: options.useBinaryFormat ?? true,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  };
  const protocol = options.protocol ?? "connect";
  switch (protocol) {
    case "connect":
      return createConnectTransport(common);
    case "grpc-web":
      return createGrpcWebTransport(common);
    default:
      throw new TypeError(`createWebClient: unknown protocol ${String(protocol satisfies never)}`);
  }
}
