/**
 * The Node request and response of either listener (HTTP/1.1 and HTTP/2 compatibility API),
 * as every handler of the chain takes them.
 */
import type http from "node:http";
import type http2 from "node:http2";

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** `res.writeHead` for either kind of response (their overloads do not unify in @types/node 22). */
export function writeHead(res: NodeResponse, status: number, headers: http.OutgoingHttpHeaders): void {
  (res as http.ServerResponse).writeHead(status, headers);
}
