/**
 * CORS on the one port, so that a page on another origin can call the API with connect-web
 * (the Connect protocol, Connect GET for the reads, or gRPC-Web). It wraps the whole request
 * handler, in front of load shedding and routing: a preflight is answered here without
 * touching admission, and every answer to an allowed origin — results, errors, streams,
 * refusals by the request gate — carries the CORS headers, because they are set on the
 * response before anything else can write it.
 *
 * The allowed origins come from --cors-origins / ACTIONQUEUE_CORS_ORIGINS (config.ts
 * validates and normalises them to what browsers send in `Origin`; none by default).
 *
 * - Preflight (OPTIONS with `Origin` and `Access-Control-Request-Method`) from an allowed
 *   origin, for POST or GET: 204 with Access-Control-Allow-Origin (the origin itself, and
 *   `Vary: Origin`), -Allow-Methods, -Allow-Headers (connect-es's `cors` lists plus
 *   `authorization`), -Max-Age. Any other preflight — origin not listed, no origin listed
 *   at all, another method — gets 403 with a one-line text body and no CORS headers: the
 *   browser fails the call either way, and the 403 says why in the browser's network panel.
 * - Other requests from an allowed origin: the response gains Access-Control-Allow-Origin,
 *   -Expose-Headers (grpc-status, grpc-message, grpc-status-details-bin, content encodings)
 *   and `Vary: Origin`. From an origin not listed they are served as before, with no CORS
 *   headers (the browser keeps the answer from the page).
 * - Requests without `Origin` (every non-browser client) pass through untouched, except that
 *   with origins configured a GET answer says `Vary: Origin`: Connect GET answers may be
 *   cached, and a cache must not hand one without CORS headers to a browser.
 *
 * Not covered: a plain gRPC call (application/grpc, not gRPC-Web) over HTTP/2 refused at the
 * door by load shedding (admission.ts writes that answer on the stream directly). Browsers do
 * not speak gRPC proper; connect-web uses the Connect protocol or gRPC-Web, which go through
 * the request gate and get the headers.
 */
import type http from "node:http";
import { cors } from "@connectrpc/connect";
import { type NodeRequest, type NodeResponse, writeHead } from "./node-http.js";

type Handler = (req: NodeRequest, res: NodeResponse) => void;

/** Methods a browser may use: POST, and GET for the reads (Connect GET). */
export const CORS_ALLOWED_METHODS: readonly string[] = cors.allowedMethods;

/**
 * Request headers a page may send: what the Connect and gRPC-Web protocols need (connect-es's
 * list), plus `authorization` for bearer tokens.
 */
export const CORS_ALLOWED_HEADERS: readonly string[] = [...cors.allowedHeaders, "authorization"];

/** Response headers a page may read: gRPC-Web status and details, content encodings. */
export const CORS_EXPOSED_HEADERS: readonly string[] = cors.exposedHeaders;

/**
 * How long a browser may reuse a preflight answer: two hours, the most Chromium honours
 * (Firefox allows a day), so a page makes one preflight per method and header set, not one
 * per call.
 */
export const CORS_MAX_AGE_SECONDS = 7200;

/**
 * Wraps `next` with CORS for `allowedOrigins` (normalised origins, as config.ts gives them).
 * With none, preflights are refused (403) and every other request passes through unchanged.
 */
export function withCors(allowedOrigins: readonly string[], next: Handler): Handler {
  const origins = new Set(allowedOrigins);
  const configured = origins.size > 0;
  const allowMethods = CORS_ALLOWED_METHODS.join(", ");
  const allowHeaders = CORS_ALLOWED_HEADERS.join(", ");
  const exposeHeaders = CORS_EXPOSED_HEADERS.join(", ");
  const maxAge = String(CORS_MAX_AGE_SECONDS);
  return (req, res) => {
    const origin = req.headers.origin;
    if (origin === undefined) {
      if (configured && req.method === "GET") res.setHeader("Vary", "Origin");
      next(req, res);
      return;
    }
    const allowed = origins.has(origin);
    const requested = req.headers["access-control-request-method"];
    if (req.method === "OPTIONS" && requested !== undefined) {
      if (!allowed || !CORS_ALLOWED_METHODS.includes(String(requested).toUpperCase())) {
        refusePreflight(res, allowed ? `method ${String(requested)} is not allowed (POST, GET)` : "origin not allowed (see --cors-origins)");
        return;
      }
      const headers: http.OutgoingHttpHeaders = {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": allowMethods,
        "access-control-allow-headers": allowHeaders,
        "access-control-max-age": maxAge,
        vary: "Origin",
      };
      // Chromium's Private Network Access: a public page calling a server on a private or
      // loopback address asks first. A listed origin is trusted to, whatever its address.
      if (req.headers["access-control-request-private-network"] === "true") headers["access-control-allow-private-network"] = "true";
      writeHead(res, 204, headers);
      res.end();
      return;
    }
    if (configured) res.setHeader("Vary", "Origin");
    if (allowed) {
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Access-Control-Expose-Headers", exposeHeaders);
    }
    next(req, res);
  };
}

function refusePreflight(res: NodeResponse, why: string): void {
  const body = `CORS preflight refused: ${why}\n`;
  writeHead(res, 403, { "content-type": "text/plain; charset=utf-8", "content-length": String(Buffer.byteLength(body)) });
  res.end(body);
}
