/**
 * The engine: every lifecycle command of SPEC §4–§9 applied atomically and durably, the
 * timers that move runs on their own, and the event log with its subscriptions.
 *
 * Commands are queued and executed in batches: one LMDB transaction per batch (group
 * commit), each command in its own child transaction, and every caller's promise settles
 * only after the batch is flushed to disk. A batch runs only after the previous one is
 * durable, so in-memory state (ready index, key gate, flags) is ahead of disk for at most
 * the batch in flight; a command that throws is rolled back in memory through its journal,
 * and a batch whose commit fails makes the engine rebuild memory from disk before the next
 * batch (fail-stop and recover), so memory never serves a state that was not committed.
 */
import { parseCron } from "../cron/croner-schedule.js";
import {
  type CronSchedule,
  deriveOnce,
  deriveRepeat,
  firstCronCursor,
  planMisfire,
  refillCronWindow,
} from "../domain/derive.js";
import type { AttemptId, IdSource, LeaseToken, RunId, TaskId } from "../domain/ids.js";
import { type KeySpec, KeyGate } from "../domain/keys.js";
import { type Applied, type RunAction, type WorkerOutcome, applyRunAction } from "../domain/lifecycle.js";
import { backoffDelayMs } from "../domain/retry.js";
import { newReadyRun, newScheduledRun } from "../domain/run.js";
import { type RunState, isTerminal } from "../domain/state.js";
import { checkDepth, checkNoCycle, isTaskTerminal, settleTaskStatus } from "../domain/task.js";
import { type Clock, saturatingAdd } from "../domain/time.js";
import { EngineError, type FieldViolation, fromRefusal, invalidArgument } from "./errors.js";
import { Journal } from "./journal.js";
import type { Random, Store, StoreReader, StoreWriter } from "./ports.js";
import { ReadyIndex, type ReadyInfo } from "./ready-index.js";
import type {
  AttemptRecord,
  DueKind,
  EventRecord,
  LeaseRecord,
  QueueRecord,
  ReadyEntry,
  RunRecord,
  TaskRecord,
} from "./records.js";
import {
  DEFAULT_LIMITS,
  type Limits,
  type TaskSpec,
  canonicalSpec,
  checkQueueName,
  normalizeSpec,
  resolveStart,
  utf8Length,
  validateTaskSpec,
} from "./spec.js";
import { type WatchFilter, WatchHub, type WatchItem } from "./watch.js";

/** Minimal structured logger (pino-compatible). */
export interface EngineLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const silent: EngineLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Engine settings; every field but the ports has a default. */
export interface EngineOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly ids: IdSource;
  readonly random: Random;
  readonly limits?: Partial<Limits>;
  /** Upcoming runs kept derived per cron task. Default 3. */
  readonly cronWindow?: number;
  /** Most missed cron occurrences derived by CATCH_UP at start-up, per task. Default 1,000. */
  readonly catchUpLimit?: number;
  /** Terminal runs and events older than this are purged. Default 7 days. */
  readonly retentionMs?: number;
  /** Submissions fail with STORAGE_QUOTA past this many bytes of live data; 0 = none. Default 0. */
  readonly storageQuotaBytes?: number;
  /** Drive timers and purges with real timers. Tests turn it off and call tick(). Default true. */
  readonly autoTimers?: boolean;
  /** Commands per transaction at most. Default 1,000. */
  readonly maxBatch?: number;
  /** Timer entries handled per tick at most. Default 500. */
  readonly maxDuePerTick?: number;
  /** Interval of retention purges with autoTimers. Default 60 s. */
  readonly purgeIntervalMs?: number;
  readonly logger?: EngineLogger;
}

/** One submission. */
export interface Submission {
  /** Caller-chosen id for idempotency; null lets the engine generate one. */
  readonly taskId: TaskId | null;
  readonly spec: TaskSpec;
}

/** The outcome of one submission. */
export interface SubmitResult {
  readonly task: TaskRecord;
  readonly created: boolean;
  /** First runs of the task (at most 100), in occurrence order. */
  readonly runs: RunRecord[];
}

/** What a worker asks for. */
export interface LeaseRequest {
  readonly queues: readonly string[];
  readonly workerId: string;
  readonly capabilities: readonly string[];
  readonly maxRuns: number;
  readonly leaseDurationMs: number;
  readonly waitMs: number;
  readonly startAttempt: boolean;
  /** Aborts a long poll (client gone): nothing is leased after it fires. */
  readonly signal?: AbortSignal;
}

/** One run handed to a worker. */
export interface LeaseGrant {
  readonly run: RunRecord;
  readonly task: TaskRecord;
  readonly lease: LeaseRecord;
  readonly attempt: AttemptRecord | null;
}

/** The reply of LeaseRuns. */
export interface LeaseResult {
  readonly grants: LeaseGrant[];
  readonly pausedQueues: string[];
}

/** What a heartbeat says back. */
export interface HeartbeatResult {
  readonly leaseExpiresAt: number;
  readonly state: RunState;
  readonly stop: boolean;
  readonly stopReason: "CANCELED" | "SUSPENDED" | null;
}

/** One completion. */
export interface Completion {
  readonly runId: RunId;
  readonly token: LeaseToken;
  readonly attemptId: AttemptId;
  readonly outcome: WorkerOutcome;
  readonly output: Uint8Array;
  readonly error: string;
}

/** Result of one item of a batch call. */
export type ItemResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: EngineError };

/** Run counts and engine facts. */
export interface Stats {
  readonly queues: Array<{ queue: QueueRecord; counts: Record<RunState, number> }>;
  readonly enginePaused: boolean;
  readonly revision: number;
  readonly oldestRevision: number;
  readonly storageBytes: number;
  readonly storageQuotaBytes: number;
  readonly tasks: number;
  readonly startedAt: number;
}

interface Command {
  readonly name: string;
  readonly run: (ctx: Ctx) => unknown;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
  /** Result or error of the body, set inside the transaction. */
  outcome?: { ok: true; value: unknown; ctx: Ctx } | { ok: false; error: unknown };
}

/** Per-command context inside the write transaction. */
class Ctx {
  readonly events: EventRecord[] = [];
  journal = new Journal();
  /** Queues that may have new runs for waiting workers. */
  readonly wake = new Set<string>();
  wakeAll = false;
  timersChanged = false;
  readonly logs: Array<{ obj: object; msg: string }> = [];
  constructor(
    readonly w: StoreWriter,
    readonly now: number,
  ) {}
  log(obj: object, msg: string): void {
    this.logs.push({ obj, msg });
  }

  /**
   * Runs one item of a batch command in a nested transaction with its own journal: if it
   * throws, its storage writes, memory changes, events and log lines are all undone and the
   * error is rethrown; the rest of the command goes on.
   */
  isolated<T>(fn: () => T): T {
    const parent = this.journal;
    const child = new Journal();
    const events = this.events.length;
    const logs = this.logs.length;
    this.journal = child;
    try {
      const value = this.w.atomic(fn);
      parent.record(() => child.rollback());
      return value;
    } catch (e) {
      child.rollback();
      this.events.length = events;
      this.logs.length = logs;
      throw e;
    } finally {
      this.journal = parent;
    }
  }
}

interface Waiter {
  readonly req: LeaseRequest;
  readonly deadline: number;
  readonly resolve: (r: LeaseResult) => void;
  readonly reject: (e: unknown) => void;
  timer: NodeJS.Timeout | null;
  busy: boolean;
  done: boolean;
  /** The wait ended while a lease attempt was in flight. */
  expired: boolean;
  /** The request's capabilities as a set, built once for the wake-up checks. */
  readonly capabilities: ReadonlySet<string>;
  onAbort: (() => void) | null;
  finish: (r: LeaseResult | null, e?: unknown) => void;
}

interface Bucket {
  tokens: number;
  at: number;
}

const EMPTY_BYTES = new Uint8Array(0);
const RUNS_IN_SUBMIT_REPLY = 100;

function dueOf(run: Omit<RunRecord, "due">, lease: LeaseRecord | undefined): Array<[number, DueKind]> {
  const due: Array<[number, DueKind]> = [];
  switch (run.state) {
    case "SCHEDULED":
      if (!run.waitingOnDeps) due.push([run.scheduledAt, "PROMOTE"]);
      break;
    case "RETRY_WAIT":
      if (run.retryAt !== null) due.push([run.retryAt, "RETRY"]);
      break;
    case "LEASED":
      if (lease) due.push([lease.expiresAt, "LEASE"]);
      break;
    case "RUNNING":
      if (lease) due.push([lease.expiresAt, "LEASE"]);
      if (run.attemptDeadline !== null) due.push([run.attemptDeadline, "TIMEOUT"]);
      break;
    default:
      break;
  }
  return due.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
}

/** The durable run-queue engine. */
export class Engine {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #ids: IdSource;
  readonly #random: Random;
  readonly #limits: Limits;
  readonly #cronWindow: number;
  readonly #catchUpLimit: number;
  readonly #retentionMs: number;
  readonly #quota: number;
  readonly #autoTimers: boolean;
  readonly #maxBatch: number;
  readonly #maxDuePerTick: number;
  readonly #purgeIntervalMs: number;
  readonly #log: EngineLogger;

  readonly #gate = new KeyGate();
  readonly #ready: ReadyIndex;
  readonly #hub: WatchHub;
  readonly #queues = new Map<string, QueueRecord>();
  readonly #buckets = new Map<string, Bucket>();
  readonly #crons = new Map<string, CronSchedule>();
  #enginePaused = false;
  #revision = 0;
  #oldestRevision = 1;
  readonly #startedAt: number;

  readonly #pending: Command[] = [];
  #draining = false;
  #drained: Promise<void> = Promise.resolve();
  #closing = false;
  #closed = false;
  readonly #waiters = new Set<Waiter>();
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #purgeTimer: NodeJS.Timeout | null = null;
  #rateTimer: NodeJS.Timeout | null = null;
  #usedBytes = 0;
  #usedBytesAt = Number.NEGATIVE_INFINITY;

  private constructor(o: EngineOptions) {
    this.#store = o.store;
    this.#clock = o.clock;
    this.#ids = o.ids;
    this.#random = o.random;
    this.#limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.#cronWindow = Math.max(1, o.cronWindow ?? 3);
    this.#catchUpLimit = o.catchUpLimit ?? 1_000;
    this.#retentionMs = o.retentionMs ?? 7 * 86_400_000;
    this.#quota = o.storageQuotaBytes ?? 0;
    this.#autoTimers = o.autoTimers ?? true;
    this.#maxBatch = o.maxBatch ?? 1_000;
    this.#maxDuePerTick = o.maxDuePerTick ?? 500;
    this.#purgeIntervalMs = o.purgeIntervalMs ?? 60_000;
    this.#log = o.logger ?? silent;
    this.#ready = new ReadyIndex((key, slots) => this.#gate.occupancy(key) >= slots);
    this.#startedAt = this.#clock.now();
    const reader = this.#store.reader;
    this.#hub = new WatchHub(
      { events: (from, limit) => reader.events(from, limit), oldestRevision: () => this.#oldestRevision },
      0,
    );
  }

  /**
   * Opens the engine over an opened store: rebuilds memory from disk, applies cron misfire
   * policies for the outage, and starts the timers (unless autoTimers is off).
   */
  static async open(options: EngineOptions): Promise<Engine> {
    const engine = new Engine(options);
    engine.#rebuild();
    await engine.#applyMisfires();
    engine.#armTimer();
    if (engine.#autoTimers) {
      engine.#purgeTimer = setInterval(() => {
        engine.purge().catch((e) => engine.#log.warn({ err: e }, "purge failed"));
      }, engine.#purgeIntervalMs);
      engine.#purgeTimer.unref();
    }
    return engine;
  }

  /** Effective limits. */
  get limits(): Limits {
    return this.#limits;
  }

  /** Revision of the last durable change. */
  get revision(): number {
    return this.#hub.published;
  }

  /** Synchronous reads of committed state. */
  get reader(): StoreReader {
    return this.#store.reader;
  }

  /** Long polls waiting for runs. */
  get waitingWorkers(): number {
    return this.#waiters.size;
  }

  /** Open watch subscriptions. */
  get watchers(): number {
    return this.#hub.subscribers;
  }

  /** READY runs in the selection index. */
  get readyIndexed(): number {
    return this.#ready.size;
  }

  // ─── memory rebuild ────────────────────────────────────────────────────────────────

  #rebuild(): void {
    const r = this.#store.reader;
    const meta = r.meta();
    this.#revision = meta.revision;
    this.#oldestRevision = meta.oldestRevision;
    this.#enginePaused = meta.enginePaused;
    this.#hub.reset(meta.revision);
    this.#queues.clear();
    for (const name of r.queueNames()) {
      const q = r.getQueue(name);
      if (q) this.#queues.set(name, q);
    }
    this.#gate.clear();
    for (const h of r.allKeyHolders()) this.#gate.restore(h.key, h.runId, h.hold, h.since);
    this.#ready.clear();
    for (const queue of r.queueNames()) {
      let after: RunId | undefined;
      for (;;) {
        const entries = r.readyEntries(queue, after, 10_000);
        if (entries.length === 0) break;
        for (const e of entries) this.#ready.add(this.#readyInfo(queue, e));
        after = entries.at(-1)?.runId;
      }
    }
  }

  async #applyMisfires(): Promise<void> {
    const now = this.#clock.now();
    const ids = this.#store.reader.cronTaskIds();
    for (const taskId of ids) {
      await this.#exec("misfire", (ctx) => this.#misfire(ctx, taskId, now)).catch((e) =>
        this.#log.error({ err: e, task_id: taskId }, "misfire handling failed"),
      );
    }
  }

  // ─── command queue and group commit ────────────────────────────────────────────────

  #exec<T>(name: string, run: (ctx: Ctx) => T): Promise<T> {
    if (this.#closed || (this.#closing && name !== "drain")) {
      return Promise.reject(new EngineError("SHUTTING_DOWN", "the engine is shutting down"));
    }
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ name, run, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#draining) {
        this.#draining = true;
        this.#drained = this.#drain();
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, this.#maxBatch);
        await this.#runBatch(batch);
      }
    } finally {
      this.#draining = false;
    }
  }

  async #runBatch(batch: Command[]): Promise<void> {
    const revisionBefore = this.#revision;
    try {
      await this.#store.write(batch, (w, cmd) => {
        const ctx = new Ctx(w, this.#clock.now());
        try {
          const value = cmd.run(ctx);
          if (ctx.events.length > 0) {
            w.putMeta({ revision: this.#revision, oldestRevision: this.#oldestRevision, enginePaused: this.#enginePaused });
          }
          cmd.outcome = { ok: true, value, ctx };
        } catch (e) {
          ctx.journal.rollback();
          cmd.outcome = { ok: false, error: e };
          throw e;
        }
      });
    } catch (commitError) {
      // Nothing of this batch is on disk: fail every command and rebuild memory from disk.
      const error = EngineError.is(commitError)
        ? commitError
        : new EngineError("STORAGE_IO", `commit failed: ${String(commitError)}`, { cause: commitError });
      this.#log.error({ err: error, commands: batch.length }, "commit failed; rebuilding memory from disk");
      for (const cmd of batch) cmd.reject(error);
      this.#revision = revisionBefore;
      this.#rebuild();
      this.#armTimer();
      return;
    }
    const events: EventRecord[] = [];
    let wakeAll = false;
    const wake = new Set<string>();
    let timers = false;
    for (const cmd of batch) {
      const o = cmd.outcome;
      if (!o) {
        cmd.reject(new EngineError("INTERNAL", `command ${cmd.name} did not run`));
        continue;
      }
      if (o.ok) {
        events.push(...o.ctx.events);
        for (const q of o.ctx.wake) wake.add(q);
        wakeAll ||= o.ctx.wakeAll;
        timers ||= o.ctx.timersChanged;
        for (const l of o.ctx.logs) this.#log.info(l.obj, l.msg);
        cmd.resolve(o.value);
      } else {
        cmd.reject(this.#asEngineError(o.error, cmd.name));
      }
    }
    if (events.length > 0) this.#hub.publish(events, this.#revision);
    if (timers || events.length > 0) this.#armTimer();
    if (wakeAll || wake.size > 0) this.#wakeWaiters(wakeAll ? null : wake);
  }

  #asEngineError(e: unknown, name: string): EngineError {
    if (EngineError.is(e)) return e;
    this.#log.error({ err: e, command: name }, "command failed unexpectedly");
    return new EngineError("INTERNAL", `${name} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }

  // ─── shared pieces of commands ─────────────────────────────────────────────────────

  #emit(ctx: Ctx, e: Omit<EventRecord, "revision">): number {
    const before = this.#revision;
    this.#revision += 1;
    ctx.journal.record(() => {
      this.#revision = before;
    });
    const ev: EventRecord = { ...e, revision: this.#revision };
    ctx.w.appendEvent(ev);
    ctx.events.push(ev);
    return ev.revision;
  }

  #task(r: StoreReader, id: TaskId): TaskRecord {
    const t = r.getTask(id);
    if (!t) throw new EngineError("TASK_NOT_FOUND", `task ${id} not found`, { metadata: { task_id: id } });
    return t;
  }

  #run(r: StoreReader, id: RunId): RunRecord {
    const run = r.getRun(id);
    if (!run) throw new EngineError("RUN_NOT_FOUND", `run ${id} not found`, { metadata: { run_id: id } });
    return run;
  }

  #keySpec(task: TaskRecord): KeySpec | null {
    return task.spec.constraints.concurrency;
  }

  #readyInfo(queue: string, run: ReadyEntry): ReadyInfo {
    return {
      runId: run.runId,
      queue,
      effectivePriority: run.effectivePriority,
      createdAt: run.createdAt,
      capabilities: run.capabilities,
      // A run that kept its slot through a retry needs no new one.
      key: run.keySlots && run.keyHold !== "HELD" ? run.keySlots : null,
    };
  }

  #readyInfoOf(run: RunRecord): ReadyInfo {
    return this.#readyInfo(run.queue, { ...run, runId: run.id });
  }

  #putRun(ctx: Ctx, run: Omit<RunRecord, "due">, prev: RunRecord | undefined, lease: LeaseRecord | undefined): RunRecord {
    const full: RunRecord = { ...run, due: dueOf(run, lease) };
    ctx.w.putRun(full, prev);
    const firstDue = full.due[0]?.[0];
    if (firstDue !== undefined && firstDue < this.#timerAt) ctx.timersChanged = true;
    return full;
  }

  /**
   * Applies a lifecycle action to a stored run: domain rules and key gate, attempt and lease
   * records, the ready index, the event, task counters and cascades. Returns the new record.
   * Throws the domain refusal as an EngineError (the journal undoes memory changes).
   */
  #apply(
    ctx: Ctx,
    run: RunRecord,
    action: RunAction,
    extra: { reason?: string; lease?: LeaseRecord; workerId?: string; error?: string; output?: Uint8Array } = {},
  ): RunRecord {
    const task = this.#task(ctx.w, run.taskId);
    const spec = this.#keySpec(task);
    // Only this run's own slot is needed for the undo, not a copy of every occupant.
    const beforeHold = spec ? this.#gate.occupantOf(spec.key, run.id) : undefined;
    const result = applyRunAction(run, action, { gate: this.#gate, spec });
    if (!result.ok) throw fromRefusal(result.error);
    const applied: Applied = result.value;
    if (!applied.changed) return run;
    const now = ctx.now;

    // Key gate: mirror in storage, undo in memory on rollback.
    if (spec && applied.key.kind !== "UNCHANGED" && applied.key.kind !== "FULL") {
      const key = spec.key;
      ctx.journal.record(() => {
        this.#gate.release(key, run.id);
        if (beforeHold) this.#gate.restore(key, run.id, beforeHold.hold, beforeHold.since);
        this.#ready.keyChanged(key);
      });
      const hold = this.#gate.holdOf(key, run.id);
      if (hold) ctx.w.putKeyHolder({ key, runId: run.id, hold, since: now, slots: spec.slots });
      else ctx.w.deleteKeyHolder(key, run.id);
      this.#ready.keyChanged(key);
      if (applied.key.kind === "GIVEN_BACK") ctx.wakeAll = true;
    }
    const keyHold = spec ? (this.#gate.holdOf(spec.key, run.id) ?? null) : null;

    // Lease record.
    let lease = extra.lease ?? ctx.w.getLease(run.id);
    if (applied.to !== "LEASED" && applied.to !== "RUNNING" && lease) {
      ctx.w.deleteLease(run.id);
      lease = undefined;
    }
    if (applied.to === "LEASED" && extra.lease) ctx.w.putLease(extra.lease);

    // Attempts.
    let attemptSummary: EventRecord["attempt"] = null;
    let attemptDeadline = run.attemptDeadline;
    if (applied.startedAttempt) {
      const workerId = lease?.workerId ?? extra.workerId ?? "";
      const a: AttemptRecord = {
        id: applied.startedAttempt.attemptId,
        runId: run.id,
        number: applied.startedAttempt.number,
        workerId,
        outcome: null,
        error: "",
        output: EMPTY_BYTES,
        startedAt: now,
        finishedAt: null,
        counted: true,
      };
      ctx.w.putAttempt(a);
      const timeout = task.spec.constraints.attemptTimeoutMs;
      attemptDeadline = timeout > 0 ? saturatingAdd(now, timeout) : null;
      attemptSummary = { id: a.id, number: a.number, outcome: null, error: "", workerId };
    }
    if (applied.finishedAttempt) {
      const f = applied.finishedAttempt;
      const number = run.attemptCount;
      const prevAttempt = ctx.w.getAttempt(run.id, number);
      const a: AttemptRecord = {
        id: f.attemptId,
        runId: run.id,
        number,
        workerId: prevAttempt?.workerId ?? "",
        outcome: f.outcome,
        error: extra.error ?? "",
        output: f.outcome === "SUCCESS" ? (extra.output ?? EMPTY_BYTES) : EMPTY_BYTES,
        startedAt: prevAttempt?.startedAt ?? now,
        finishedAt: now,
        counted: f.counted,
      };
      ctx.w.putAttempt(a);
      attemptDeadline = null;
      attemptSummary = { id: a.id, number, outcome: f.outcome, error: a.error.slice(0, 1024), workerId: a.workerId };
    }
    if (applied.to !== "RUNNING") attemptDeadline = null;

    // Retry wait.
    let retryAt: number | null = null;
    if (applied.to === "RETRY_WAIT") {
      const delay = backoffDelayMs(task.spec.constraints.backoff, applied.run.countedAttempts, this.#random.next());
      retryAt = saturatingAdd(now, delay);
    }

    const base: Omit<RunRecord, "due"> = {
      ...run,
      ...applied.run,
      retryAt,
      attemptDeadline,
      stateReason: extra.reason ?? "",
      keyHold,
      lastLeaseToken: applied.to === "LEASED" && extra.lease ? extra.lease.token : run.lastLeaseToken,
      finishedAt: isTerminal(applied.to) ? now : null,
      waitingOnDeps: false,
    };
    const revision = this.#emit(ctx, {
      type: "TRANSITION",
      runId: run.id,
      taskId: run.taskId,
      queue: run.queue,
      from: applied.from,
      to: applied.to,
      at: now,
      attempt: attemptSummary,
      reason: base.stateReason,
      priority: base.effectivePriority,
    });
    const stored = this.#putRun(ctx, { ...base, revision }, run, lease);

    // Ready index.
    if (applied.from === "READY") this.#ready.remove(run.id, ctx.journal);
    if (applied.to === "READY") {
      this.#ready.add(this.#readyInfoOf(stored), ctx.journal);
      ctx.wake.add(run.queue);
    }
    ctx.log(
      {
        task_id: run.taskId,
        run_id: run.id,
        attempt_id: attemptSummary?.id,
        worker_id: attemptSummary?.workerId || lease?.workerId || extra.lease?.workerId,
        from: applied.from,
        to: applied.to,
        reason: stored.stateReason || undefined,
        revision,
      },
      "run transition",
    );

    // Task bookkeeping.
    if (applied.from === "SCHEDULED") {
      this.#updateTask(ctx, task.id, (t) => ({ ...t, pendingRuns: t.pendingRuns - 1 }));
    }
    if (isTerminal(applied.to)) this.#runFinished(ctx, run.taskId, applied.to);
    // A cron window shrinks whenever a SCHEDULED run leaves it (promoted or canceled): top it up.
    if (applied.from === "SCHEDULED" && task.cron) this.#refillCron(ctx, task.id);
    return stored;
  }

  #updateTask(ctx: Ctx, id: TaskId, change: (t: TaskRecord) => TaskRecord): TaskRecord {
    const prev = this.#task(ctx.w, id);
    const next = change(prev);
    ctx.w.putTask(next, prev);
    return next;
  }

  #runFinished(ctx: Ctx, taskId: TaskId, state: RunState): void {
    const t = this.#updateTask(ctx, taskId, (t) => ({
      ...t,
      openRuns: t.openRuns - 1,
      failedRuns: t.failedRuns + (state === "FAILED" ? 1 : 0),
    }));
    this.#settle(ctx, t);
  }

  /** Moves an ACTIVE task to its terminal status when its runs and children are done. */
  #settle(ctx: Ctx, task: TaskRecord): void {
    let current: TaskRecord | undefined = task;
    while (current && current.status === "ACTIVE") {
      const status = settleTaskStatus({
        canceled: false,
        moreRuns: current.cron !== null && current.cron.nextAt !== null && !this.#cronExhausted(current),
        openRuns: current.openRuns,
        failedRuns: current.failedRuns,
        openChildren: current.openChildren,
        failedChildren: current.failedChildren,
      });
      if (status === "ACTIVE") return;
      const done: TaskRecord = { ...current, status, statusChangedAt: ctx.now, statusReason: status === "FAILED" ? "RUN_FAILED" : "" };
      ctx.w.putTask(done, current);
      ctx.log({ task_id: done.id, status }, "task finished");
      this.#taskTerminal(ctx, done);
      current = done.spec.parentTaskId ? ctx.w.getTask(done.spec.parentTaskId) : undefined;
    }
  }

  #cronExhausted(t: TaskRecord): boolean {
    const p = t.spec.policy;
    return p.kind === "CRON" && p.maxOccurrences > 0 && (t.cron?.derived ?? 0) >= p.maxOccurrences;
  }

  /** A task just became terminal: tell its parent and its dependents. */
  #taskTerminal(ctx: Ctx, task: TaskRecord): void {
    if (task.spec.parentTaskId) {
      const parent = ctx.w.getTask(task.spec.parentTaskId);
      if (parent) {
        const p2 = { ...parent, openChildren: parent.openChildren - 1, failedChildren: parent.failedChildren + (task.status === "FAILED" ? 1 : 0) };
        // The parent settles in the caller's loop (#settle walks up).
        ctx.w.putTask(p2, parent);
      }
    }
    for (const depId of ctx.w.dependentTaskIds(task.id)) {
      const dep = ctx.w.getTask(depId);
      if (!dep || isTaskTerminal(dep.status)) continue;
      if (task.status === "COMPLETED") {
        const d2 = { ...dep, pendingDeps: dep.pendingDeps - 1 };
        ctx.w.putTask(d2, dep);
        if (d2.pendingDeps === 0) this.#releaseDependents(ctx, d2);
      } else {
        this.#cancelTaskTree(ctx, dep.id, "DEPENDENCY_FAILED");
      }
    }
  }

  /** Prerequisites all done: SCHEDULED runs of the task may become due. */
  #releaseDependents(ctx: Ctx, task: TaskRecord): void {
    for (const id of ctx.w.runIdsOfTask(task.id)) {
      const run = ctx.w.getRun(id);
      if (!run || run.state !== "SCHEDULED" || !run.waitingOnDeps) continue;
      this.#putRun(ctx, { ...run, waitingOnDeps: false }, run, undefined);
      ctx.timersChanged = true;
    }
  }

  /**
   * Cancels a task and cascades to its children and dependents. Returns the counts of runs
   * and tasks moved to CANCELED. Terminal tasks are left alone.
   */
  #cancelTaskTree(ctx: Ctx, rootId: TaskId, reason: string): { runs: number; tasks: number } {
    let runs = 0;
    let tasks = 0;
    const work: Array<{ id: TaskId; reason: string }> = [{ id: rootId, reason }];
    while (work.length > 0) {
      const { id, reason: why } = work.pop() as { id: TaskId; reason: string };
      const task = ctx.w.getTask(id);
      if (!task || isTaskTerminal(task.status)) continue;
      const canceled: TaskRecord = {
        ...task,
        status: "CANCELED",
        statusReason: why,
        statusChangedAt: ctx.now,
        cron: task.cron ? { ...task.cron, nextAt: null } : null,
      };
      ctx.w.putTask(canceled, task);
      tasks++;
      ctx.log({ task_id: id, reason: why }, "task canceled");
      const runReason = why === "CANCELED_BY_USER" ? "TASK_CANCELED" : why;
      for (const runId of ctx.w.runIdsOfTask(id)) {
        const run = ctx.w.getRun(runId);
        if (!run || isTerminal(run.state)) continue;
        this.#apply(ctx, run, { type: "CANCEL", at: ctx.now }, { reason: runReason, error: "task canceled" });
        runs++;
      }
      // Parent bookkeeping (the parent itself is not canceled by its child).
      const after = this.#task(ctx.w, id);
      if (after.spec.parentTaskId) {
        const parent = ctx.w.getTask(after.spec.parentTaskId);
        if (parent && !isTaskTerminal(parent.status)) {
          const p2 = { ...parent, openChildren: parent.openChildren - 1 };
          ctx.w.putTask(p2, parent);
          this.#settle(ctx, p2);
        }
      }
      for (const child of ctx.w.childTaskIds(id)) work.push({ id: child, reason: "PARENT_CANCELED" });
      for (const dep of ctx.w.dependentTaskIds(id)) work.push({ id: dep, reason: "DEPENDENCY_FAILED" });
    }
    return { runs, tasks };
  }

  // ─── submission ────────────────────────────────────────────────────────────────────

  /**
   * Submits tasks atomically (all or none). Validates every field first (INVALID_ARGUMENT
   * naming `tasks[i].spec.<field>` for a batch, `spec.<field>` for a single submission,
   * which is the default when exactly one item is given), then relations, idempotency and
   * the storage quota.
   */
  submitTasks(items: readonly Submission[], options: { batch?: boolean } = {}): Promise<SubmitResult[]> {
    if (items.length === 0 || items.length > this.#limits.maxBatch) {
      return Promise.reject(invalidArgument([{ field: "tasks", description: `must hold 1 to ${this.#limits.maxBatch} tasks` }]));
    }
    const batch = options.batch ?? items.length > 1;
    const prefix = (i: number) => (batch ? `tasks[${i}].spec.` : "spec.");
    const violations: FieldViolation[] = [];
    const normalized = items.map((item, i) => {
      // Validate the spec as the caller wrote it, so list indexes in field paths are theirs.
      for (const v of validateTaskSpec(item.spec, this.#limits)) violations.push({ field: prefix(i) + v.field, description: v.description });
      return { taskId: item.taskId, spec: normalizeSpec(item.spec) };
    });
    const seen = new Set<string>();
    normalized.forEach((n, i) => {
      if (n.taskId === null) return;
      if (seen.has(n.taskId)) violations.push({ field: `tasks[${i}].task_id`, description: "appears twice in the batch" });
      seen.add(n.taskId);
    });
    if (violations.length > 0) return Promise.reject(invalidArgument(violations));
    return this.#exec("submit", (ctx) => normalized.map((n) => this.#submitOne(ctx, n)));
  }

  /** Submits one task; see submitTasks. */
  async submitTask(item: Submission): Promise<SubmitResult> {
    const [r] = await this.submitTasks([item]);
    return r as SubmitResult;
  }

  #checkQuota(ctx: Ctx): void {
    if (this.#quota <= 0) return;
    if (ctx.now - this.#usedBytesAt > 1_000) {
      this.#usedBytes = ctx.w.usedBytes();
      this.#usedBytesAt = ctx.now;
    }
    if (this.#usedBytes >= this.#quota) {
      throw new EngineError("STORAGE_QUOTA", `storage quota of ${this.#quota} bytes reached (${this.#usedBytes} in use)`, {
        metadata: { quota_bytes: String(this.#quota), used_bytes: String(this.#usedBytes) },
      });
    }
  }

  #firstRuns(r: StoreReader, taskId: TaskId): RunRecord[] {
    return r.runIdsOfTask(taskId, undefined, RUNS_IN_SUBMIT_REPLY).flatMap((id) => r.getRun(id) ?? []);
  }

  #schedule(p: TaskSpec["policy"]): CronSchedule | null {
    if (p.kind !== "CRON") return null;
    const cacheKey = `${p.timeZone}\u0000${p.expression}`;
    let s = this.#crons.get(cacheKey);
    if (!s) {
      const parsed = parseCron(p.expression, p.timeZone);
      if (!parsed.ok) return null;
      s = parsed.value;
      if (this.#crons.size > 10_000) this.#crons.clear();
      this.#crons.set(cacheKey, s);
    }
    return s;
  }

  #submitOne(ctx: Ctx, item: { taskId: TaskId | null; spec: TaskSpec }): SubmitResult {
    const { spec } = item;
    const canonical = canonicalSpec(spec);
    if (item.taskId !== null) {
      const existing = ctx.w.getTask(item.taskId);
      if (existing) {
        if (existing.canonical !== canonical) {
          throw new EngineError("TASK_CONFLICT", `task ${item.taskId} exists with a different spec`, { metadata: { task_id: item.taskId } });
        }
        return { task: existing, created: false, runs: this.#firstRuns(ctx.w, existing.id) };
      }
    }
    this.#checkQuota(ctx);
    const id = item.taskId ?? this.#ids.taskId();
    const now = ctx.now;
    // Relations.
    let depth = 0;
    if (spec.parentTaskId) {
      const parent = ctx.w.getTask(spec.parentTaskId);
      if (!parent) {
        throw new EngineError("TASK_NOT_FOUND", `parent task ${spec.parentTaskId} not found`, { metadata: { task_id: spec.parentTaskId } });
      }
      if (isTaskTerminal(parent.status)) {
        throw new EngineError("TASK_TERMINAL", `parent task ${parent.id} is ${parent.status}`, { metadata: { task_id: parent.id, status: parent.status } });
      }
      const d = checkDepth(parent.depth, this.#limits.maxTaskDepth);
      if (!d.ok) {
        throw new EngineError("HIERARCHY_TOO_DEEP", `a task may be at most ${this.#limits.maxTaskDepth} levels deep`, {
          metadata: { limit: String(this.#limits.maxTaskDepth), task_id: parent.id },
        });
      }
      depth = d.value;
    }
    let pendingDeps = 0;
    for (const dep of spec.dependsOn) {
      if (dep === id) continue;
      const t = ctx.w.getTask(dep);
      if (!t) throw new EngineError("TASK_NOT_FOUND", `prerequisite task ${dep} not found`, { metadata: { task_id: dep } });
      if (t.status === "FAILED" || t.status === "CANCELED") {
        throw new EngineError("TASK_TERMINAL", `prerequisite task ${dep} is ${t.status}`, { metadata: { task_id: dep, status: t.status } });
      }
      if (t.status !== "COMPLETED") pendingDeps++;
    }
    const cycle = checkNoCycle(id, spec.dependsOn, (t) => ctx.w.getTask(t)?.spec.dependsOn ?? []);
    if (!cycle.ok) {
      throw new EngineError("DEPENDENCY_CYCLE", `dependencies of ${id} would form a cycle`, {
        metadata: { task_id: id, path: cycle.error.reason === "DEPENDENCY_CYCLE" ? cycle.error.path.join(" -> ") : "" },
      });
    }

    // Derivation.
    const startAt = resolveStart(spec.policy, now);
    let times: number[];
    let cron: TaskRecord["cron"] = null;
    const p = spec.policy;
    if (p.kind === "ONCE") {
      const d = deriveOnce(startAt);
      if (!d.ok) throw invalidArgument([{ field: "spec.policy.once.start_at", description: "out of range" }]);
      times = d.value;
    } else if (p.kind === "REPEAT") {
      const d = deriveRepeat(p.count, p.intervalMs, startAt, this.#limits.maxRepeatCount);
      if (!d.ok) {
        throw invalidArgument([
          {
            field: "spec.policy.repeat",
            description:
              d.error.reason === "SCHEDULE_OVERFLOW" ? "the last run would fall after 9999-12-31" : `invalid repeat schedule (${d.error.reason})`,
          },
        ]);
      }
      times = d.value;
    } else {
      const schedule = this.#schedule(p);
      if (!schedule) throw invalidArgument([{ field: "spec.policy.cron.expression", description: "invalid cron expression" }]);
      const first = firstCronCursor(schedule, startAt);
      const r = refillCronWindow(schedule, first, 0, this.#cronWindow, p.maxOccurrences);
      times = r.times;
      cron = r.cursor;
    }

    const task: TaskRecord = {
      id,
      spec,
      canonical,
      status: "ACTIVE",
      statusReason: "",
      createdAt: now,
      statusChangedAt: now,
      startAt,
      runsDerived: times.length,
      cron,
      depth,
      pendingDeps,
      openRuns: times.length,
      failedRuns: 0,
      openChildren: 0,
      failedChildren: 0,
      skippedOccurrences: 0,
      pendingRuns: 0,
    };
    ctx.w.putTask(task, undefined);
    if (spec.parentTaskId) this.#updateTask(ctx, spec.parentTaskId, (t) => ({ ...t, openChildren: t.openChildren + 1 }));
    const created = this.#deriveRuns(ctx, task, times, 0);
    ctx.log({ task_id: id, queue: spec.queue, runs: created.length, policy: p.kind }, "task submitted");
    const stored = this.#task(ctx.w, id);
    if (times.length === 0) this.#settle(ctx, stored);
    return { task: this.#task(ctx.w, id), created: true, runs: created.slice(0, RUNS_IN_SUBMIT_REPLY) };
  }

  /** Creates runs at `times` for `task`, numbering occurrences from `firstOccurrence`. */
  #deriveRuns(ctx: Ctx, task: TaskRecord, times: readonly number[], firstOccurrence: number): RunRecord[] {
    const out: RunRecord[] = [];
    const now = ctx.now;
    let scheduled = 0;
    times.forEach((at, i) => {
      const runId = this.#ids.runId();
      const ready = at <= now && task.pendingDeps === 0;
      const base = ready
        ? newReadyRun(runId, task.id, at, now, task.spec.metadata.priority)
        : newScheduledRun(runId, task.id, at, now);
      if (!base.ok) throw new EngineError("INTERNAL", `cannot derive run: ${base.error.reason}`);
      if (!ready) scheduled++;
      const rec: Omit<RunRecord, "due"> = {
          ...base.value,
          queue: task.spec.queue,
          occurrence: firstOccurrence + i,
          retryAt: null,
          attemptDeadline: null,
          waitingOnDeps: !ready && task.pendingDeps > 0,
          stateReason: "",
          revision: 0,
          lastLeaseToken: null,
          keyHold: null,
          finishedAt: null,
          capabilities: task.spec.constraints.requiredCapabilities,
          keySlots: task.spec.constraints.concurrency
            ? { key: task.spec.constraints.concurrency.key, slots: task.spec.constraints.concurrency.slots }
            : null,
      };
      const revision = this.#emit(ctx, {
        type: "CREATED",
        runId,
        taskId: task.id,
        queue: task.spec.queue,
        from: null,
        to: rec.state,
        at: now,
        attempt: null,
        reason: "",
        priority: rec.effectivePriority,
      });
      const stored = this.#putRun(ctx, { ...rec, revision }, undefined, undefined);
      if (ready) {
        this.#ready.add(this.#readyInfoOf(stored), ctx.journal);
        ctx.wake.add(task.spec.queue);
      }
      out.push(stored);
    });
    if (scheduled > 0) this.#updateTask(ctx, task.id, (t) => ({ ...t, pendingRuns: t.pendingRuns + scheduled }));
    return out;
  }

  /** Tops up a cron task's window of upcoming runs. */
  #refillCron(ctx: Ctx, taskId: TaskId): void {
    const task = ctx.w.getTask(taskId);
    if (!task || task.status !== "ACTIVE" || !task.cron || task.spec.policy.kind !== "CRON") return;
    const schedule = this.#schedule(task.spec.policy);
    if (!schedule) return;
    const r = refillCronWindow(schedule, task.cron, task.pendingRuns, this.#cronWindow, task.spec.policy.maxOccurrences);
    if (r.times.length === 0 && r.cursor === task.cron) return;
    const t2: TaskRecord = {
      ...task,
      cron: r.cursor,
      runsDerived: task.runsDerived + r.times.length,
      openRuns: task.openRuns + r.times.length,
    };
    ctx.w.putTask(t2, task);
    this.#deriveRuns(ctx, t2, r.times, task.runsDerived);
  }

  #misfire(ctx: Ctx, taskId: TaskId, now: number): void {
    const task = ctx.w.getTask(taskId);
    if (!task || task.status !== "ACTIVE" || !task.cron || task.spec.policy.kind !== "CRON") return;
    const schedule = this.#schedule(task.spec.policy);
    if (!schedule) return;
    const overdue = ctx.w
      .runIdsOfTask(taskId)
      .flatMap((id) => ctx.w.getRun(id) ?? [])
      .filter((r) => r.state === "SCHEDULED" && r.scheduledAt <= now)
      .map((r) => ({ runId: r.id, scheduledAt: r.scheduledAt }));
    const p = task.spec.policy;
    const plan = planMisfire(p.misfire, schedule, overdue, task.cron, now, p.maxOccurrences, this.#catchUpLimit);
    if (plan.cancel.length === 0 && plan.derive.length === 0 && plan.cursor === task.cron) return;
    ctx.log({ task_id: taskId, policy: p.misfire, canceled: plan.cancel.length, derived: plan.derive.length, skipped: plan.skipped }, "cron misfire");
    // Move the cursor past the missed window first, so the refills that cancellations
    // trigger derive from there and never re-create a missed occurrence.
    const t2: TaskRecord = {
      ...task,
      cron: plan.cursor,
      runsDerived: task.runsDerived + plan.derive.length,
      openRuns: task.openRuns + plan.derive.length,
      skippedOccurrences: task.skippedOccurrences + plan.skipped,
    };
    ctx.w.putTask(t2, task);
    this.#deriveRuns(ctx, t2, plan.derive, task.runsDerived);
    for (const id of plan.cancel) {
      const run = ctx.w.getRun(id);
      if (run) this.#apply(ctx, run, { type: "CANCEL", at: now }, { reason: "MISSED" });
    }
    this.#refillCron(ctx, taskId);
    this.#settle(ctx, this.#task(ctx.w, taskId));
  }

  // ─── task and run commands ─────────────────────────────────────────────────────────

  /** Cancels a task and its cascade. CANCELED: no-op; COMPLETED / FAILED: TASK_TERMINAL. */
  cancelTask(taskId: TaskId, note = ""): Promise<{ task: TaskRecord; runsCanceled: number; tasksCanceled: number }> {
    return this.#exec("cancelTask", (ctx) => {
      const task = this.#task(ctx.w, taskId);
      if (task.status === "COMPLETED" || task.status === "FAILED") {
        throw new EngineError("TASK_TERMINAL", `task ${taskId} is ${task.status}`, { metadata: { task_id: taskId, status: task.status } });
      }
      const reason = note ? `CANCELED_BY_USER: ${note}` : "CANCELED_BY_USER";
      const counts = task.status === "CANCELED" ? { runs: 0, tasks: 0 } : this.#cancelTaskTree(ctx, taskId, reason);
      return { task: this.#task(ctx.w, taskId), runsCanceled: counts.runs, tasksCanceled: counts.tasks };
    });
  }

  /** Cancels one run. CANCELED: no-op; COMPLETED / FAILED: RUN_TERMINAL. */
  cancelRun(runId: RunId): Promise<RunRecord> {
    return this.#exec("cancelRun", (ctx) => {
      const run = this.#run(ctx.w, runId);
      if (run.state === "CANCELED") return run;
      return this.#apply(ctx, run, { type: "CANCEL", at: ctx.now }, { reason: "CANCELED_BY_USER", error: "run canceled" });
    });
  }

  /** Operator suspension: RUNNING -> SUSPENDED (the open attempt ends SUSPENDED, uncounted). */
  suspendRun(runId: RunId, reason = ""): Promise<RunRecord> {
    return this.#exec("suspendRun", (ctx) => {
      const run = this.#run(ctx.w, runId);
      const why = reason || "SUSPENDED_BY_OPERATOR";
      return this.#apply(ctx, run, { type: "SUSPEND", at: ctx.now }, { reason: why, error: why });
    });
  }

  /** SUSPENDED -> READY with a fresh priority snapshot. */
  resumeRun(runId: RunId): Promise<RunRecord> {
    return this.#exec("resumeRun", (ctx) => {
      const run = this.#run(ctx.w, runId);
      const task = this.#task(ctx.w, run.taskId);
      return this.#apply(ctx, run, { type: "RESUME", at: ctx.now, priority: task.spec.metadata.priority });
    });
  }

  /** Changes the effective priority of a READY run. */
  setRunPriority(runId: RunId, priority: number): Promise<RunRecord> {
    if (!Number.isSafeInteger(priority) || Math.abs(priority) > 1_000_000) {
      return Promise.reject(invalidArgument([{ field: "priority", description: "must be an integer from -1000000 to 1000000" }]));
    }
    return this.#exec("setRunPriority", (ctx) => {
      const run = this.#run(ctx.w, runId);
      const result = applyRunAction(run, { type: "SET_PRIORITY", priority }, { gate: this.#gate, spec: null });
      if (!result.ok) throw fromRefusal(result.error);
      if (!result.value.changed) return run;
      const next = { ...run, effectivePriority: priority };
      this.#ready.add(this.#readyInfoOf(next), ctx.journal);
      const revision = this.#emit(ctx, {
        type: "PRIORITY_CHANGED",
        runId,
        taskId: run.taskId,
        queue: run.queue,
        from: "READY",
        to: "READY",
        at: ctx.now,
        attempt: null,
        reason: "",
        priority,
      });
      return this.#putRun(ctx, { ...next, revision }, run, undefined);
    });
  }

  // ─── workers ───────────────────────────────────────────────────────────────────────

  #rateOk(queue: string, now: number): boolean {
    const q = this.#queues.get(queue);
    if (!q || q.ratePerSecond <= 0) return true;
    const b = this.#refill(q, now);
    return b.tokens >= 1;
  }

  #refill(q: QueueRecord, now: number): Bucket {
    let b = this.#buckets.get(q.name);
    if (!b) {
      b = { tokens: q.burst, at: now };
      this.#buckets.set(q.name, b);
    }
    if (now > b.at) {
      b.tokens = Math.min(q.burst, b.tokens + ((now - b.at) / 1000) * q.ratePerSecond);
      b.at = now;
    }
    return b;
  }

  #paused(queue: string): boolean {
    return this.#enginePaused || this.#queues.get(queue)?.paused === true;
  }

  #validateLease(req: LeaseRequest): void {
    const v: FieldViolation[] = [];
    if (req.queues.length < 1 || req.queues.length > 64) v.push({ field: "queues", description: "must name 1 to 64 queues" });
    req.queues.forEach((q, i) => checkQueueName(v, `queues[${i}]`, q));
    if (!/^[\x21-\x7e][\x20-\x7e]{0,127}$/.test(req.workerId)) {
      v.push({ field: "worker_id", description: "must be 1 to 128 printable ASCII characters, not starting with a space" });
    }
    if (req.capabilities.length > 64) v.push({ field: "capabilities", description: "at most 64 entries" });
    req.capabilities.forEach((c, i) => {
      if (!/^[A-Za-z0-9._:-]{1,64}$/.test(c)) v.push({ field: `capabilities[${i}]`, description: "must match [A-Za-z0-9._:-]{1,64}" });
    });
    if (!Number.isSafeInteger(req.maxRuns) || req.maxRuns < 1 || req.maxRuns > 1_000) v.push({ field: "max_runs", description: "must be 1 to 1000" });
    if (!Number.isSafeInteger(req.leaseDurationMs) || req.leaseDurationMs < 1_000 || req.leaseDurationMs > 3_600_000) {
      v.push({ field: "lease_duration", description: "must be 1 s to 1 h" });
    }
    if (!Number.isSafeInteger(req.waitMs) || req.waitMs < 0 || req.waitMs > 60_000) v.push({ field: "wait", description: "must be 0 to 60 s" });
    if (v.length > 0) throw invalidArgument(v);
  }

  /**
   * Leases up to maxRuns READY runs (see WorkerService.LeaseRuns). With waitMs > 0 it
   * long-polls: woken by commits that make runs available, never by sleeping.
   */
  async leaseRuns(req: LeaseRequest): Promise<LeaseResult> {
    this.#validateLease(req);
    const first = this.#unclaimed(req, await this.#exec("leaseRuns", (ctx) => this.#leaseNow(ctx, req)));
    if (first.grants.length > 0 || req.waitMs <= 0) {
      if (first.grants.length === 0 && req.queues.every((q) => this.#paused(q))) {
        throw this.#enginePaused
          ? new EngineError("ENGINE_PAUSED", "the engine is paused")
          : new EngineError("QUEUE_PAUSED", `queues ${req.queues.join(", ")} are paused`, { metadata: { queues: req.queues.join(",") } });
      }
      return first;
    }
    if (req.signal?.aborted) return first;
    return new Promise<LeaseResult>((resolve, reject) => {
      const waiter: Waiter = {
        req,
        deadline: this.#clock.now() + req.waitMs,
        resolve,
        reject,
        timer: null,
        busy: false,
        done: false,
        expired: false,
        capabilities: new Set(req.capabilities),
        onAbort: null,
        finish: (r, e) => {
          if (waiter.done) return;
          waiter.done = true;
          this.#waiters.delete(waiter);
          if (waiter.timer) clearTimeout(waiter.timer);
          if (waiter.onAbort) req.signal?.removeEventListener("abort", waiter.onAbort);
          if (r) resolve(r);
          else reject(e);
        },
      };
      waiter.timer = setTimeout(() => {
        // A lease attempt in flight answers instead (it may carry runs).
        if (waiter.busy) waiter.expired = true;
        else waiter.finish({ grants: [], pausedQueues: this.#pausedOf(req.queues) });
      }, req.waitMs);
      waiter.onAbort = () => waiter.finish({ grants: [], pausedQueues: [] });
      req.signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /**
   * Runs leased for a caller that went away meanwhile are given back at once (instead of
   * waiting out their lease); the caller gets nothing.
   */
  #unclaimed(req: LeaseRequest, r: LeaseResult): LeaseResult {
    if (!req.signal?.aborted || r.grants.length === 0) return r;
    for (const g of r.grants) {
      const back: Promise<unknown> = g.attempt
        ? this.completeAttempts([
            { runId: g.run.id, token: g.lease.token, attemptId: g.attempt.id, outcome: "SUSPENDED", output: EMPTY_BYTES, error: "worker went away before receiving the run" },
          ]).then((x) => (x[0]?.ok ? this.resumeRun(g.run.id) : undefined))
        : this.releaseLease(g.run.id, g.lease.token);
      back.catch((e) => this.#log.warn({ err: e, run_id: g.run.id }, "could not give back a run leased for a caller that went away"));
    }
    return { grants: [], pausedQueues: r.pausedQueues };
  }

  #pausedOf(queues: readonly string[]): string[] {
    return queues.filter((q) => this.#paused(q));
  }

  #wakeWaiters(queues: Set<string> | null): void {
    for (const w of this.#waiters) {
      if (w.busy || w.done) continue;
      if (queues && !w.req.queues.some((q) => queues.has(q))) continue;
      if (!w.req.queues.some((q) => !this.#paused(q) && this.#ready.hasEligible(q, w.capabilities))) continue;
      w.busy = true;
      this.#exec("leaseRuns", (ctx) => (w.done || w.req.signal?.aborted ? { grants: [], pausedQueues: [] } : this.#leaseNow(ctx, w.req))).then(
        (result) => {
          w.busy = false;
          const r = this.#unclaimed(w.req, result);
          if (r.grants.length > 0 || w.expired || w.req.signal?.aborted || this.#clock.now() >= w.deadline) w.finish(r);
        },
        (e) => {
          w.busy = false;
          w.finish(null, e);
        },
      );
    }
  }

  #leaseNow(ctx: Ctx, req: LeaseRequest): LeaseResult {
    const caps = new Set(req.capabilities);
    const queues = [...new Set(req.queues)];
    const grants: LeaseGrant[] = [];
    const skip = (q: string) => this.#paused(q) || !this.#rateOk(q, ctx.now);
    let rateLimited = false;
    while (grants.length < req.maxRuns) {
      const info = this.#ready.best(queues, caps, skip);
      if (!info) break;
      const run = ctx.w.getRun(info.runId);
      if (!run || run.state !== "READY") {
        // Stale index entry (should not happen): drop it and go on.
        this.#ready.remove(info.runId, ctx.journal);
        continue;
      }
      const token = this.#ids.leaseToken();
      const lease: LeaseRecord = {
        runId: run.id,
        token,
        workerId: req.workerId,
        grantedAt: ctx.now,
        expiresAt: saturatingAdd(ctx.now, req.leaseDurationMs),
        durationMs: req.leaseDurationMs,
      };
      let leased = this.#apply(ctx, run, { type: "LEASE", at: ctx.now }, { lease });
      const q = this.#queues.get(run.queue);
      if (q && q.ratePerSecond > 0) {
        const b = this.#refill(q, ctx.now);
        b.tokens -= 1;
        ctx.journal.record(() => {
          b.tokens += 1;
        });
        if (b.tokens < 1) rateLimited = true;
      }
      let attempt: AttemptRecord | null = null;
      if (req.startAttempt) {
        const attemptId = this.#ids.attemptId();
        leased = this.#apply(ctx, leased, { type: "START_ATTEMPT", at: ctx.now, attemptId }, { lease });
        attempt = ctx.w.getAttempt(leased.id, leased.attemptCount) ?? null;
      }
      grants.push({ run: leased, task: this.#task(ctx.w, run.taskId), lease, attempt });
    }
    if (rateLimited || queues.some((q) => !this.#rateOk(q, ctx.now) && this.#ready.countOf(q) > 0)) this.#armRateTimer(queues);
    return { grants, pausedQueues: this.#pausedOf(queues) };
  }

  #armRateTimer(queues: readonly string[]): void {
    if (this.#rateTimer) return;
    let soonest = Number.POSITIVE_INFINITY;
    for (const name of queues) {
      const q = this.#queues.get(name);
      if (!q || q.ratePerSecond <= 0) continue;
      const b = this.#buckets.get(name);
      const missing = b ? Math.max(0, 1 - b.tokens) : 0;
      soonest = Math.min(soonest, Math.ceil((missing / q.ratePerSecond) * 1000));
    }
    if (!Number.isFinite(soonest)) return;
    this.#rateTimer = setTimeout(() => {
      this.#rateTimer = null;
      this.#wakeWaiters(new Set(queues));
    }, Math.max(1, soonest));
    this.#rateTimer.unref();
  }

  /** The run and its lease when `token` owns it now; LEASE_LOST otherwise (an expired lease is lost even before its timer fires). */
  #leased(r: StoreReader, runId: RunId, token: LeaseToken, now: number): { run: RunRecord; lease: LeaseRecord } {
    const run = this.#run(r, runId);
    const lease = r.getLease(runId);
    if (!lease || lease.token !== token || lease.expiresAt <= now) {
      throw new EngineError("LEASE_LOST", `the lease on run ${runId} is no longer held by this token`, {
        metadata: { run_id: runId, state: run.state },
      });
    }
    return { run, lease };
  }

  /** LEASED -> RUNNING under the caller's lease. */
  startAttempt(runId: RunId, token: LeaseToken): Promise<{ run: RunRecord; attempt: AttemptRecord }> {
    return this.#exec("startAttempt", (ctx) => {
      const { run, lease } = this.#leased(ctx.w, runId, token, ctx.now);
      const next = this.#apply(ctx, run, { type: "START_ATTEMPT", at: ctx.now, attemptId: this.#ids.attemptId() }, { lease });
      return { run: next, attempt: ctx.w.getAttempt(runId, next.attemptCount) as AttemptRecord };
    });
  }

  /** Extends leases; see WorkerService.Heartbeat. Each item succeeds or fails on its own. */
  heartbeat(items: ReadonlyArray<{ runId: RunId; token: LeaseToken; extendByMs: number | null }>): Promise<ItemResult<HeartbeatResult>[]> {
    return this.#exec("heartbeat", (ctx) =>
      items.map((item): ItemResult<HeartbeatResult> => {
        const e = item.extendByMs;
        if (e !== null && (!Number.isSafeInteger(e) || e < 1_000 || e > 3_600_000)) {
          return { ok: false, error: invalidArgument([{ field: "extend_by", description: "must be 1 s to 1 h" }]) };
        }
        try {
          return { ok: true, value: ctx.isolated(() => this.#heartbeatOne(ctx, item)) };
        } catch (e) {
          if (EngineError.is(e)) return { ok: false, error: e };
          throw e;
        }
      }),
    );
  }

  #heartbeatOne(ctx: Ctx, item: { runId: RunId; token: LeaseToken; extendByMs: number | null }): HeartbeatResult {
    const run = this.#run(ctx.w, item.runId);
    const lease = ctx.w.getLease(item.runId);
    if (lease && lease.token === item.token && lease.expiresAt > ctx.now) {
      const extend = item.extendByMs ?? lease.durationMs;
      const next: LeaseRecord = { ...lease, expiresAt: saturatingAdd(ctx.now, extend) };
      ctx.w.putLease(next);
      this.#putRun(ctx, run, run, next);
      ctx.timersChanged = true;
      return { leaseExpiresAt: next.expiresAt, state: run.state, stop: false, stopReason: null };
    }
    if (run.lastLeaseToken === item.token && (run.state === "CANCELED" || run.state === "SUSPENDED")) {
      return { leaseExpiresAt: ctx.now, state: run.state, stop: true, stopReason: run.state };
    }
    throw new EngineError("LEASE_LOST", `the lease on run ${item.runId} is no longer held by this token`, {
      metadata: { run_id: item.runId, state: run.state },
    });
  }

  #validateCompletion(c: Completion, prefix: string): FieldViolation[] {
    const v: FieldViolation[] = [];
    if (c.output.byteLength > this.#limits.maxOutputBytes) {
      v.push({ field: `${prefix}output`, description: `is ${c.output.byteLength} bytes; the limit is ${this.#limits.maxOutputBytes}` });
    }
    if (c.output.byteLength > 0 && c.outcome !== "SUCCESS") v.push({ field: `${prefix}output`, description: "only a SUCCESS outcome carries output" });
    const errBytes = utf8Length(c.error);
    if (errBytes > this.#limits.maxErrorBytes) v.push({ field: `${prefix}error`, description: `is ${errBytes} bytes; the limit is ${this.#limits.maxErrorBytes}` });
    return v;
  }

  /** Finishes attempts; see WorkerService.CompleteAttempt. Each item succeeds or fails on its own. */
  completeAttempts(items: readonly Completion[]): Promise<ItemResult<{ run: RunRecord; attempt: AttemptRecord }>[]> {
    return this.#exec("completeAttempts", (ctx) =>
      items.map((c): ItemResult<{ run: RunRecord; attempt: AttemptRecord }> => {
        const v = this.#validateCompletion(c, "");
        if (v.length > 0) return { ok: false, error: invalidArgument(v) };
        try {
          return { ok: true, value: ctx.isolated(() => this.#completeOne(ctx, c)) };
        } catch (e) {
          if (EngineError.is(e)) return { ok: false, error: e };
          throw e;
        }
      }),
    );
  }

  #completeOne(ctx: Ctx, c: Completion): { run: RunRecord; attempt: AttemptRecord } {
    const { run, lease } = this.#leased(ctx.w, c.runId, c.token, ctx.now);
    if (run.state === "LEASED") {
      throw new EngineError("NO_ACTIVE_ATTEMPT", `run ${c.runId} has no open attempt; call StartAttempt first`, { metadata: { run_id: c.runId } });
    }
    const task = this.#task(ctx.w, run.taskId);
    const next = this.#apply(
      ctx,
      run,
      { type: "FINISH_ATTEMPT", at: ctx.now, attemptId: c.attemptId, outcome: c.outcome, maxAttempts: task.spec.constraints.maxAttempts },
      { lease, error: c.error, output: c.output, ...(c.outcome === "SUSPENDED" ? { reason: c.error || "SUSPENDED_BY_WORKER" } : {}) },
    );
    return { run: next, attempt: ctx.w.getAttempt(c.runId, run.attemptCount) as AttemptRecord };
  }

  /** Gives a LEASED run back (-> READY) without spending an attempt. */
  releaseLease(runId: RunId, token: LeaseToken): Promise<RunRecord> {
    return this.#exec("releaseLease", (ctx) => {
      const { run, lease } = this.#leased(ctx.w, runId, token, ctx.now);
      return this.#apply(ctx, run, { type: "RELEASE_LEASE", at: ctx.now }, { lease });
    });
  }

  // ─── admin ─────────────────────────────────────────────────────────────────────────

  #setEnginePaused(paused: boolean): Promise<boolean> {
    return this.#exec(paused ? "pauseEngine" : "resumeEngine", (ctx) => {
      if (this.#enginePaused === paused) return paused;
      const before = this.#enginePaused;
      this.#enginePaused = paused;
      ctx.journal.record(() => {
        this.#enginePaused = before;
      });
      ctx.w.putMeta({ revision: this.#revision, oldestRevision: this.#oldestRevision, enginePaused: paused });
      ctx.log({ paused }, paused ? "engine paused" : "engine resumed");
      if (!paused) ctx.wakeAll = true;
      return paused;
    });
  }

  /** Stops every queue from handing out runs. */
  pauseEngine(): Promise<boolean> {
    return this.#setEnginePaused(true);
  }

  /** Lets queues hand out runs again. */
  resumeEngine(): Promise<boolean> {
    return this.#setEnginePaused(false);
  }

  #changeQueue(name: string, change: (q: QueueRecord) => QueueRecord, what: string): Promise<QueueRecord> {
    const v: FieldViolation[] = [];
    checkQueueName(v, "queue", name);
    if (v.length > 0) return Promise.reject(invalidArgument(v));
    return this.#exec(what, (ctx) => {
      const prev = this.#queues.get(name) ?? { name, paused: false, ratePerSecond: 0, burst: 0 };
      const next = change(prev);
      if (JSON.stringify(next) === JSON.stringify(prev) && this.#queues.has(name)) return prev;
      const had = this.#queues.has(name);
      this.#queues.set(name, next);
      ctx.journal.record(() => {
        if (had) this.#queues.set(name, prev);
        else this.#queues.delete(name);
      });
      this.#buckets.delete(name);
      ctx.w.putQueue(next);
      ctx.log({ queue: name, paused: next.paused, rate_per_second: next.ratePerSecond, burst: next.burst }, what);
      ctx.wake.add(name);
      return next;
    });
  }

  /** Stops one queue from handing out runs. */
  pauseQueue(name: string): Promise<QueueRecord> {
    return this.#changeQueue(name, (q) => ({ ...q, paused: true }), "queue paused");
  }

  /** Lets one queue hand out runs again. */
  resumeQueue(name: string): Promise<QueueRecord> {
    return this.#changeQueue(name, (q) => ({ ...q, paused: false }), "queue resumed");
  }

  /** Sets (rate > 0) or clears (rate 0) a queue's dispatch rate limit. */
  setQueueRateLimit(name: string, ratePerSecond: number, burst: number): Promise<QueueRecord> {
    const v: FieldViolation[] = [];
    if (!Number.isFinite(ratePerSecond) || ratePerSecond < 0 || ratePerSecond > 1_000_000 || (ratePerSecond > 0 && ratePerSecond < 0.001)) {
      v.push({ field: "runs_per_second", description: "must be 0 (no limit) or 0.001 to 1000000" });
    }
    if (!Number.isSafeInteger(burst) || burst < 0 || burst > 1_000_000) v.push({ field: "burst", description: "must be 0 to 1000000" });
    if (v.length > 0) return Promise.reject(invalidArgument(v));
    const b = ratePerSecond > 0 ? (burst > 0 ? burst : Math.max(1, Math.ceil(ratePerSecond))) : 0;
    return this.#changeQueue(name, (q) => ({ ...q, ratePerSecond, burst: b }), "queue rate limit set");
  }

  /** Counts per queue and state, and engine facts. */
  stats(queues: readonly string[] = []): Stats {
    const r = this.#store.reader;
    const names = queues.length > 0 ? [...new Set(queues)].sort() : r.queueNames();
    return {
      queues: names.map((name) => ({
        queue: this.#queues.get(name) ?? { name, paused: false, ratePerSecond: 0, burst: 0 },
        counts: r.counts(name),
      })),
      enginePaused: this.#enginePaused,
      revision: this.#hub.published,
      oldestRevision: this.#oldestRevision,
      storageBytes: r.usedBytes(),
      storageQuotaBytes: this.#quota,
      tasks: r.taskCount(),
      startedAt: this.#startedAt,
    };
  }

  /** Whether the engine, or a queue, is paused. */
  isPaused(queue?: string): boolean {
    return queue === undefined ? this.#enginePaused : this.#paused(queue);
  }

  // ─── timers ────────────────────────────────────────────────────────────────────────

  #armTimer(): void {
    if (!this.#autoTimers || this.#closing) return;
    const next = this.#store.reader.nextDue();
    const at = next?.at ?? Number.POSITIVE_INFINITY;
    if (this.#timer && at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = at;
    if (!Number.isFinite(at)) return;
    const delay = Math.max(0, Math.min(at - this.#clock.now(), 2_147_483_647));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.tick().catch((e) => this.#log.warn({ err: e }, "timer tick failed"));
    }, delay);
    this.#timer.unref();
  }

  /**
   * Applies every timer that is due now: promotions, retry waits, lease expiry (LEASED ->
   * READY; RUNNING -> TIMEOUT attempt and the retry rule), attempt timeouts. Returns how
   * many entries were handled. Driven by the next deadline in the due index; tests call it
   * directly after moving a manual clock.
   */
  async tick(): Promise<number> {
    let handled = 0;
    for (let round = 0; round < 100; round++) {
      const now = this.#clock.now();
      const due = this.#store.reader.dueEntries(now, this.#maxDuePerTick);
      if (due.length === 0) break;
      const results = await Promise.allSettled(due.map((d) => this.#exec(`timer:${d.kind}`, (ctx) => this.#fire(ctx, d.runId, d.kind, d.at))));
      handled += due.length;
      // Keep going while timers fire: a fired timer may create another one already due (a
      // zero-delay retry after a lease expiry).
      const progressed = results.some((r) => r.status === "fulfilled" && r.value === true);
      if (!progressed) break;
    }
    this.#armTimer();
    return handled;
  }

  #fire(ctx: Ctx, runId: RunId, kind: DueKind, at: number): boolean {
    const run = ctx.w.getRun(runId);
    if (!run || !run.due.some(([a, k]) => a === at && k === kind)) {
      ctx.w.deleteDue({ at, kind, runId });
      return true;
    }
    try {
      return ctx.isolated(() => this.#fireOn(ctx, run, kind));
    } catch (e) {
      // A timer that cannot apply must not fire forever: drop it and say so.
      this.#log.error({ err: e, run_id: runId, kind }, "timer could not be applied; dropped");
      ctx.w.deleteDue({ at, kind, runId });
      return true;
    }
  }

  #fireOn(ctx: Ctx, run: RunRecord, kind: DueKind): boolean {
    const runId = run.id;
    switch (kind) {
      case "PROMOTE": {
        if (run.state !== "SCHEDULED") return false;
        const task = this.#task(ctx.w, run.taskId);
        if (task.pendingDeps > 0) {
          this.#putRun(ctx, { ...run, waitingOnDeps: true }, run, undefined);
          return true;
        }
        this.#apply(ctx, run, { type: "PROMOTE", at: ctx.now, priority: task.spec.metadata.priority });
        return true;
      }
      case "RETRY": {
        const task = this.#task(ctx.w, run.taskId);
        this.#apply(ctx, run, { type: "RETRY_DUE", at: ctx.now, priority: task.spec.metadata.priority });
        return true;
      }
      case "LEASE": {
        const lease = ctx.w.getLease(runId);
        if (run.state === "LEASED") {
          this.#apply(ctx, run, { type: "LEASE_LAPSED", at: ctx.now }, { reason: "LEASE_EXPIRED", ...(lease ? { lease } : {}) });
          return true;
        }
        if (run.state === "RUNNING" && run.currentAttemptId) {
          return this.#timeout(ctx, run, lease, "LEASE_EXPIRED", "lease expired: the worker stopped heartbeating");
        }
        return false;
      }
      case "TIMEOUT": {
        if (run.state !== "RUNNING" || !run.currentAttemptId) return false;
        return this.#timeout(ctx, run, ctx.w.getLease(runId), "ATTEMPT_TIMEOUT", "attempt exceeded its timeout");
      }
    }
  }

  #timeout(ctx: Ctx, run: RunRecord, lease: LeaseRecord | undefined, reason: string, error: string): boolean {
    const task = this.#task(ctx.w, run.taskId);
    const next = this.#apply(
      ctx,
      run,
      {
        type: "FINISH_ATTEMPT",
        at: ctx.now,
        attemptId: run.currentAttemptId as AttemptId,
        outcome: "TIMEOUT",
        maxAttempts: task.spec.constraints.maxAttempts,
      },
      { reason, error, ...(lease ? { lease } : {}) },
    );
    return next.state !== run.state;
  }

  /**
   * Purges terminal runs (with their attempts) and events older than the retention, and
   * tasks whose runs are all purged. Returns what was removed.
   */
  purge(): Promise<{ runs: number; events: number; tasks: number }> {
    return this.#exec("purge", (ctx) => {
      const cutoff = ctx.now - this.#retentionMs;
      let runs = 0;
      let tasks = 0;
      const touched = new Set<TaskId>();
      for (const id of ctx.w.finishedRuns(cutoff, 1_000)) {
        const run = ctx.w.getRun(id);
        if (!run) continue;
        ctx.w.deleteRun(run);
        touched.add(run.taskId);
        runs++;
      }
      for (const id of touched) {
        const t = ctx.w.getTask(id);
        if (t && isTaskTerminal(t.status) && t.statusChangedAt <= cutoff && ctx.w.runIdsOfTask(id, undefined, 1).length === 0 && ctx.w.childTaskIds(id).length === 0) {
          ctx.w.deleteTask(t);
          tasks++;
        }
      }
      // Events: the log is in revision order, which is time order.
      let oldest = this.#oldestRevision;
      let events = 0;
      for (;;) {
        const batch = ctx.w.events(oldest, 1_000);
        const stale = batch.filter((e) => e.at <= cutoff);
        if (stale.length === 0) break;
        const upTo = (stale.at(-1) as EventRecord).revision + 1;
        events += ctx.w.deleteEventsBefore(upTo, 100_000);
        oldest = upTo;
        if (stale.length < batch.length || batch.length < 1_000) break;
      }
      if (oldest !== this.#oldestRevision) {
        const before = this.#oldestRevision;
        this.#oldestRevision = oldest;
        ctx.journal.record(() => {
          this.#oldestRevision = before;
        });
        ctx.w.putMeta({ revision: this.#revision, oldestRevision: oldest, enginePaused: this.#enginePaused });
      }
      if (runs + events + tasks > 0) ctx.log({ runs, events, tasks }, "purged");
      return { runs, events, tasks };
    });
  }

  // ─── watches ───────────────────────────────────────────────────────────────────────

  /**
   * Subscribes to run events from `fromRevision` (0 = live only); see RunService.WatchRuns.
   * Throws REVISION_PURGED when the revision was purged.
   */
  watch(
    filter: WatchFilter,
    fromRevision: number,
    options: { maxBuffer?: number; progressIntervalMs?: number; signal?: AbortSignal } = {},
  ): AsyncIterable<WatchItem> {
    return this.#hub.subscribe({
      filter,
      fromRevision,
      maxBuffer: options.maxBuffer ?? 10_000,
      progressIntervalMs: options.progressIntervalMs ?? 0,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  // ─── shutdown ──────────────────────────────────────────────────────────────────────

  /**
   * Graceful shutdown: refuses new commands, answers waiting long polls with no run, ends
   * watches with SHUTTING_DOWN, finishes the commits in flight, then closes the store.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    for (const t of [this.#timer, this.#rateTimer]) if (t) clearTimeout(t);
    if (this.#purgeTimer) clearInterval(this.#purgeTimer);
    for (const w of [...this.#waiters]) w.finish(null, new EngineError("SHUTTING_DOWN", "the server is shutting down"));
    this.#hub.close(new EngineError("SHUTTING_DOWN", "the server is shutting down"));
    while (this.#draining) await this.#drained;
    this.#closed = true;
    await this.#store.close();
  }
}
