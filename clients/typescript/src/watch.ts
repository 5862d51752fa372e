/**
 * `watchRuns`: RunService.WatchRuns as an async iterable of run events that survives
 * disconnects. The server stamps every event with a global revision and replays its retained
 * history from any `start_revision`, so resuming from the last revision yielded + 1 gives
 * no gap and no duplicate. Transport-agnostic (Node and browsers).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { ActionQueueClients } from "./clients.js";
import { ActionQueueError, toActionQueueError } from "./errors.js";
import type { RunEvent, RunState } from "./gen/actionqueue/v1/run_pb.js";
import type { WatchRunsRequest, WatchRunsRequestSchema } from "./gen/actionqueue/v1/run_service_pb.js";

/** Which events to watch; fields combine with AND, an absent field matches everything. */
export interface WatchFilter {
  /** Only events of these queues. */
  readonly queues?: readonly string[] | undefined;
  /** Only events of this task. */
  readonly taskId?: string | undefined;
  /** Only events of this run. */
  readonly runId?: string | undefined;
  /** Only events whose `toState` is one of these. */
  readonly states?: readonly RunState[] | undefined;
}

/** What `onReconnect` is told before each reconnection. */
export interface ReconnectInfo {
  /** Why the stream ended (typed when it came from the server or the transport). */
  readonly error: unknown;
  /** 1 for the first reconnection after a healthy stream, then 2, 3, … while it keeps failing. */
  readonly attempt: number;
  /** How long the iterator waits before reconnecting. */
  readonly delayMs: number;
  /** The revision the next stream starts from (last yielded or acknowledged + 1). */
  readonly nextRevision: bigint;
}

/** Options of `watchRuns`. */
export interface WatchRunsOptions {
  /**
   * First revision to deliver (replays the retained history from there). Undefined or 0:
   * only changes made after the call — the iterator reads the current revision once with
   * AdminService.GetStats so that even a live watch resumes without a gap. To replay
   * everything retained, pass GetStats().oldestRevision. A purged revision ends the
   * iteration with RevisionPurgedError.
   */
  readonly fromRevision?: bigint | number | undefined;
  /** Ends the iteration (quietly, no error) when aborted. `break` out of the loop does the same. */
  readonly signal?: AbortSignal | undefined;
  /** Interval of the server's progress messages on an idle stream, 100 to 60,000 ms (default 5,000). */
  readonly progressIntervalMs?: number | undefined;
  /**
   * Most events per server message while replaying or catching up (1 to 1,000; default
   * 100). The iterator yields them one by one either way; larger batches cost less per event.
   */
  readonly maxEventsPerMessage?: number | undefined;
  /** Reconnection backoff: exponential from `initialMs` (default 100) to `maxMs` (default 5,000), with jitter. */
  readonly backoff?: { readonly initialMs?: number | undefined; readonly maxMs?: number | undefined } | undefined;
  /** Called before each reconnection (for logs and metrics). Must not throw. */
  readonly onReconnect?: ((info: ReconnectInfo) => void) | undefined;
  /**
   * Called each time a stream is opened, with the revision it starts from (for a live watch,
   * once "now" is pinned). Must not throw.
   */
  readonly onConnect?: ((info: { readonly startRevision: bigint }) => void) | undefined;
}

/**
 * Codes that no reconnection can fix: the request itself is refused (INVALID_ARGUMENT,
 * OUT_OF_RANGE for REVISION_PURGED), or the caller is not allowed or the server does not
 * know the call. Everything else (UNAVAILABLE for a restart or a network error,
 * RESOURCE_EXHAUSTED for WATCH_TOO_SLOW or OVERLOADED, INTERNAL/UNKNOWN for a torn HTTP/2
 * stream, DEADLINE_EXCEEDED, ABORTED) is retried.
 */
const FATAL_CODES: ReadonlySet<Code> = new Set([
  Code.InvalidArgument,
  Code.OutOfRange,
  Code.NotFound,
  Code.AlreadyExists,
  Code.FailedPrecondition,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.Unimplemented,
]);

/**
 * Watches run events matching `filter`, in revision order, as an async iterable.
 *
 * When the stream breaks (server restart, network error, UNAVAILABLE, WATCH_TOO_SLOW) it
 * reconnects with backoff from the last revision it yielded (or the server acknowledged in
 * a progress message) + 1: no gap, no duplicate. It ends quietly on `signal` abort or when
 * the consumer leaves the loop, and ends by throwing the typed error when retrying cannot
 * help: RevisionPurgedError (the resume point was purged during a long outage; re-read the
 * state and watch again from its `oldestRevision`), InvalidArgumentError (a bad filter), or
 * another non-retryable code (see FATAL_CODES). It retries forever otherwise; use `signal`
 * or `onReconnect` to give up.
 *
 * Accepts raw or typed clients: errors are mapped either way.
 */
export async function* watchRuns(
  clients: Pick<ActionQueueClients, "runs" | "admin">,
  filter: WatchFilter = {},
  options: WatchRunsOptions = {},
): AsyncGenerator<RunEvent, void, undefined> {
  const outer = options.signal;
  const initialMs = Math.max(1, options.backoff?.initialMs ?? 100);
  const maxMs = Math.max(initialMs, options.backoff?.maxMs ?? 5_000);
  const from = options.fromRevision === undefined ? 0n : BigInt(options.fromRevision);
  if (from < 0n) throw new RangeError(`watchRuns: fromRevision must be >= 0, got ${from}`);
  // The next revision to ask for; undefined until a live watch has pinned "now".
  let next: bigint | undefined = from > 0n ? from : undefined;
  let failures = 0;
  for (;;) {
    if (outer?.aborted) return;
    // One controller per stream: aborting it ends the HTTP stream when the consumer leaves
    // the loop (the `finally` below runs on `break`) or when `signal` fires.
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort(outer?.reason);
    outer?.addEventListener("abort", onAbort, { once: true });
    let error: unknown;
    try {
      if (next === undefined) {
        const stats = await clients.admin.getStats({}, { signal: ctrl.signal });
        next = stats.revision + 1n;
      }
      const stream = clients.runs.watchRuns(request(filter, next, options), { signal: ctrl.signal });
      options.onConnect?.({ startRevision: next });
      for await (const msg of stream) {
        failures = 0;
        const kind = msg.kind;
        if (kind.case === "event") {
          if (kind.value.revision < next) continue; // defensive: never yield twice
          next = kind.value.revision + 1n;
          yield kind.value;
        } else if (kind.case === "events") {
          for (const e of kind.value.events) {
            if (e.revision < next) continue;
            next = e.revision + 1n;
            yield e;
          }
        } else if (kind.case === "progress") {
          // Everything up to `revision` was considered: a later resume may start after it.
          if (kind.value.revision + 1n > next) next = kind.value.revision + 1n;
        }
      }
      // The server ends a watch only with an error; a clean end (a proxy closing the
      // stream) is treated like a disconnect.
      error = new ActionQueueError("the watch stream ended", { code: Code.Unavailable, reason: "" });
    } catch (e) {
      if (outer?.aborted) return;
      const err = toActionQueueError(e);
      if (ActionQueueError.is(err) && FATAL_CODES.has(err.code)) throw err;
      if (!ActionQueueError.is(err)) throw err; // not a call failure: a bug, surface it
      error = err;
    } finally {
      outer?.removeEventListener("abort", onAbort);
      ctrl.abort();
    }
    failures++;
    const cap = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 30));
    // Full jitter on the upper half: many watchers of a restarted server do not reconnect in step.
    const delayMs = Math.round(cap / 2 + (Math.random() * cap) / 2);
    options.onReconnect?.({ error, attempt: failures, delayMs, nextRevision: next ?? 0n });
    if (!(await sleep(delayMs, outer))) return;
  }
}

/** The WatchRunsRequest for `filter` from revision `start`. */
function request(filter: WatchFilter, start: bigint, options: WatchRunsOptions): MessageInitShape<typeof WatchRunsRequestSchema> {
  const req: Partial<Pick<WatchRunsRequest, "queues" | "taskId" | "runId" | "states" | "startRevision" | "progressIntervalMs" | "maxEventsPerMessage">> = {
    startRevision: start,
    maxEventsPerMessage: options.maxEventsPerMessage ?? 100,
  };
  if (filter.queues !== undefined) req.queues = [...filter.queues];
  if (filter.taskId !== undefined) req.taskId = filter.taskId;
  if (filter.runId !== undefined) req.runId = filter.runId;
  if (filter.states !== undefined) req.states = [...filter.states];
  if (options.progressIntervalMs !== undefined) req.progressIntervalMs = options.progressIntervalMs;
  return req;
}

/** Waits `ms`; resolves false at once when `signal` aborts (true when the time passed). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve(false);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
