/**
 * One HTTP request to a test server, over HTTP/1.1 (node:http) or HTTP/2 (a fresh
 * node:http2 session), resolving with the whole answer: status, headers and body. For tests
 * that look at exact status codes and headers (CORS, Connect GET), which the RPC clients hide.
 */
import http from "node:http";
import http2 from "node:http2";

/** A whole HTTP answer. */
export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** The HTTP version a request is made with. */
export type HttpVersion = "1.1" | "2";

/**
 * Sends `method path` with `headers` (and `body`, if any) to 127.0.0.1:`port`. HTTP/1.1 goes
 * through `agent` (default: a fresh connection per request); HTTP/2 opens a session per
 * request and closes it after the answer.
 */
export function request(
  port: number,
  version: HttpVersion,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Uint8Array | string,
  agent: http.Agent | false = false,
): Promise<Answer> {
  if (version === "1.1") {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      });
      req.on("error", reject);
      req.end(body);
    });
  }
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({ ":method": method, ":path": path, ...headers }, { endStream: body === undefined });
    let status = 0;
    let answerHeaders: Record<string, string | string[] | undefined> = {};
    const parts: Buffer[] = [];
    req.on("response", (h) => {
      status = Number(h[":status"]);
      answerHeaders = h;
    });
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      session.close();
      resolve({ status, headers: answerHeaders, body: Buffer.concat(parts) });
    });
    req.on("error", reject);
    if (body !== undefined) req.end(body);
  });
}

/** Repeats `probe` every 50 ms until it answers `status` or `ms` pass; returns the last answer. */
export async function until(probe: () => Promise<Answer>, status: number, ms = 20_000): Promise<Answer> {
  const end = Date.now() + ms;
  for (;;) {
    const a = await probe();
    if (a.status === status || Date.now() > end) return a;
    await new Promise((r) => setTimeout(r, 50));
  }
}
