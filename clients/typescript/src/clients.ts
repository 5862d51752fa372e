/**
 * The four service clients over one transport, in two flavours: `createActionQueueClients`
 * (plain Connect clients that throw ConnectError, for callers that bring their own
 * transport and error handling) and `createTypedClients` (the same shape, whose calls throw
 * the typed errors of ./errors.ts). Transport-agnostic: both the Node entry (createClient)
 * and the browser entry (createWebClient) build on this file.
 */
import type { DescService } from "@bufbuild/protobuf";
import { type CallOptions, type Client, type Interceptor, type Transport, createClient as createConnectClient } from "@connectrpc/connect";
import { AdminService } from "./gen/actionqueue/v1/admin_service_pb.js";
import { RunService } from "./gen/actionqueue/v1/run_service_pb.js";
import { TaskService } from "./gen/actionqueue/v1/task_service_pb.js";
import { WorkerService } from "./gen/actionqueue/v1/worker_service_pb.js";
import { toActionQueueError } from "./errors.js";

/** One client per ActionQueue service, sharing a transport. */
export interface ActionQueueClients {
  readonly tasks: Client<typeof TaskService>;
  readonly runs: Client<typeof RunService>;
  readonly workers: Client<typeof WorkerService>;
  readonly admin: Client<typeof AdminService>;
}

/** Builds the four service clients over `transport`; their calls throw ConnectError as Connect does. */
export function createActionQueueClients(transport: Transport): ActionQueueClients {
  return {
    tasks: createConnectClient(TaskService, transport),
    runs: createConnectClient(RunService, transport),
    workers: createConnectClient(WorkerService, transport),
    admin: createConnectClient(AdminService, transport),
  };
}

/** Call defaults of `createTypedClients`. */
export interface TypedClientOptions {
  /**
   * Deadline in milliseconds of every unary call that sets no `timeoutMs` of its own.
   * Streams (WatchRuns) get none: they are meant to stay open. A LeaseRuns long poll gets
   * this plus its requested `wait`, so that a poll is not cut short by the default.
   * Undefined: no deadline.
   */
  readonly timeoutMs?: number | undefined;
}

/**
 * Builds the four service clients over `transport`, with calls that throw the typed errors
 * (ActionQueueError and subclasses, the ConnectError as `cause`) — for unary calls and for
 * errors met while iterating a stream.
 *
 * Why a wrapper and not an interceptor: connect-es passes whatever an interceptor throws
 * through `ConnectError.from`, which would wrap the typed error back into a ConnectError
 * (code UNKNOWN). The mapping has to happen outside the transport.
 */
export function createTypedClients(transport: Transport, options: TypedClientOptions = {}): ActionQueueClients {
  return {
    tasks: typedClient(TaskService, transport, options),
    runs: typedClient(RunService, transport, options),
    workers: typedClient(WorkerService, transport, options),
    admin: typedClient(AdminService, transport, options),
  };
}

/** A generated client method, untyped. */
type AnyMethod = (request: unknown, options?: CallOptions) => unknown;

/** One service client whose methods map errors with toActionQueueError. */
function typedClient<S extends DescService>(service: S, transport: Transport, options: TypedClientOptions): Client<S> {
  const raw = createConnectClient(service, transport) as unknown as Record<string, AnyMethod>;
  const out: Record<string, AnyMethod> = {};
  for (const method of service.methods) {
    const fn = raw[method.localName];
    if (fn === undefined) continue;
    switch (method.methodKind) {
      case "unary": {
        const isLongPoll = service.typeName === WorkerService.typeName && method.name === "LeaseRuns";
        out[method.localName] = async (request, callOptions) => {
          try {
            return await fn(request, withDefaultTimeout(callOptions, options.timeoutMs, isLongPoll ? waitMs(request) : 0));
          } catch (e) {
            throw toActionQueueError(e);
          }
        };
        break;
      }
      case "server_streaming":
        out[method.localName] = (request, callOptions) => mapStreamErrors(fn(request, callOptions) as AsyncIterable<unknown>);
        break;
      default:
        // No client- or bidi-streaming rpc exists in actionqueue.v1; a future one passes through.
        out[method.localName] = fn;
    }
  }
  return out as unknown as Client<S>;
}

/** `callOptions` with `timeoutMs` set to the default (+ `extraMs`) unless the caller set one. */
function withDefaultTimeout(callOptions: CallOptions | undefined, timeoutMs: number | undefined, extraMs: number): CallOptions | undefined {
  if (timeoutMs === undefined || timeoutMs <= 0 || callOptions?.timeoutMs !== undefined) return callOptions;
  return { ...callOptions, timeoutMs: timeoutMs + extraMs };
}

/** The `wait` of a LeaseRuns request (a message or an init object), in milliseconds; 0 when absent. */
function waitMs(request: unknown): number {
  const wait = (request as { wait?: { seconds?: bigint | number; nanos?: number } } | undefined)?.wait;
  if (wait === undefined) return 0;
  return Number(wait.seconds ?? 0) * 1000 + Math.ceil((wait.nanos ?? 0) / 1e6);
}

/** Re-yields `stream`, turning a ConnectError thrown while reading into the typed error. */
async function* mapStreamErrors<T>(stream: AsyncIterable<T>): AsyncGenerator<T, void, undefined> {
  try {
    yield* stream;
  } catch (e) {
    throw toActionQueueError(e);
  }
}

/**
 * An interceptor that sets `headers` and, with a `token`, `authorization: Bearer <token>` on
 * every request (a header set on the call itself wins).
 */
export function headersInterceptor(headers: Readonly<Record<string, string>> | undefined, token: string | undefined): Interceptor {
  const all = new Headers(headers);
  if (token !== undefined && token !== "") all.set("authorization", `Bearer ${token}`);
  return (next) => (req) => {
    all.forEach((value, name) => {
      if (!req.header.has(name)) req.header.set(name, value);
    });
    return next(req);
  };
}
