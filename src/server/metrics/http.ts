/**
 * `GET /metrics` over HTTP: on the main port, in front of everything else (CORS, load
 * shedding, authentication, routing), and on its own plain node:http listener when
 * --metrics-listen is given.
 *
 * On the main port it is answered before the admission door and the request gate, so a
 * server shedding load still says why; it is also outside authentication: /metrics on the
 * main port is open to whoever reaches that port. Operators who need it private serve it on
 * a private address with --metrics-listen (docs/operations.md, "Metrics").
 */
import http from "node:http";
import type { Metrics } from "./metrics.js";
import { type NodeRequest, type NodeResponse, writeHead } from "../node-http.js";

type Handler = (req: NodeRequest, res: NodeResponse) => void;

/** The path metrics are served on. */
export const METRICS_PATH = "/metrics";

/** Whether `req` asks for the metrics (GET or HEAD of /metrics, any query string). */
function isMetricsRequest(req: NodeRequest): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  const url = req.url ?? "";
  const q = url.indexOf("?");
  return (q < 0 ? url : url.slice(0, q)) === METRICS_PATH;
}

/** Answers `req` with the exposition text (500 with a one-line reason if collecting failed). */
function serve(metrics: Metrics, req: NodeRequest, res: NodeResponse): void {
  metrics.scrape().then(
    ({ contentType, body }) => {
      if (res.headersSent || res.writableEnded) return;
      writeHead(res, 200, { "content-type": contentType, "content-length": String(Buffer.byteLength(body)), "cache-control": "no-store" });
      if (req.method === "HEAD") res.end();
      else res.end(body);
    },
    (e: unknown) => {
      if (res.headersSent || res.writableEnded) return;
      const body = `collecting metrics failed: ${e instanceof Error ? e.message : String(e)}\n`;
      writeHead(res, 500, { "content-type": "text/plain; charset=utf-8", "content-length": String(Buffer.byteLength(body)) });
      res.end(body);
    },
  );
}

/** Wraps the main port's handler: GET /metrics is answered here, everything else goes to `next`. */
export function withMetrics(metrics: Metrics, next: Handler): Handler {
  return (req, res) => {
    if (isMetricsRequest(req)) serve(metrics, req, res);
    else next(req, res);
  };
}

/** A listening metrics-only server. */
export interface MetricsListener {
  readonly port: number;
  /** Stops listening and closes its connections. */
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` on `host:port` (plain HTTP/1.1; anything else is 404). Rejects with the
 * listen error (EADDRINUSE, EACCES, …) when the address is unusable.
 */
export async function listenMetrics(metrics: Metrics, host: string, port: number): Promise<MetricsListener> {
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    if (isMetricsRequest(req)) {
      serve(metrics, req, res);
      return;
    }
    const body = `not found: metrics are served at ${METRICS_PATH}\n`;
    writeHead(res, 404, { "content-type": "text/plain; charset=utf-8", "content-length": String(Buffer.byteLength(body)) });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Scrapers keep connections alive between scrapes: close them, idle or not.
        server.closeAllConnections();
      }),
  };
}
