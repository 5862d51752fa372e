/**
 * One small client surface over the three client kinds the e2e tests use (grpc-js with
 * run-time loaded protos, Connect over gRPC, Connect JSON over HTTP/1.1), so a scenario
 * body can run unchanged against each. Results are normalised:
 *  - enum values are short names ("READY", "SUCCESS", "CANCELED", "COMPLETED");
 *  - revisions and counters are numbers, ids and tokens strings;
 *  - timestamps are epoch milliseconds (null when unset), bytes plain Uint8Array;
 *  - every failure is a `ScenarioError` with the gRPC status code number and the
 *    google.rpc.ErrorInfo reason ("" when none).
 */
import type * as grpc from "@grpc/grpc-js";
import { ConnectError } from "@connectrpc/connect";
import {
  type ActionQueueClients,
  AttemptOutcome,
  KeyHold,
  RunEventType,
  RunState,
  StopReason,
  TaskStatus,
} from "../../clients/typescript/src/index.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { connectGrpc, connectJson, grpcErrorDetails, grpcJs, type GrpcJsClients, unary } from "./server.js";

// ---------------------------------------------------------------------------------------
// Normalised shapes
// ---------------------------------------------------------------------------------------

export type ClientKind = "grpc-js" | "connect-grpc" | "connect-json";
export const CLIENT_KINDS: readonly ClientKind[] = ["grpc-js", "connect-grpc", "connect-json"];

export type RunStateName = keyof typeof RunState;
export type OutcomeName = keyof typeof AttemptOutcome;
export type StopReasonName = keyof typeof StopReason;
export type TaskStatusName = keyof typeof TaskStatus;
export type KeyHoldName = keyof typeof KeyHold;
export type RunEventTypeName = keyof typeof RunEventType;

/** A failed call: gRPC status code number and ErrorInfo reason. */
export class ScenarioError extends Error {
  override readonly name = "ScenarioError";
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(`[${code} ${reason}] ${message}`);
  }
}

export interface NRun {
  readonly id: string;
  readonly taskId: string;
  readonly queue: string;
  readonly state: RunStateName;
  readonly occurrence: number;
  readonly attemptCount: number;
  readonly countedAttempts: number;
  readonly currentAttemptId: string;
  readonly effectivePriority: number;
  readonly scheduledAtMs: number | null;
  readonly createdAtMs: number | null;
  readonly lastStateChangeAtMs: number | null;
  readonly retryAtMs: number | null;
  readonly leaseWorkerId: string | null;
  readonly leaseExpiresAtMs: number | null;
  readonly concurrencyKey: string;
  readonly keyHold: KeyHoldName;
  readonly revision: number;
  readonly stateReason: string;
}

export interface NAttempt {
  readonly id: string;
  readonly runId: string;
  readonly number: number;
  readonly workerId: string;
  readonly outcome: OutcomeName;
  readonly error: string;
  readonly output: Uint8Array;
  readonly counted: boolean;
  readonly startedAtMs: number | null;
  readonly finishedAtMs: number | null;
}

export interface NTask {
  readonly id: string;
  readonly queue: string;
  readonly status: TaskStatusName;
  readonly statusReason: string;
  readonly runsDerived: number;
  readonly payload: Uint8Array;
  readonly contentType: string;
}

export interface NLeasedRun {
  readonly run: NRun;
  readonly task: NTask;
  readonly leaseToken: string;
  readonly leaseExpiresAtMs: number | null;
  /** The open attempt when start_attempt was set. */
  readonly attempt: NAttempt | null;
}

export interface NHeartbeat {
  readonly leaseExpiresAtMs: number | null;
  readonly state: RunStateName;
  readonly stop: boolean;
  readonly stopReason: StopReasonName;
}

export interface NItemError {
  readonly code: number;
  readonly reason: string;
  readonly message: string;
}

/** One item of a batch call: exactly one of ok / error is set. */
export interface NBatchItem<T> {
  readonly runId: string;
  readonly ok: T | null;
  readonly error: NItemError | null;
}

export interface NRunAndAttempt {
  readonly run: NRun;
  readonly attempt: NAttempt | null;
}

export interface NQueueInfo {
  readonly name: string;
  readonly paused: boolean;
}

export interface NRunCounts {
  readonly scheduled: number;
  readonly ready: number;
  readonly leased: number;
  readonly running: number;
  readonly retryWait: number;
  readonly suspended: number;
  readonly completed: number;
  readonly failed: number;
  readonly canceled: number;
}

export interface NStats {
  readonly revision: number;
  readonly oldestRevision: number;
  readonly enginePaused: boolean;
  readonly queues: ReadonlyArray<{ readonly queue: NQueueInfo; readonly runs: NRunCounts }>;
}

export interface NRunEvent {
  readonly kind: "event";
  readonly revision: number;
  readonly type: RunEventTypeName;
  readonly runId: string;
  readonly taskId: string;
  readonly queue: string;
  readonly from: RunStateName;
  readonly to: RunStateName;
  readonly reason: string;
}

export interface NWatchProgress {
  readonly kind: "progress";
  readonly revision: number;
}

export type NWatchItem = NRunEvent | NWatchProgress;

// ---------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------

export interface SubmitInput {
  readonly queue: string;
  readonly taskId?: string;
  readonly payload?: Uint8Array;
  readonly contentType?: string;
  /** Repeat policy; unset: once, now. */
  readonly repeat?: { readonly count: number; readonly intervalMs?: number };
  readonly maxAttempts?: number;
  readonly fixedBackoffMs?: number;
  readonly concurrency?: { readonly key: string; readonly slots?: number };
  readonly priority?: number;
  readonly description?: string;
}

export interface SubmitResult {
  readonly task: NTask;
  readonly created: boolean;
  readonly runs: readonly NRun[];
}

export interface LeaseInput {
  readonly queues: readonly string[];
  readonly workerId: string;
  readonly maxRuns?: number;
  readonly leaseDurationMs?: number;
  readonly waitMs?: number;
  readonly startAttempt?: boolean;
}

export interface LeaseResult {
  readonly runs: readonly NLeasedRun[];
  readonly pausedQueues: readonly string[];
}

export interface HeartbeatInput {
  readonly runId: string;
  readonly leaseToken: string;
  readonly extendByMs?: number;
}

export interface CompleteInput {
  readonly runId: string;
  readonly leaseToken: string;
  readonly attemptId: string;
  readonly outcome: OutcomeName;
  readonly output?: Uint8Array;
  readonly error?: string;
}

export interface ListRunsInput {
  readonly queue?: string;
  readonly taskId?: string;
  readonly states?: readonly RunStateName[];
}

export interface WatchInput {
  readonly queues?: readonly string[];
  readonly taskId?: string;
  readonly runId?: string;
  readonly startRevision?: number;
  readonly progressIntervalMs?: number;
}

/**
 * A running watch. Messages are read in the background into a buffer from the moment the
 * watch is opened; `next` takes them in order.
 */
export interface WatchStream extends AsyncIterable<NWatchItem> {
  /** The next message; null once the stream ended or was aborted; rejects with the stream's error, or after `timeoutMs`. */
  next(timeoutMs?: number): Promise<NWatchItem | null>;
  /** Cancels the stream from the client side (the stream then ends without error). */
  abort(): void;
}

/** The calls the scenarios need, identical over every client kind. */
export interface ScenarioClient {
  readonly kind: ClientKind;
  submit(input: SubmitInput): Promise<SubmitResult>;
  getTask(taskId: string): Promise<NTask>;
  getRun(runId: string): Promise<{ run: NRun; attempts: NAttempt[] }>;
  listRuns(filter: ListRunsInput): Promise<NRun[]>;
  lease(input: LeaseInput): Promise<LeaseResult>;
  startAttempt(runId: string, leaseToken: string): Promise<NRunAndAttempt>;
  heartbeat(input: HeartbeatInput): Promise<NHeartbeat>;
  batchHeartbeat(items: readonly HeartbeatInput[]): Promise<NBatchItem<NHeartbeat>[]>;
  complete(input: CompleteInput): Promise<NRunAndAttempt>;
  batchComplete(items: readonly CompleteInput[]): Promise<NBatchItem<NRunAndAttempt>[]>;
  releaseLease(runId: string, leaseToken: string): Promise<NRun>;
  cancelRun(runId: string): Promise<NRun>;
  suspendRun(runId: string, reason?: string): Promise<NRun>;
  resumeRun(runId: string): Promise<NRun>;
  pauseQueue(queue: string): Promise<NQueueInfo>;
  resumeQueue(queue: string): Promise<NQueueInfo>;
  stats(queues?: readonly string[]): Promise<NStats>;
  watch(input: WatchInput): WatchStream;
  close(): void;
}

/** Builds the adapter of `kind` talking to the server on `port`. */
export function scenarioClient(kind: ClientKind, port: number): ScenarioClient {
  switch (kind) {
    case "grpc-js":
      return new GrpcJsScenarioClient(grpcJs(port));
    case "connect-grpc":
      return new ConnectScenarioClient(kind, connectGrpc(port));
    case "connect-json":
      return new ConnectScenarioClient(kind, connectJson(port));
  }
}

// ---------------------------------------------------------------------------------------
// Normalisation shared by both families. Connect gives numeric enums, bigint 64-bit numbers
// and {case, value} oneofs; grpc-js/proto-loader gives enum names with their prefix, decimal
// strings and null for unset messages. The raw shapes below accept both.
// ---------------------------------------------------------------------------------------

type Int64 = bigint | string | number;
type EnumValue = number | string;

interface RawTs {
  readonly seconds: Int64;
  readonly nanos: number;
}

interface RawRun {
  readonly id: string;
  readonly taskId: string;
  readonly queue: string;
  readonly state: EnumValue;
  readonly occurrence: number;
  readonly attemptCount: number;
  readonly countedAttempts: number;
  readonly currentAttemptId: string;
  readonly effectivePriority: number;
  readonly scheduledAt?: RawTs | null | undefined;
  readonly createdAt?: RawTs | null | undefined;
  readonly lastStateChangeAt?: RawTs | null | undefined;
  readonly retryAt?: RawTs | null | undefined;
  readonly lease?: { readonly workerId: string; readonly expiresAt?: RawTs | null | undefined } | null | undefined;
  readonly concurrencyKey: string;
  readonly keyHold: EnumValue;
  readonly revision: Int64;
  readonly stateReason: string;
}

interface RawAttempt {
  readonly id: string;
  readonly runId: string;
  readonly number: number;
  readonly workerId: string;
  readonly outcome: EnumValue;
  readonly error: string;
  readonly output: Uint8Array;
  readonly counted: boolean;
  readonly startedAt?: RawTs | null | undefined;
  readonly finishedAt?: RawTs | null | undefined;
}

interface RawTask {
  readonly id: string;
  readonly spec?: { readonly queue: string; readonly payload?: { readonly data: Uint8Array; readonly contentType: string } | null | undefined } | null | undefined;
  readonly status: EnumValue;
  readonly statusReason: string;
  readonly runsDerived: number;
}

interface RawLeasedRun {
  readonly run?: RawRun | null | undefined;
  readonly task?: RawTask | null | undefined;
  readonly leaseToken: string;
  readonly leaseExpiresAt?: RawTs | null | undefined;
  readonly attempt?: RawAttempt | null | undefined;
}

interface RawHeartbeat {
  readonly leaseExpiresAt?: RawTs | null | undefined;
  readonly state: EnumValue;
  readonly stop: boolean;
  readonly stopReason: EnumValue;
}

interface RawRunAndAttempt {
  readonly run?: RawRun | null | undefined;
  readonly attempt?: RawAttempt | null | undefined;
}

interface RawItemError {
  readonly code: number;
  readonly reason: string;
  readonly message: string;
}

interface RawQueueInfo {
  readonly name: string;
  readonly paused: boolean;
}

interface RawRunCounts {
  readonly scheduled: Int64;
  readonly ready: Int64;
  readonly leased: Int64;
  readonly running: Int64;
  readonly retryWait: Int64;
  readonly suspended: Int64;
  readonly completed: Int64;
  readonly failed: Int64;
  readonly canceled: Int64;
}

interface RawStats {
  readonly queues: ReadonlyArray<{ readonly queue?: RawQueueInfo | null | undefined; readonly runs?: RawRunCounts | null | undefined }>;
  readonly enginePaused: boolean;
  readonly revision: Int64;
  readonly oldestRevision: Int64;
}

interface RawRunEvent {
  readonly revision: Int64;
  readonly type: EnumValue;
  readonly runId: string;
  readonly taskId: string;
  readonly queue: string;
  readonly fromState: EnumValue;
  readonly toState: EnumValue;
  readonly reason: string;
}

function enumName<E extends Record<string, string | number>>(e: E, prefix: string, v: EnumValue): keyof E & string {
  const name = typeof v === "number" ? (e as unknown as Record<number, string | undefined>)[v] : v.startsWith(prefix) ? v.slice(prefix.length) : v;
  if (name === undefined || !(name in e)) throw new Error(`unknown ${prefix}* enum value ${String(v)}`);
  return name as keyof E & string;
}

const runState = (v: EnumValue): RunStateName => enumName(RunState, "RUN_STATE_", v);
const outcome = (v: EnumValue): OutcomeName => enumName(AttemptOutcome, "ATTEMPT_OUTCOME_", v);
const stopReason = (v: EnumValue): StopReasonName => enumName(StopReason, "STOP_REASON_", v);
const taskStatus = (v: EnumValue): TaskStatusName => enumName(TaskStatus, "TASK_STATUS_", v);
const keyHold = (v: EnumValue): KeyHoldName => enumName(KeyHold, "KEY_HOLD_", v);
const eventType = (v: EnumValue): RunEventTypeName => enumName(RunEventType, "RUN_EVENT_TYPE_", v);

const num = (v: Int64): number => Number(v);
const ms = (ts: RawTs | null | undefined): number | null => (ts ? Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6) : null);
const bytes = (b: Uint8Array | null | undefined): Uint8Array => Uint8Array.from(b ?? new Uint8Array());

function need<T>(v: T | null | undefined, what: string): T {
  if (v === null || v === undefined) throw new Error(`response without ${what}`);
  return v;
}

function normRun(r: RawRun | null | undefined): NRun {
  const run = need(r, "run");
  return {
    id: run.id,
    taskId: run.taskId,
    queue: run.queue,
    state: runState(run.state),
    occurrence: run.occurrence,
    attemptCount: run.attemptCount,
    countedAttempts: run.countedAttempts,
    currentAttemptId: run.currentAttemptId,
    effectivePriority: run.effectivePriority,
    scheduledAtMs: ms(run.scheduledAt),
    createdAtMs: ms(run.createdAt),
    lastStateChangeAtMs: ms(run.lastStateChangeAt),
    retryAtMs: ms(run.retryAt),
    leaseWorkerId: run.lease ? run.lease.workerId : null,
    leaseExpiresAtMs: run.lease ? ms(run.lease.expiresAt) : null,
    concurrencyKey: run.concurrencyKey,
    keyHold: keyHold(run.keyHold),
    revision: num(run.revision),
    stateReason: run.stateReason,
  };
}

function normAttempt(a: RawAttempt): NAttempt {
  return {
    id: a.id,
    runId: a.runId,
    number: a.number,
    workerId: a.workerId,
    outcome: outcome(a.outcome),
    error: a.error,
    output: bytes(a.output),
    counted: a.counted,
    startedAtMs: ms(a.startedAt),
    finishedAtMs: ms(a.finishedAt),
  };
}

function normTask(t: RawTask | null | undefined): NTask {
  const task = need(t, "task");
  return {
    id: task.id,
    queue: task.spec?.queue ?? "",
    status: taskStatus(task.status),
    statusReason: task.statusReason,
    runsDerived: task.runsDerived,
    payload: bytes(task.spec?.payload?.data),
    contentType: task.spec?.payload?.contentType ?? "",
  };
}

function normLeased(l: RawLeasedRun): NLeasedRun {
  return {
    run: normRun(l.run),
    task: normTask(l.task),
    leaseToken: l.leaseToken,
    leaseExpiresAtMs: ms(l.leaseExpiresAt),
    attempt: l.attempt ? normAttempt(l.attempt) : null,
  };
}

function normHeartbeat(h: RawHeartbeat): NHeartbeat {
  return { leaseExpiresAtMs: ms(h.leaseExpiresAt), state: runState(h.state), stop: h.stop, stopReason: stopReason(h.stopReason) };
}

function normRunAndAttempt(r: RawRunAndAttempt): NRunAndAttempt {
  return { run: normRun(r.run), attempt: r.attempt ? normAttempt(r.attempt) : null };
}

function normItemError(e: RawItemError): NItemError {
  return { code: e.code, reason: e.reason, message: e.message };
}

function normQueue(q: RawQueueInfo | null | undefined): NQueueInfo {
  const queue = need(q, "queue");
  return { name: queue.name, paused: queue.paused };
}

function normCounts(c: RawRunCounts | null | undefined): NRunCounts {
  const k = need(c, "run counts");
  return {
    scheduled: num(k.scheduled),
    ready: num(k.ready),
    leased: num(k.leased),
    running: num(k.running),
    retryWait: num(k.retryWait),
    suspended: num(k.suspended),
    completed: num(k.completed),
    failed: num(k.failed),
    canceled: num(k.canceled),
  };
}

function normStats(s: RawStats): NStats {
  return {
    revision: num(s.revision),
    oldestRevision: num(s.oldestRevision),
    enginePaused: s.enginePaused,
    queues: s.queues.map((q) => ({ queue: normQueue(q.queue), runs: normCounts(q.runs) })),
  };
}

function normEvent(e: RawRunEvent): NRunEvent {
  return {
    kind: "event",
    revision: num(e.revision),
    type: eventType(e.type),
    runId: e.runId,
    taskId: e.taskId,
    queue: e.queue,
    from: runState(e.fromState),
    to: runState(e.toState),
    reason: e.reason,
  };
}

// ---------------------------------------------------------------------------------------
// Watch buffering
// ---------------------------------------------------------------------------------------

/** An unbounded in-order buffer fed by a background reader. */
class Channel<T> {
  readonly #items: T[] = [];
  #done = false;
  #error: unknown = null;
  #waiter: (() => void) | null = null;

  push(item: T): void {
    this.#items.push(item);
    this.#wake();
  }
  end(): void {
    this.#done = true;
    this.#wake();
  }
  fail(e: unknown): void {
    this.#error = e;
    this.#done = true;
    this.#wake();
  }
  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }

  async next(timeoutMs: number): Promise<T | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) return item;
      if (this.#done) {
        if (this.#error !== null) throw this.#error;
        return null;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`watch: no message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.#waiter = null;
          resolve();
        }, left);
        this.#waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }
}

function watchStream(source: AsyncIterable<NWatchItem>, cancel: () => void, normErr: (e: unknown) => unknown): WatchStream {
  const ch = new Channel<NWatchItem>();
  let aborted = false;
  void (async () => {
    try {
      for await (const item of source) {
        if (aborted) break;
        ch.push(item);
      }
      ch.end();
    } catch (e) {
      if (aborted) ch.end();
      else ch.fail(await normErr(e));
    }
  })();
  const stream: WatchStream = {
    next: (timeoutMs = 10_000) => ch.next(timeoutMs),
    abort() {
      if (aborted) return;
      aborted = true;
      cancel();
      ch.end();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const item = await ch.next(60_000);
        if (item === null) return;
        yield item;
      }
    },
  };
  return stream;
}

// ---------------------------------------------------------------------------------------
// Connect (gRPC and JSON)
// ---------------------------------------------------------------------------------------

const connectDuration = (millis: number) => ({ seconds: BigInt(Math.floor(millis / 1000)), nanos: (millis % 1000) * 1_000_000 });

function connectError(e: unknown): unknown {
  if (e instanceof ConnectError) return new ScenarioError(e.code, e.findDetails(ErrorInfoSchema)[0]?.reason ?? "", e.rawMessage);
  return e;
}

async function viaConnect<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw connectError(e);
  }
}

function connectSpec(input: SubmitInput) {
  return {
    queue: input.queue,
    payload: { data: input.payload ?? new Uint8Array(), contentType: input.contentType ?? "application/octet-stream" },
    ...(input.repeat ? { policy: { kind: { case: "repeat" as const, value: { count: input.repeat.count, interval: connectDuration(input.repeat.intervalMs ?? 0) } } } } : {}),
    constraints: {
      ...(input.maxAttempts !== undefined ? { maxAttempts: input.maxAttempts } : {}),
      ...(input.fixedBackoffMs !== undefined ? { backoff: { kind: { case: "fixed" as const, value: { interval: connectDuration(input.fixedBackoffMs) } } } } : {}),
      ...(input.concurrency ? { concurrency: { key: input.concurrency.key, slots: input.concurrency.slots ?? 0 } } : {}),
    },
    metadata: { priority: input.priority ?? 0, description: input.description ?? "" },
  };
}

function connectComplete(c: CompleteInput) {
  return {
    runId: c.runId,
    leaseToken: c.leaseToken,
    attemptId: c.attemptId,
    outcome: AttemptOutcome[c.outcome],
    output: c.output ?? new Uint8Array(),
    error: c.error ?? "",
  };
}

function connectHeartbeat(h: HeartbeatInput) {
  return { runId: h.runId, leaseToken: h.leaseToken, ...(h.extendByMs !== undefined ? { extendBy: connectDuration(h.extendByMs) } : {}) };
}

class ConnectScenarioClient implements ScenarioClient {
  constructor(
    readonly kind: ClientKind,
    private readonly c: ActionQueueClients,
  ) {}

  submit(input: SubmitInput): Promise<SubmitResult> {
    return viaConnect(async () => {
      const r = await this.c.tasks.submitTask({ taskId: input.taskId ?? "", spec: connectSpec(input) });
      return { task: normTask(r.task), created: r.created, runs: r.runs.map(normRun) };
    });
  }
  getTask(taskId: string): Promise<NTask> {
    return viaConnect(async () => normTask((await this.c.tasks.getTask({ taskId })).task));
  }
  getRun(runId: string): Promise<{ run: NRun; attempts: NAttempt[] }> {
    return viaConnect(async () => {
      const r = await this.c.runs.getRun({ runId });
      return { run: normRun(r.run), attempts: r.attempts.map(normAttempt) };
    });
  }
  listRuns(filter: ListRunsInput): Promise<NRun[]> {
    return viaConnect(async () => {
      const r = await this.c.runs.listRuns({
        queue: filter.queue ?? "",
        taskId: filter.taskId ?? "",
        states: (filter.states ?? []).map((s) => RunState[s]),
        pageSize: 1000,
      });
      return r.runs.map(normRun);
    });
  }
  lease(input: LeaseInput): Promise<LeaseResult> {
    return viaConnect(async () => {
      const r = await this.c.workers.leaseRuns({
        queues: [...input.queues],
        workerId: input.workerId,
        maxRuns: input.maxRuns ?? 1,
        ...(input.leaseDurationMs !== undefined ? { leaseDuration: connectDuration(input.leaseDurationMs) } : {}),
        wait: connectDuration(input.waitMs ?? 0),
        startAttempt: input.startAttempt ?? false,
      });
      return { runs: r.runs.map(normLeased), pausedQueues: [...r.pausedQueues] };
    });
  }
  startAttempt(runId: string, leaseToken: string): Promise<NRunAndAttempt> {
    return viaConnect(async () => normRunAndAttempt(await this.c.workers.startAttempt({ runId, leaseToken })));
  }
  heartbeat(input: HeartbeatInput): Promise<NHeartbeat> {
    return viaConnect(async () => normHeartbeat(await this.c.workers.heartbeat(connectHeartbeat(input))));
  }
  batchHeartbeat(items: readonly HeartbeatInput[]): Promise<NBatchItem<NHeartbeat>[]> {
    return viaConnect(async () => {
      const r = await this.c.workers.batchHeartbeat({ heartbeats: items.map(connectHeartbeat) });
      return r.results.map((x) => ({
        runId: x.runId,
        ok: x.result.case === "ok" ? normHeartbeat(x.result.value) : null,
        error: x.result.case === "error" ? normItemError(x.result.value) : null,
      }));
    });
  }
  complete(input: CompleteInput): Promise<NRunAndAttempt> {
    return viaConnect(async () => normRunAndAttempt(await this.c.workers.completeAttempt(connectComplete(input))));
  }
  batchComplete(items: readonly CompleteInput[]): Promise<NBatchItem<NRunAndAttempt>[]> {
    return viaConnect(async () => {
      const r = await this.c.workers.batchCompleteAttempts({ completions: items.map(connectComplete) });
      return r.results.map((x) => ({
        runId: x.runId,
        ok: x.result.case === "ok" ? normRunAndAttempt(x.result.value) : null,
        error: x.result.case === "error" ? normItemError(x.result.value) : null,
      }));
    });
  }
  releaseLease(runId: string, leaseToken: string): Promise<NRun> {
    return viaConnect(async () => normRun((await this.c.workers.releaseLease({ runId, leaseToken })).run));
  }
  cancelRun(runId: string): Promise<NRun> {
    return viaConnect(async () => normRun((await this.c.runs.cancelRun({ runId })).run));
  }
  suspendRun(runId: string, reason?: string): Promise<NRun> {
    return viaConnect(async () => normRun((await this.c.runs.suspendRun({ runId, reason: reason ?? "" })).run));
  }
  resumeRun(runId: string): Promise<NRun> {
    return viaConnect(async () => normRun((await this.c.runs.resumeRun({ runId })).run));
  }
  pauseQueue(queue: string): Promise<NQueueInfo> {
    return viaConnect(async () => normQueue((await this.c.admin.pauseQueue({ queue })).queue));
  }
  resumeQueue(queue: string): Promise<NQueueInfo> {
    return viaConnect(async () => normQueue((await this.c.admin.resumeQueue({ queue })).queue));
  }
  stats(queues: readonly string[] = []): Promise<NStats> {
    return viaConnect(async () => normStats(await this.c.admin.getStats({ queues: [...queues] })));
  }
  watch(input: WatchInput): WatchStream {
    const ac = new AbortController();
    const source = this.c.runs.watchRuns(
      {
        queues: [...(input.queues ?? [])],
        taskId: input.taskId ?? "",
        runId: input.runId ?? "",
        startRevision: BigInt(input.startRevision ?? 0),
        progressIntervalMs: input.progressIntervalMs ?? 0,
      },
      { signal: ac.signal },
    );
    async function* items(): AsyncGenerator<NWatchItem> {
      for await (const m of source) {
        if (m.kind.case === "event") yield normEvent(m.kind.value);
        else if (m.kind.case === "progress") yield { kind: "progress", revision: num(m.kind.value.revision) };
      }
    }
    return watchStream(items(), () => ac.abort(), connectError);
  }
  close(): void {
    // The connect-node transports close idle sessions by themselves.
  }
}

// ---------------------------------------------------------------------------------------
// grpc-js (protos loaded at run time)
// ---------------------------------------------------------------------------------------

const grpcDuration = (millis: number) => ({ seconds: String(Math.floor(millis / 1000)), nanos: (millis % 1000) * 1_000_000 });

function isServiceError(e: unknown): e is grpc.ServiceError {
  return e instanceof Error && typeof (e as Partial<grpc.ServiceError>).code === "number" && (e as Partial<grpc.ServiceError>).metadata !== undefined;
}

async function grpcError(e: unknown): Promise<unknown> {
  if (!isServiceError(e)) return e;
  const d = await grpcErrorDetails(e);
  return new ScenarioError(e.code, d.reason ?? "", e.details);
}

function grpcSpec(input: SubmitInput) {
  return {
    queue: input.queue,
    payload: { data: Buffer.from(input.payload ?? new Uint8Array()), contentType: input.contentType ?? "application/octet-stream" },
    ...(input.repeat ? { policy: { repeat: { count: input.repeat.count, interval: grpcDuration(input.repeat.intervalMs ?? 0) } } } : {}),
    constraints: {
      ...(input.maxAttempts !== undefined ? { maxAttempts: input.maxAttempts } : {}),
      ...(input.fixedBackoffMs !== undefined ? { backoff: { fixed: { interval: grpcDuration(input.fixedBackoffMs) } } } : {}),
      ...(input.concurrency ? { concurrency: { key: input.concurrency.key, slots: input.concurrency.slots ?? 0 } } : {}),
    },
    metadata: { priority: input.priority ?? 0, description: input.description ?? "" },
  };
}

function grpcComplete(c: CompleteInput) {
  return {
    runId: c.runId,
    leaseToken: c.leaseToken,
    attemptId: c.attemptId,
    outcome: `ATTEMPT_OUTCOME_${c.outcome}`,
    output: Buffer.from(c.output ?? new Uint8Array()),
    error: c.error ?? "",
  };
}

function grpcHeartbeat(h: HeartbeatInput) {
  return { runId: h.runId, leaseToken: h.leaseToken, ...(h.extendByMs !== undefined ? { extendBy: grpcDuration(h.extendByMs) } : {}) };
}

/** A batch result as proto-loader decodes it: `result` names the set oneof case. */
interface GrpcBatchResult<T> {
  readonly runId: string;
  readonly result: "ok" | "error";
  readonly ok: T | null;
  readonly error: RawItemError | null;
}

class GrpcJsScenarioClient implements ScenarioClient {
  readonly kind: ClientKind = "grpc-js";
  constructor(private readonly c: GrpcJsClients) {}

  async #call<T>(client: unknown, method: string, req: unknown): Promise<T> {
    try {
      return await unary<T>(client, method, req);
    } catch (e) {
      throw await grpcError(e);
    }
  }

  async submit(input: SubmitInput): Promise<SubmitResult> {
    const r = await this.#call<{ task: RawTask; created: boolean; runs: RawRun[] }>(this.c.tasks, "submitTask", { taskId: input.taskId ?? "", spec: grpcSpec(input) });
    return { task: normTask(r.task), created: r.created, runs: r.runs.map(normRun) };
  }
  async getTask(taskId: string): Promise<NTask> {
    return normTask((await this.#call<{ task: RawTask }>(this.c.tasks, "getTask", { taskId })).task);
  }
  async getRun(runId: string): Promise<{ run: NRun; attempts: NAttempt[] }> {
    const r = await this.#call<{ run: RawRun; attempts: RawAttempt[] }>(this.c.runs, "getRun", { runId });
    return { run: normRun(r.run), attempts: r.attempts.map(normAttempt) };
  }
  async listRuns(filter: ListRunsInput): Promise<NRun[]> {
    const r = await this.#call<{ runs: RawRun[] }>(this.c.runs, "listRuns", {
      queue: filter.queue ?? "",
      taskId: filter.taskId ?? "",
      states: (filter.states ?? []).map((s) => `RUN_STATE_${s}`),
      pageSize: 1000,
    });
    return r.runs.map(normRun);
  }
  async lease(input: LeaseInput): Promise<LeaseResult> {
    const r = await this.#call<{ runs: RawLeasedRun[]; pausedQueues: string[] }>(this.c.workers, "leaseRuns", {
      queues: [...input.queues],
      workerId: input.workerId,
      maxRuns: input.maxRuns ?? 1,
      ...(input.leaseDurationMs !== undefined ? { leaseDuration: grpcDuration(input.leaseDurationMs) } : {}),
      wait: grpcDuration(input.waitMs ?? 0),
      startAttempt: input.startAttempt ?? false,
    });
    return { runs: r.runs.map(normLeased), pausedQueues: [...r.pausedQueues] };
  }
  async startAttempt(runId: string, leaseToken: string): Promise<NRunAndAttempt> {
    return normRunAndAttempt(await this.#call<RawRunAndAttempt>(this.c.workers, "startAttempt", { runId, leaseToken }));
  }
  async heartbeat(input: HeartbeatInput): Promise<NHeartbeat> {
    return normHeartbeat(await this.#call<RawHeartbeat>(this.c.workers, "heartbeat", grpcHeartbeat(input)));
  }
  async batchHeartbeat(items: readonly HeartbeatInput[]): Promise<NBatchItem<NHeartbeat>[]> {
    const r = await this.#call<{ results: GrpcBatchResult<RawHeartbeat>[] }>(this.c.workers, "batchHeartbeat", { heartbeats: items.map(grpcHeartbeat) });
    return r.results.map((x) => ({
      runId: x.runId,
      ok: x.result === "ok" ? normHeartbeat(need(x.ok, "ok")) : null,
      error: x.result === "error" ? normItemError(need(x.error, "error")) : null,
    }));
  }
  async complete(input: CompleteInput): Promise<NRunAndAttempt> {
    return normRunAndAttempt(await this.#call<RawRunAndAttempt>(this.c.workers, "completeAttempt", grpcComplete(input)));
  }
  async batchComplete(items: readonly CompleteInput[]): Promise<NBatchItem<NRunAndAttempt>[]> {
    const r = await this.#call<{ results: GrpcBatchResult<RawRunAndAttempt>[] }>(this.c.workers, "batchCompleteAttempts", { completions: items.map(grpcComplete) });
    return r.results.map((x) => ({
      runId: x.runId,
      ok: x.result === "ok" ? normRunAndAttempt(need(x.ok, "ok")) : null,
      error: x.result === "error" ? normItemError(need(x.error, "error")) : null,
    }));
  }
  async releaseLease(runId: string, leaseToken: string): Promise<NRun> {
    return normRun((await this.#call<{ run: RawRun }>(this.c.workers, "releaseLease", { runId, leaseToken })).run);
  }
  async cancelRun(runId: string): Promise<NRun> {
    return normRun((await this.#call<{ run: RawRun }>(this.c.runs, "cancelRun", { runId })).run);
  }
  async suspendRun(runId: string, reason?: string): Promise<NRun> {
    return normRun((await this.#call<{ run: RawRun }>(this.c.runs, "suspendRun", { runId, reason: reason ?? "" })).run);
  }
  async resumeRun(runId: string): Promise<NRun> {
    return normRun((await this.#call<{ run: RawRun }>(this.c.runs, "resumeRun", { runId })).run);
  }
  async pauseQueue(queue: string): Promise<NQueueInfo> {
    return normQueue((await this.#call<{ queue: RawQueueInfo }>(this.c.admin, "pauseQueue", { queue })).queue);
  }
  async resumeQueue(queue: string): Promise<NQueueInfo> {
    return normQueue((await this.#call<{ queue: RawQueueInfo }>(this.c.admin, "resumeQueue", { queue })).queue);
  }
  async stats(queues: readonly string[] = []): Promise<NStats> {
    return normStats(await this.#call<RawStats>(this.c.admin, "getStats", { queues: [...queues] }));
  }
  watch(input: WatchInput): WatchStream {
    const open = (this.c.runs as unknown as { watchRuns(req: unknown): grpc.ClientReadableStream<{ kind: "event" | "progress"; event: RawRunEvent | null; progress: { revision: Int64 } | null }> })
      .watchRuns.bind(this.c.runs);
    const call = open({
      queues: [...(input.queues ?? [])],
      taskId: input.taskId ?? "",
      runId: input.runId ?? "",
      startRevision: String(input.startRevision ?? 0),
      progressIntervalMs: input.progressIntervalMs ?? 0,
    });
    async function* items(): AsyncGenerator<NWatchItem> {
      for await (const m of call as AsyncIterable<{ kind: "event" | "progress"; event: RawRunEvent | null; progress: { revision: Int64 } | null }>) {
        if (m.kind === "event") yield normEvent(need(m.event, "event"));
        else if (m.kind === "progress") yield { kind: "progress", revision: num(need(m.progress, "progress").revision) };
      }
    }
    return watchStream(items(), () => call.cancel(), grpcError);
  }
  close(): void {
    this.c.close();
  }
}
