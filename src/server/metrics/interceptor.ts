/**
 * RPCs by method and code through connect-es (gRPC-Web, Connect, streams, and every gRPC call
 * the direct path hands over); the direct path (fast-unary.ts) records its own calls through
 * the same `Metrics.rpc`, so each call is counted once, whichever path answered it.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { type Metrics, RPC_OK } from "./metrics.js";

/** The gRPC code a call failed with (a non-ConnectError is what the error interceptor makes INTERNAL). */
function codeOf(e: unknown): Code {
  return e instanceof ConnectError ? e.code : Code.Internal;
}

/**
 * Counts each call when it ends: a unary call when its answer or error is decided (with its
 * duration), a stream when it ends, fails or its client stops reading. Place it first (outside
 * the error interceptor), so failures are seen as the ConnectError the client gets.
 */
export function metricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    let res;
    try {
      res = await next(req);
    } catch (e) {
      metrics.rpc(req.method, codeOf(e), req.stream ? undefined : (performance.now() - started) / 1000);
      throw e;
    }
    if (!res.stream) {
      metrics.rpc(req.method, RPC_OK, (performance.now() - started) / 1000);
      return res;
    }
    const inner = res.message;
    return {
      ...res,
      message: (async function* () {
        let code: number = Code.Canceled;
        try {
          yield* inner;
          code = RPC_OK;
        } catch (e) {
          code = codeOf(e);
          throw e;
        } finally {
          // A consumer that stopped early (the client went away) lands here without either.
          metrics.rpc(req.method, code, undefined);
        }
      })(),
    };
  };
}
