/**
 * Stopping the upload of an HTTP/2 request answered before its body was read (a refusal at
 * the door or the gate, an oversized message refused unread, a past deadline, an unknown
 * method): once the complete answer is submitted, RST_STREAM with NO_ERROR, as RFC 9113 §8.1
 * allows a server that responded early, so the client stops sending and the stream does not
 * stay half-open.
 *
 * When is the answer complete? A response written through the compatibility API
 * (Http2ServerResponse) always ends with trailers, empty or not, which it submits from the
 * stream's "wantTrailers" event, after "finish"; a listener added later runs after that
 * submission. Neither "finish" event will do: the stream's comes before the trailers, and
 * the response's waits, on some paths, for the request to end too — never, for a client
 * still uploading. A raw `respond(…, { endStream: true })` is complete at once.
 *
 * The reset itself then waits one turn of the event loop: since Node 22, a `close()` right
 * after the answer's frames are submitted reaches nghttp2 first and the answer is discarded;
 * the client sees its stream reset with no status at all (connect-node then waits for its
 * deadline). Node 20 sent the answer first. test/e2e/protocol-details.test.ts checks the
 * answer arrives before the reset on each path, and test/e2e/overload.test.ts that every
 * refusal at the door reaches its client.
 */
import http2 from "node:http2";

/**
 * Resets `stream` with NO_ERROR after an answer already submitted, if the client is still
 * sending then. A request whose END_STREAM has arrived (`state.remoteClose`) is left alone,
 * read or not: there is no upload to stop, and a reset of a stream both sides have ended only
 * adds a frame the client must match against a stream it has closed.
 */
export function resetAfterAnswer(stream: http2.ServerHttp2Stream, requestComplete: () => boolean): void {
  setImmediate(() => {
    if (requestComplete() || stream.closed || stream.destroyed || stream.state.remoteClose === 1) return;
    stream.close(http2.constants.NGHTTP2_NO_ERROR);
  });
}

/** As resetAfterAnswer, for an answer (about to be) written through the compatibility API. */
export function resetAfterCompatAnswer(stream: http2.ServerHttp2Stream, requestComplete: () => boolean): void {
  stream.once("wantTrailers", () => resetAfterAnswer(stream, requestComplete));
}
