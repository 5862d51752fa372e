/**
 * One request over raw HTTP/2 (no RPC client in between), for tests that send exact bytes
 * and headers and look at exactly what comes back.
 */
import type http2 from "node:http2";

/** What came back: response headers, trailers and the body as received. */
export interface RawAnswer {
  readonly head: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** POSTs to `path` on `session` with `headers`; `send` writes (and ends) the body. */
export function rawPost(session: http2.ClientHttp2Session, path: string, headers: Record<string, string>, send: (req: http2.ClientHttp2Stream) => void): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": path, te: "trailers", ...headers });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => (head = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("error", reject);
    req.on("end", () => resolve({ head, trailers, body: Buffer.concat(chunks) }));
    send(req);
  });
}
