/**
 * A tiny cleartext HTTP/2 forwarding proxy in front of the real server, so that a test can
 * see the request headers a client puts on the wire (the server does not log them). Every
 * stream is forwarded as is — headers, body, response headers, trailers — so calls through
 * it behave like direct calls; `seen` holds each request's headers.
 */
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";

/** A running proxy. */
export interface H2Proxy {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Request headers of every stream so far (names lower-case, as HTTP/2 sends them). */
  readonly seen: http2.IncomingHttpHeaders[];
  close(): Promise<void>;
}

// Pseudo-headers are rebuilt by the HTTP/2 layer; connection-specific headers are illegal in HTTP/2.
const DROP = new Set([":status", "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"]);

function copy(headers: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!DROP.has(k) && v !== undefined) out[k] = v;
  return out;
}

/** Starts a proxy on a free loopback port forwarding to `target` (http://host:port). */
export async function startH2Proxy(target: string): Promise<H2Proxy> {
  const upstream = http2.connect(target);
  upstream.on("error", () => {
    // Surfaces on the forwarded streams.
  });
  const seen: http2.IncomingHttpHeaders[] = [];
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("stream", (down, headers) => {
    seen.push(headers);
    const up = upstream.request(copy(headers), { endStream: false });
    down.pipe(up);
    up.on("response", (h) => {
      const status = h[":status"] ?? 200;
      if (up.endAfterHeaders) {
        // Trailers-only response (a gRPC error without body): keep it trailers-only.
        down.respond({ ...copy(h), ":status": status }, { endStream: true });
        return;
      }
      down.respond({ ...copy(h), ":status": status }, { waitForTrailers: true });
      let trailers: http2.OutgoingHttpHeaders = {};
      up.on("trailers", (t) => {
        trailers = copy(t);
      });
      down.on("wantTrailers", () => down.sendTrailers(trailers));
      up.pipe(down);
    });
    up.on("error", () => down.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    down.on("error", () => up.close(http2.constants.NGHTTP2_CANCEL));
    down.on("close", () => {
      if (!up.closed) up.close(http2.constants.NGHTTP2_CANCEL);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    async close() {
      upstream.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle client sessions would hold close() open.
        for (const s of sessions) s.destroy();
      });
    },
  };
}
