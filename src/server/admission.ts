/**
 * Admission control (docs/operations.md, "Load shedding"). Every API call belongs to a class;
 * each class has a bound on the calls of it in flight (admitted, not yet answered). Past the
 * bound a call is refused at once with RESOURCE_EXHAUSTED — ErrorInfo reason OVERLOADED,
 * metadata naming the limit and the class, and a QuotaFailure — instead of joining work it
 * would only time out in: under overload the server keeps answering at its capacity and
 * refuses the excess, rather than slowing every call down until none meets its deadline.
 *
 * Classes:
 *   write   commands that change state (SubmitTask, BatchSubmitTasks, CancelTask, run commands)
 *   worker  WorkerService calls, but LeaseRuns with a wait
 *   read    Get* and List* queries, GetStats, GetCaller
 *   exempt  grpc.health.v1 and reflection (answered without touching the engine, never
 *           refused), the operator's AdminService commands (PauseEngine, PauseQueue, …),
 *           and the streams with their own gauges: WatchRuns (--max-watches) and
 *           LeaseRuns with a wait (--max-long-polls)
 *
 * Where: a call takes its slot in the router's request gate (`Admission.gate`), which
 * connect-es runs as soon as the call's headers are in, before its body is read, and holds it
 * until the call's context ends (answer written, client gone, deadline). So a slot covers the
 * whole life of the call in this process — reading, decoding, the engine, encoding — and a
 * refusal costs no body read, no decoding and no engine work. Counting only around the
 * handler (an interceptor) is not enough on Node: under overload the calls pile up before
 * the handler, each taking its share of the one event loop, until none meets its deadline.
 * gRPC calls over HTTP/2 — the bulk of any heavy load — are refused earlier still, at the
 * door (`shedAtTheDoor`), before connect-es sees them: refusing has to cost far less than
 * serving, or refusing alone fills the event loop.
 *
 * A call whose deadline already passed, or whose client went away, is not worked on: it ends
 * DEADLINE_EXCEEDED (or CANCELED) at once, both at the gate and again right before its
 * handler (`admissionInterceptor`). The engine's command queue has its own bound
 * (--max-queued-commands) behind this one.
 */
import type http2 from "node:http2";
import { performance } from "node:perf_hooks";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { EngineError } from "../engine/errors.js";
import { ErrorInfoSchema, QuotaFailureSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { resetAfterAnswer } from "./early-answer.js";
import { ERROR_DOMAIN, engineToConnect } from "./errors.js";
import { type NodeRequest, type NodeResponse } from "./node-http.js";

/** The classes of calls with an in-flight bound. */
export const ADMISSION_CLASSES = ["write", "worker", "read"] as const;
export type AdmissionClass = (typeof ADMISSION_CLASSES)[number];

/** In-flight bound per class; 0 = unbounded. */
export type AdmissionLimits = Readonly<Record<AdmissionClass, number>>;

const EXEMPT_SERVICES = new Set(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]);

/**
 * The class of a call, or null when it is exempt. `message` is the request of a unary call
 * (LeaseRuns with a wait is a long poll, governed by --max-long-polls).
 */
export function classOf(service: string, method: string, message?: unknown): AdmissionClass | null {
  if (EXEMPT_SERVICES.has(service)) return null;
  if (service === "actionqueue.v1.RunService" && method === "WatchRuns") return null;
  if (service === "actionqueue.v1.WorkerService") {
    if (method === "LeaseRuns" && hasWait(message)) return null;
    return "worker";
  }
  if (method.startsWith("Get") || method.startsWith("List")) return "read";
  if (service === "actionqueue.v1.AdminService") return null;
  return "write";
}

function hasWait(message: unknown): boolean {
  const wait = (message as { wait?: { seconds?: bigint; nanos?: number } } | undefined)?.wait;
  return wait !== undefined && ((wait.seconds ?? 0n) > 0n || (wait.nanos ?? 0) > 0);
}

/** Calls in flight at once, in a window, that show calls are queueing (see `Admission`). */
const QUEUEING_CALLS = 64;

/** Windows in a row above the target before shedding starts. */
const SUSTAINED_WINDOWS = 2;

/** Event-loop utilisation past which calls are shed (see `Admission`). */
export interface LoadShedding {
  /** Busy share of the event loop (0–1) above which the admitted share shrinks; 0 or 1: off. */
  readonly maxUtilization: number;
  /** Length of one measurement window. Default 100 ms. */
  readonly intervalMs?: number;
}

/**
 * In-flight counts per class against their bounds, and a load-aware admission ratio.
 *
 * In-flight bounds catch work that waits (commits, flushes). They cannot see work that is
 * expensive but synchronous — a GetStats over a large store costs milliseconds of the one
 * event loop and is in flight for almost none of them — nor calls arriving faster than the
 * loop can even read them: then the backlog sits in socket buffers, every call is stale by
 * the time it is read, and the server works at full speed on calls nobody waits for. What
 * shows it is the event loop's utilisation (the share of time it was busy, not idle): every
 * window (100 ms) it is compared with the target (95 %). Above it for two windows in a row
 * (a burst does not count) — and only when calls were queueing up (64 or more in flight at
 * once in the window: one client calling back to back keeps the loop just as busy, with
 * nothing waiting) — the share of calls admitted shrinks by a quarter per window (down to 1
 * in 64; reads are admitted at its square: they are shed first). At or below the target it
 * grows back by 5 % of the calls per window, and at once to all of them when the loop was
 * mostly idle (under half the target), so the first calls after the load stops are served.
 * Calls not admitted are refused like a full class, with limit `max_event_loop_utilization`.
 */
export class Admission {
  readonly limits: AdmissionLimits;
  readonly #inFlight: Record<AdmissionClass, number> = { write: 0, worker: 0, read: 0 };
  readonly #refused: Record<AdmissionClass, number> = { write: 0, worker: 0, read: 0 };
  /** Of #refused, those refused by the admission ratio (the rest: their class was full). */
  readonly #refusedByLoad: Record<AdmissionClass, number> = { write: 0, worker: 0, read: 0 };
  readonly #shedding: LoadShedding | null;
  readonly #timer: NodeJS.Timeout | null = null;
  #elu = performance.eventLoopUtilization();
  #ratio = 1;
  #lastUtilization = 0;
  /** Most calls in flight (every class) during the current window. */
  #peak = 0;
  /** Windows in a row above the target with calls piling up. */
  #above = 0;

  constructor(limits: AdmissionLimits, shedding: LoadShedding | null = null) {
    this.limits = limits;
    this.#shedding = shedding && shedding.maxUtilization > 0 && shedding.maxUtilization < 1 ? shedding : null;
    if (this.#shedding) {
      this.#timer = setInterval(() => this.#adjust(), this.#shedding.intervalMs ?? 100);
      this.#timer.unref();
    }
  }

  /** Share of calls admitted now (1: all), by the event loop's utilisation. */
  get admitRatio(): number {
    return this.#ratio;
  }

  /** Stops measuring the event loop. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  #adjust(): void {
    const target = this.#shedding?.maxUtilization ?? 1;
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, this.#elu).utilization;
    this.#elu = now;
    this.#lastUtilization = u;
    const peak = this.#peak;
    this.#peak = this.#inFlight.write + this.#inFlight.worker + this.#inFlight.read;
    // Busy with calls queueing up, not merely busy: one client calling back to back keeps
    // the loop busy too, with one call in flight.
    // Sustained, not a burst: only the second window in a row above the target starts shedding
    // (CoDel's interval); once shedding, every window above the target sheds more.
    this.#above = u > target && peak >= QUEUEING_CALLS ? this.#above + 1 : 0;
    if (this.#above >= SUSTAINED_WINDOWS || (this.#above > 0 && this.#ratio < 1)) this.#ratio = Math.max(1 / 64, this.#ratio * 0.75);
    else if (u < target / 2) this.#ratio = 1;
    else if (this.#above === 0) this.#ratio = Math.min(1, this.#ratio + 0.05);
  }

  /**
   * Refuses this call by the admission ratio (true: refuse). Reads are shed first: they are
   * admitted at the square of the ratio (a GetStats can cost more than a submit, and a read
   * refused loses nothing), writes and worker calls at the ratio.
   */
  #shedByLoad(cls: AdmissionClass): boolean {
    const r = this.#ratio;
    return r < 1 && Math.random() >= (cls === "read" ? r * r : r);
  }

  #busyError(cls: AdmissionClass): EngineError {
    const target = Math.round((this.#shedding?.maxUtilization ?? 1) * 100);
    const busy = Math.round(this.#lastUtilization * 100);
    return new EngineError("OVERLOADED", `the server is busy (event loop ${busy} % busy, target ${target} %); retry with backoff`, {
      metadata: { limit: "max_event_loop_utilization", class: cls, utilization_percent: String(busy), max_percent: String(target) },
    });
  }

  /** Calls of `cls` in flight now. */
  inFlight(cls: AdmissionClass): number {
    return this.#inFlight[cls];
  }

  /**
   * Whether a call of `cls` is to be refused now, and by which limit (the door's check; it
   * counts the refusal). null: pass it on.
   */
  refuseAtDoor(cls: AdmissionClass): "busy" | "full" | null {
    let why: "busy" | "full" | null = null;
    if (this.#shedByLoad(cls)) why = "busy";
    else {
      const limit = this.limits[cls];
      if (limit > 0 && this.#inFlight[cls] >= limit) why = "full";
    }
    if (why) this.#refused[cls]++;
    if (why === "busy") this.#refusedByLoad[cls]++;
    return why;
  }

  /** Calls of `cls` refused so far. */
  refused(cls: AdmissionClass): number {
    return this.#refused[cls];
  }

  /** Of `refused(cls)`, those refused by the event loop's utilisation (limit max_event_loop_utilization). */
  refusedByLoad(cls: AdmissionClass): number {
    return this.#refusedByLoad[cls];
  }

  /**
   * Takes a slot of `cls` and returns its release (idempotent), or throws OVERLOADED (an
   * EngineError) when the class is full or, with `byLoad`, the call falls outside the
   * admission ratio.
   */
  acquire(cls: AdmissionClass, byLoad = true): () => void {
    if (byLoad && this.#shedByLoad(cls)) {
      this.#refused[cls]++;
      this.#refusedByLoad[cls]++;
      throw this.#busyError(cls);
    }
    const limit = this.limits[cls];
    const n = this.#inFlight[cls];
    if (limit > 0 && n >= limit) {
      this.#refused[cls]++;
      throw new EngineError("OVERLOADED", `too many ${cls} calls in flight (limit ${limit}); retry with backoff`, {
        metadata: { limit: `max_inflight_${cls}`, class: cls, in_flight: String(n), max: String(limit) },
      });
    }
    this.#inFlight[cls] = n + 1;
    const total = this.#inFlight.write + this.#inFlight.worker + this.#inFlight.read;
    if (total > this.#peak) this.#peak = total;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#inFlight[cls]--;
    };
  }

  /**
   * The router's request gate: refuses a call that is past its deadline (DEADLINE_EXCEEDED),
   * whose client left (CANCELED) or whose class is full (RESOURCE_EXHAUSTED, OVERLOADED, with
   * details); otherwise takes a slot until the call's context ends. Runs before the body is
   * read, so a refused call costs little. Exempt calls pass untouched.
   */
  readonly gate = (context: HandlerContext): void => {
    const cls = classOf(context.service.typeName, context.method.name);
    if (cls === null) return;
    const signal = context.signal;
    const left = context.timeoutMs();
    if (signal.aborted || (left !== undefined && left <= 0)) throw notWorkedOn(signal);
    let release: () => void;
    try {
      // gRPC calls (HTTP/2) were already judged by the ratio at the door (shedAtTheDoor).
      release = this.acquire(cls, context.protocolName !== "grpc");
    } catch (e) {
      throw EngineError.is(e) ? engineToConnect(e) : e;
    }
    context.values.set(RELEASE, release);
    signal.addEventListener("abort", release, { once: true });
  };
}

/** The release of the slot a call holds (set by the gate). */
const RELEASE = createContextKey<(() => void) | undefined>(undefined, { description: "actionqueue admission slot" });

/** A call's deadline passed, or its client left, before it was worked on. */
export function notWorkedOn(signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectError) return reason;
  if (!signal.aborted) return new ConnectError("the deadline passed before the call started", Code.DeadlineExceeded);
  return new ConnectError("the call was canceled before it started", Code.Canceled);
}

/**
 * The interceptor, right before the handler (after the body was read): a call whose deadline
 * passed or whose client left meanwhile is not worked on; a LeaseRuns that long-polls gives
 * its slot back (long polls have their own bound, --max-long-polls). Place it inside the
 * error interceptor.
 */
export function admissionInterceptor(): Interceptor {
  return (next) => async (req) => {
    const cls = classOf(req.service.typeName, req.method.name, req.stream ? undefined : req.message);
    if (cls === null) {
      req.contextValues.get(RELEASE)?.();
      return next(req);
    }
    if (req.signal.aborted) throw notWorkedOn(req.signal);
    return next(req);
  };
}


/**
 * The door: a gRPC call over HTTP/2 whose class is full is answered right here, before
 * connect-es sees it, with a prebuilt trailers-only RESOURCE_EXHAUSTED (the same ErrorInfo,
 * reason OVERLOADED with the limit and class, and QuotaFailure the gate would give, less the
 * live count). Under heavy overload refusing must cost far less than serving, or refusing
 * alone fills the event loop and every call, admitted or not, misses its deadline; through
 * connect-es a refusal costs a good part of a served call. Other protocols (gRPC-Web, Connect)
 * pass on to the gate, which refuses them the same way at a higher cost.
 */
export function shedAtTheDoor(admission: Admission, handler: (req: NodeRequest, res: NodeResponse) => void): (req: NodeRequest, res: NodeResponse) => void {
  const refusals = new Map<string, http2.OutgoingHttpHeaders>();
  const refusalOf = (cls: AdmissionClass, why: "busy" | "full"): http2.OutgoingHttpHeaders => {
    let h = refusals.get(`${cls}/${why}`);
    if (!h) {
      const limit = admission.limits[cls];
      const message = why === "full" ? `too many ${cls} calls in flight (limit ${limit}); retry with backoff` : "the server is busy (event loop over its utilisation target); retry with backoff";
      const metadata = why === "full" ? { limit: `max_inflight_${cls}`, class: cls, max: String(limit) } : { limit: "max_event_loop_utilization", class: cls };
      const status = create(StatusSchema, {
        code: Code.ResourceExhausted,
        message,
        details: [
          anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "OVERLOADED", domain: ERROR_DOMAIN, metadata })),
          anyPack(QuotaFailureSchema, create(QuotaFailureSchema, { violations: [{ subject: "overloaded", description: message }] })),
        ],
      });
      h = {
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": String(Code.ResourceExhausted),
        "grpc-message": encodeURIComponent(message).replace(/%20/g, " ").replace(/%3B/g, ";").replace(/%2C/g, ","),
        "grpc-status-details-bin": Buffer.from(toBinary(StatusSchema, status)).toString("base64").replace(/=+$/, ""),
      };
      refusals.set(`${cls}/${why}`, h);
    }
    return h;
  };
  return (req, res) => {
    if ("stream" in req && req.stream) {
      const ct = req.headers["content-type"];
      if (typeof ct === "string" && ct.startsWith("application/grpc") && !ct.startsWith("application/grpc-web")) {
        const path = (req.url ?? "").split("?", 1)[0] ?? "";
        const slash = path.lastIndexOf("/");
        const cls = slash > 0 ? classOf(path.slice(1, slash), path.slice(slash + 1)) : null;
        const why = cls === null ? null : admission.refuseAtDoor(cls);
        if (cls !== null && why !== null) {
          const stream = req.stream;
          if (!stream.destroyed && !stream.headersSent) {
            stream.respond(refusalOf(cls, why), { endStream: true });
            resetAfterAnswer(stream, () => req.complete);
          }
          return;
        }
      }
    }
    handler(req, res);
  };
}
