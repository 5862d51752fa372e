/**
 * The engine facade: every lifecycle command of SPEC §4–§9 and the queries of §10, each a
 * line or two that checks its request (domain/requests.ts, domain/task-spec.ts) and hands
 * the work to the module that owns the rule:
 *
 *   commit/     group commit (pipeline.ts) and the unit of work (unit.ts)
 *   memory/     ready index, heap, rebuild from storage
 *   runs/       one run's transition (transition.ts) and operator commands on runs
 *   tasks/      submission, derivation and cron windows, misfire, the task cascade
 *   workers/    leases, long polls, rate limits, attempts
 *   timers/     the timer index driver and retention
 *   admin.ts queries.ts watch.ts
 *
 * See docs/architecture.md for the picture and the path of a command from the wire to disk.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { LeaseToken, RunId, TaskId } from "../domain/ids.js";
import {
  checkBatchSize,
  checkCompletion,
  checkExtendBy,
  checkPriority,
  checkReason,
  compileLeaseRequest,
  compileRateLimit,
  progressIntervalOf,
} from "../domain/requests.js";
import type { CompiledLeaseRequest } from "../domain/requests.js";
import type { FieldViolation } from "../domain/violations.js";
import type { Limits } from "../domain/limits.js";
import { checkQueueName } from "../domain/task-spec.js";
import { changeQueue, queueOf, setEnginePaused } from "./admin.js";
import type {
  BatchCallOptions,
  CallOptions,
  Completion,
  HeartbeatItem,
  HeartbeatResult,
  ItemResult,
  LeaseResult,
  LeaseRequest,
  Stats,
  Submission,
  SubmitResult,
  WatchFilter,
  WatchItem,
} from "./api.js";
import { conflictBackoffMs } from "./commit/conflicts.js";
import { Pipeline } from "./commit/pipeline.js";
import { NeedRows } from "./commit/rows.js";
import type { Unit } from "./commit/unit.js";
import { Core, mustTask } from "./core.js";
import { EngineError, invalidArgument } from "./errors.js";
import { observeCommit } from "./metrics.js";
import { rebuild } from "./rebuild.js";
import { type EngineOptions, resolveOptions } from "./options.js";
import { type ClaimRequest, type Followed, type SharedCommit, type StoreReader, isShared } from "./ports.js";
import { followVerbs } from "./follow.js";
import { Queries } from "./queries.js";
import type { AttemptRecord, EventRecord, QueueRecord, RunRecord, TaskRecord } from "./records.js";
import { cancelRun, resumeRun, setRunPriority, suspendRun } from "./run-commands.js";
import { cancelTaskTree } from "./tasks/cascade.js";
import { applyMisfire } from "./tasks/misfire.js";
import { checkSubmissions, submitOne } from "./tasks/submit.js";
import { type Purged, purge } from "./timers/retention.js";
import { Scheduler } from "./timers/scheduler.js";
import { completeOne, heartbeatOne, releaseLease, startAttempt } from "./workers/attempts.js";
import { leaseClaim, leaseNow, pausedOf } from "./workers/lease.js";
import { LongPolls } from "./workers/long-poll.js";
import { RateLimiter } from "./workers/rate-limit.js";

export type * from "./api.js";
export type { EngineOptions } from "./options.js";
export type { EngineObserver } from "./metrics.js";

const EMPTY_BYTES = new Uint8Array(0);

/** Runs `fn` for each item on its own; an expected failure fails that item only. */
function perItem<I, T>(u: Unit, items: readonly I[], check: (item: I) => FieldViolation[], fn: (item: I) => T): ItemResult<T>[] {
  return items.map((item): ItemResult<T> => {
    const v = check(item);
    if (v.length > 0) return { ok: false, error: invalidArgument(v) };
    try {
      return { ok: true, value: u.isolated(() => fn(item)) };
    } catch (e) {
      if (EngineError.is(e)) return { ok: false, error: e };
      throw e;
    }
  });
}

/** The durable run-queue engine. */
export class Engine {
  readonly #core: Core;
  readonly #pipeline: Pipeline;
  readonly #scheduler: Scheduler;
  readonly #rates = new RateLimiter();
  readonly #polls: LongPolls;
  readonly #queries: Queries;
  #purgeTimer: NodeJS.Timeout | null = null;
  #closed = false;

  private constructor(options: EngineOptions) {
    const core = new Core(resolveOptions(options));
    this.#core = core;
    this.#queries = new Queries(core.store.reader, core.options.limits);
    this.#pipeline = new Pipeline(core.store, core.log, core.options.maxBatch, {
      now: () => core.clock.now(),
      // Long polls this batch made runs available to lease them in the same batch: the run
      // reaches its worker with the batch's one flush (long-poll.ts).
      afterCommands: (wake) => this.#polls.wake(wake),
      beforeCommit: (overlay, changed) => {
        if (changed) overlay.verbs.push({ verb: "saveMeta", meta: core.meta() });
      },
      afterCommit: (c) => {
        if (core.options.observer) observeCommit(core.options.observer, c, core.log);
        if (c.shared) this.#afterShared(c.shared, c.events);
        // A reload (this server was behind the log's retention) published this batch's events.
        if (c.events.length > 0 && !c.shared?.followed.reloaded) core.hub.publish(c.events, core.flags.revision);
        if (c.timersChanged || c.events.length > 0) this.#scheduler.arm();
        if (c.wake === null || c.wake.size > 0) this.#polls.wake(c.wake);
      },
      afterFailure: () => {
        rebuild(core);
        this.#scheduler.arm();
      },
      afterFollow: (f) => this.#follow(f),
      claimed: (runs) => {
        core.claimed = runs;
      },
      conflictWait: (round) => sleep(conflictBackoffMs(round, Math.random(), core.options.conflictBackoffMs)),
    }, { maxQueued: core.options.maxQueuedCommands, maxQueueDelayMs: core.options.maxQueueDelayMs });
    this.#scheduler = new Scheduler(core, (name, run, claim) => this.#pipeline.exec(name, run, { internal: true, claim }));
    this.#polls = new LongPolls(core, {
      lease: (req, gone) =>
        this.#pipeline.exec("leaseRuns", (u) => (gone() ? { grants: [], pausedQueues: [] } : this.#leaseNow(u, req)), {
          internal: true,
          joinBatch: true,
          claim: () => (gone() ? null : this.#claim(req)),
        }),
      unclaimed: (signal, r) => this.#unclaimed(signal, r),
    });
  }

  /**
   * A concurrent commit (SharedCommit): memory follows what other servers committed just before
   * it (their revisions are below this batch's), then the revision counter moves to this
   * batch's last event, whose revision (as all the batch's) was assigned at commit.
   */
  #afterShared(shared: SharedCommit, events: readonly EventRecord[]): void {
    const core = this.#core;
    const first = events[0];
    // Back to the last revision committed before the batch, which theirs follow.
    if (first) core.flags.revision = first.revision - shared.revisionDelta - 1;
    if (shared.followed.verbs.length > 0 || shared.followed.reloaded) this.#follow(shared.followed);
    const last = events.at(-1);
    if (last && last.revision > core.flags.revision) core.flags.revision = last.revision;
  }

  /**
   * Other servers' commits, once the shared store's reader holds them: memory follows, then
   * watchers get their events, long polls are woken and the timer re-armed. A reader
   * reloaded whole (this server fell behind) rebuilds memory and publishes the events since.
   */
  #follow(f: Followed): void {
    const core = this.#core;
    if (f.reloaded) {
      const from = core.hub.published + 1;
      rebuild(core);
      core.hub.reset(from - 1);
      for (let at = Math.max(from, core.flags.oldestRevision); ; ) {
        const events = core.store.reader.events(at, 10_000);
        if (events.length === 0) break;
        const last = events.at(-1)?.revision ?? at;
        core.hub.publish(events, last);
        at = last + 1;
      }
      core.hub.publish([], core.flags.revision);
      this.#polls.wake(null);
    } else {
      const { events, wake } = followVerbs(core, this.#rates, f.verbs);
      core.hub.publish(events, core.flags.revision);
      if (wake === null || wake.size > 0) this.#polls.wake(wake);
    }
    this.#scheduler.arm();
  }

  /**
   * Over a store several servers share: resolves once this engine holds everything other
   * servers had committed when it was called, so a read answers with what any server
   * acknowledged before it (STORAGE_IO when the database cannot be reached). At once otherwise.
   */
  sync(): Promise<void> {
    return this.#pipeline.sync();
  }

  /**
   * Opens the engine over an opened store: rebuilds memory from disk, applies every cron
   * task's misfire policy for the outage before any timer runs, then starts the timers
   * (unless autoTimers is off).
   */
  static async open(options: EngineOptions): Promise<Engine> {
    const engine = new Engine(options);
    const core = engine.#core;
    rebuild(core);
    const now = core.clock.now();
    const ids = core.store.reader.cronTaskIds();
    if (ids.length > 0) {
      await engine.#pipeline.exec("misfire", (u) => {
        for (const id of ids) {
          try {
            u.isolated(() => applyMisfire(core, u, id, now));
          } catch (e) {
            if (e instanceof NeedRows) throw e; // fetched, then run again (commit/rows.ts)
            core.log.error({ err: e, task_id: id }, "misfire handling failed");
          }
        }
      }, { internal: true });
    }
    engine.#scheduler.start();
    const store = core.store;
    // Another server committed: follow it between batches (watches, long polls, timers).
    if (isShared(store)) {
      store.onChange(() => {
        engine.#pipeline.sync().catch(() => undefined);
      });
    }
    if (core.options.autoTimers) {
      engine.#purgeTimer = setInterval(() => {
        engine.purge().catch((e: unknown) => core.log.warn({ err: e }, "purge failed"));
      }, core.options.purgeIntervalMs);
      engine.#purgeTimer.unref();
    }
    return engine;
  }

  /** Effective limits. */
  get limits(): Limits {
    return this.#core.options.limits;
  }

  /** Revision of the last durable change. */
  get revision(): number {
    return this.#core.hub.published;
  }

  /** Synchronous reads of committed state. */
  get reader(): StoreReader {
    return this.#core.store.reader;
  }

  /** Queries for the API (runs, tasks, listings, keys). */
  get queries(): Queries {
    return this.#queries;
  }

  /** Long polls waiting for runs. */
  get waitingWorkers(): number {
    return this.#polls.size;
  }

  /** Open watch subscriptions. */
  get watchers(): number {
    return this.#core.hub.subscribers;
  }

  /**
   * The command queue: commands waiting to run, refused as overload (in all, and of them by
   * --max-queue-delay; the rest by --max-queued-commands), dropped (caller gone).
   */
  get commandQueue(): { queued: number; refused: number; refusedByDelay: number; dropped: number } {
    return { queued: this.#pipeline.queued, ...this.#pipeline.shedding };
  }

  /**
   * Batches decided again because their commit raced another server's (PostgreSQL with
   * concurrent commits; always 0 otherwise).
   */
  get commitConflicts(): number {
    return this.#pipeline.conflicts;
  }

  /** READY runs in the selection index. */
  get readyIndexed(): number {
    return this.#core.ready.size;
  }

  // ─── tasks ─────────────────────────────────────────────────────────────────────────

  /**
   * Submits tasks atomically (all or none). Validates every field first (INVALID_ARGUMENT
   * naming `tasks[i].spec.<field>` for a batch, `spec.<field>` for a single submission,
   * which is the default when exactly one item is given), then relations, idempotency and
   * the storage quota.
   */
  submitTasks(items: readonly Submission[], options: CallOptions & { batch?: boolean } = {}): Promise<SubmitResult[]> {
    let checked: ReturnType<typeof checkSubmissions>;
    try {
      checked = checkSubmissions(this.#core, items, options.batch ?? items.length > 1, options.decoded);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#pipeline.exec("submit", (u) => checked.map((c) => submitOne(this.#core, u, c)), { signal: options.signal });
  }

  /** Submits one task; see submitTasks. */
  async submitTask(item: Submission): Promise<SubmitResult> {
    const [r] = await this.submitTasks([item]);
    return r as SubmitResult;
  }

  /** Cancels a task and its cascade. CANCELED: no-op; COMPLETED / FAILED: TASK_TERMINAL. */
  cancelTask(taskId: TaskId, note = "", opts: CallOptions = {}): Promise<{ task: TaskRecord; runsCanceled: number; tasksCanceled: number }> {
    return this.#command("cancelTask", opts, (v) => checkReason(v, "reason", note), (u) => {
      const task = mustTask(u, taskId);
      if (task.status === "COMPLETED" || task.status === "FAILED") {
        throw new EngineError("TASK_TERMINAL", `task ${taskId} is ${task.status}`, { metadata: { task_id: taskId, status: task.status } });
      }
      const reason = note ? `CANCELED_BY_USER: ${note}` : "CANCELED_BY_USER";
      const counts = task.status === "CANCELED" ? { runs: 0, tasks: 0 } : cancelTaskTree(this.#core, u, taskId, reason);
      return { task: mustTask(u, taskId), runsCanceled: counts.runs, tasksCanceled: counts.tasks };
    });
  }

  // ─── runs ──────────────────────────────────────────────────────────────────────────

  /** Cancels one run. CANCELED: no-op; COMPLETED / FAILED: RUN_TERMINAL. */
  cancelRun(runId: RunId): Promise<RunRecord> {
    return this.#pipeline.exec("cancelRun", (u) => cancelRun(this.#core, u, runId));
  }

  /** Operator suspension: RUNNING -> SUSPENDED (the open attempt ends SUSPENDED, uncounted). */
  suspendRun(runId: RunId, reason = "", opts: CallOptions = {}): Promise<RunRecord> {
    return this.#command("suspendRun", opts, (v) => checkReason(v, "reason", reason), (u) => suspendRun(this.#core, u, runId, reason));
  }

  /** SUSPENDED -> READY with a fresh priority snapshot. */
  resumeRun(runId: RunId): Promise<RunRecord> {
    return this.#pipeline.exec("resumeRun", (u) => resumeRun(this.#core, u, runId));
  }

  /** Changes the effective priority of a READY run. */
  setRunPriority(runId: RunId, priority: number, opts: CallOptions = {}): Promise<RunRecord> {
    return this.#command("setRunPriority", opts, (v) => checkPriority(v, "priority", priority), (u) => setRunPriority(this.#core, u, runId, priority));
  }

  // ─── workers ───────────────────────────────────────────────────────────────────────

  /**
   * Leases up to max_runs READY runs (see WorkerService.LeaseRuns). With a wait it
   * long-polls: woken by commits that make runs available, never by sleeping.
   */
  async leaseRuns(request: LeaseRequest, opts: CallOptions = {}): Promise<LeaseResult> {
    const compiled = compileLeaseRequest(request);
    const decoded = opts.decoded ?? [];
    if (!compiled.ok || decoded.length > 0) throw invalidArgument([...decoded, ...(compiled.ok ? [] : compiled.error.filter((x) => !decoded.some((d) => d.field === x.field)))]);
    const req = compiled.value;
    const signal = request.signal;
    const first = this.#unclaimed(signal, await this.#pipeline.exec("leaseRuns", (u) => this.#leaseNow(u, req), { claim: () => this.#claim(req) }));
    if (first.grants.length > 0 || req.waitMs <= 0) {
      if (first.grants.length === 0 && req.queues.every((q) => this.#core.isPaused(q))) {
        throw this.#core.flags.enginePaused
          ? new EngineError("ENGINE_PAUSED", "the engine is paused")
          : new EngineError("QUEUE_PAUSED", `queues ${req.queues.join(", ")} are paused`, { metadata: { queues: req.queues.join(",") } });
      }
      return first;
    }
    if (signal?.aborted) return first;
    return this.#polls.wait(req, signal);
  }

  /** What a LeaseRuns may hand out now, for its batch's claim (concurrent commits). */
  #claim(req: CompiledLeaseRequest): ClaimRequest | null {
    return leaseClaim(this.#core, this.#rates, req, this.#core.clock.now());
  }

  #leaseNow(u: Unit, req: CompiledLeaseRequest): LeaseResult {
    return leaseNow(this.#core, this.#rates, u, req, (queues) =>
      this.#rates.armWake(
        queues.map((q) => queueOf(this.#core, q)),
        () => this.#polls.wake(new Set(queues)),
      ),
    );
  }

  /**
   * Runs leased for a caller that went away meanwhile are given back at once (instead of
   * waiting out their lease); the caller gets nothing.
   */
  #unclaimed(signal: AbortSignal | undefined, r: LeaseResult): LeaseResult {
    if (!signal?.aborted || r.grants.length === 0) return r;
    for (const g of r.grants) {
      const error = "worker went away before receiving the run";
      // One internal command (never refused as overload): a started attempt ends SUSPENDED
      // (uncounted) and the run is resumed; a lease not started is released.
      const back = this.#pipeline.exec(
        "giveBack",
        (u) => {
          if (!g.attempt) return releaseLease(this.#core, u, g.run.id, g.lease.token);
          completeOne(this.#core, u, { runId: g.run.id, token: g.lease.token, attemptId: g.attempt.id, outcome: "SUSPENDED", output: EMPTY_BYTES, error });
          return resumeRun(this.#core, u, g.run.id);
        },
        { internal: true },
      );
      back.catch((e: unknown) => this.#core.log.warn({ err: e, run_id: g.run.id }, "could not give back a run leased for a caller that went away"));
    }
    return { grants: [], pausedQueues: r.pausedQueues };
  }

  /** LEASED -> RUNNING under the caller's lease. */
  startAttempt(runId: RunId, token: LeaseToken): Promise<{ run: RunRecord; attempt: AttemptRecord }> {
    return this.#pipeline.exec("startAttempt", (u) => startAttempt(this.#core, u, runId, token));
  }

  /** Extends leases; see WorkerService.Heartbeat. Each item succeeds or fails on its own. */
  heartbeat(items: readonly HeartbeatItem[], opts: BatchCallOptions = {}): Promise<ItemResult<HeartbeatResult>[]> {
    const check = (i: HeartbeatItem, prefix: string) => {
      const v: FieldViolation[] = [];
      checkExtendBy(v, `${prefix}extend_by`, i.extendByMs);
      return v;
    };
    return this.#items("heartbeat", items, opts, check, (u, i) => heartbeatOne(this.#core, u, i));
  }

  /** Finishes attempts; see WorkerService.CompleteAttempt. Each item succeeds or fails on its own. */
  completeAttempts(items: readonly Completion[], opts: BatchCallOptions = {}): Promise<ItemResult<{ run: RunRecord; attempt: AttemptRecord }>[]> {
    const check = (c: Completion, prefix: string) => {
      const v: FieldViolation[] = [];
      checkCompletion(v, prefix, c, this.#core.options.limits);
      return v;
    };
    return this.#items("completeAttempts", items, opts, check, (u, c) => completeOne(this.#core, u, c));
  }

  /**
   * A batch of items: each item's own checks either fail that item alone, or, with
   * `opts.itemPrefix`, reject the whole call together with the decode violations.
   */
  #items<I, T>(name: string, items: readonly I[], opts: BatchCallOptions, check: (item: I, prefix: string) => FieldViolation[], fn: (u: Unit, item: I) => T): Promise<ItemResult<T>[]> {
    const whole = opts.itemPrefix;
    if (whole || (opts.decoded?.length ?? 0) > 0) {
      const v: FieldViolation[] = [...(opts.decoded ?? [])];
      if (whole) {
        checkBatchSize(v, whole(0).replace(/\[0\]\.$/, ""), items.length, this.#core.options.limits);
        items.forEach((item, i) => v.push(...check(item, whole(i)).filter((x) => !v.some((d) => d.field === x.field))));
      }
      if (v.length > 0) return Promise.reject(invalidArgument(v));
    }
    return this.#pipeline.exec(name, (u) => perItem(u, items, (item) => check(item, ""), (item) => fn(u, item)), { signal: opts.signal });
  }

  /** Gives a LEASED run back (-> READY) without spending an attempt. */
  releaseLease(runId: RunId, token: LeaseToken): Promise<RunRecord> {
    return this.#pipeline.exec("releaseLease", (u) => releaseLease(this.#core, u, runId, token));
  }

  // ─── admin ─────────────────────────────────────────────────────────────────────────

  /** Stops every queue from handing out runs. */
  pauseEngine(): Promise<boolean> {
    return this.#pipeline.exec("pauseEngine", (u) => setEnginePaused(this.#core, u, true));
  }

  /** Lets queues hand out runs again. */
  resumeEngine(): Promise<boolean> {
    return this.#pipeline.exec("resumeEngine", (u) => setEnginePaused(this.#core, u, false));
  }

  /** Stops one queue from handing out runs. */
  pauseQueue(name: string, opts: CallOptions = {}): Promise<QueueRecord> {
    return this.#queueCommand(name, (q) => ({ ...q, paused: true }), "queue paused", opts);
  }

  /** Lets one queue hand out runs again. */
  resumeQueue(name: string, opts: CallOptions = {}): Promise<QueueRecord> {
    return this.#queueCommand(name, (q) => ({ ...q, paused: false }), "queue resumed", opts);
  }

  /** Sets (rate > 0) or clears (rate 0) a queue's dispatch rate limit. */
  setQueueRateLimit(name: string, ratePerSecond: number, burst: number, opts: CallOptions = {}): Promise<QueueRecord> {
    const rate = compileRateLimit(ratePerSecond, burst);
    const r = rate.ok ? rate.value : { ratePerSecond: 0, burst: 0 };
    return this.#queueCommand(name, (q) => ({ ...q, ...r }), "queue rate limit set", opts, rate.ok ? [] : rate.error);
  }

  #queueCommand(name: string, change: (q: QueueRecord) => QueueRecord, what: string, opts: CallOptions, more: readonly FieldViolation[] = []): Promise<QueueRecord> {
    const check = (v: FieldViolation[]) => {
      checkQueueName(v, "queue", name);
      v.push(...more);
    };
    return this.#command(what, opts, check, (u) => changeQueue(this.#core, this.#rates, u, name, change, what));
  }

  /**
   * Counts per queue and state (of `queues`, or of every queue), when each queue's oldest
   * READY run became READY, and engine facts. `oldestReady: false` skips the READY scans
   * behind `oldestReadyAt` (null then): the metrics scrape reads only the counts.
   */
  stats(queues: readonly string[] = [], opts: CallOptions & { readonly oldestReady?: boolean } = {}): Stats {
    const core = this.#core;
    const v: FieldViolation[] = [...(opts.decoded ?? [])];
    queues.forEach((q, i) => checkQueueName(v, `queues[${i}]`, q));
    if (queues.length > core.options.limits.maxPageSize) v.push({ field: "queues", description: `at most ${core.options.limits.maxPageSize} queues` });
    if (v.length > 0) throw invalidArgument(v);
    const r = core.store.reader;
    const names = queues.length > 0 ? [...new Set(queues)].sort() : r.queueNames();
    return {
      queues: names.map((name) => {
        const counts = r.counts(name);
        const oldestReadyAt = opts.oldestReady !== false && counts.READY > 0 ? this.#queries.oldestReadyAt(name) : null;
        return { queue: queueOf(core, name), counts, oldestReadyAt };
      }),
      enginePaused: core.flags.enginePaused,
      revision: core.hub.published,
      oldestRevision: core.flags.oldestRevision,
      storageBytes: r.usedBytes(),
      storageQuotaBytes: core.options.storageQuotaBytes,
      tasks: r.taskCount(),
      startedAt: core.startedAt,
    };
  }

  /** Whether the engine, or a queue, is paused. */
  isPaused(queue?: string): boolean {
    return queue === undefined ? this.#core.flags.enginePaused : this.#core.isPaused(queue);
  }

  /** Queues of `queues` that hand out nothing now. */
  pausedQueues(queues: readonly string[]): string[] {
    return pausedOf(this.#core, queues);
  }

  // ─── timers ────────────────────────────────────────────────────────────────────────

  /**
   * Applies every timer that is due now (promotions, retry waits, lease expiry, attempt
   * timeouts); returns how many entries were handled. Tests call it after moving a manual clock.
   */
  tick(): Promise<number> {
    return this.#scheduler.tick();
  }

  /** Purges terminal runs, events and tasks past the retention; returns what was removed. */
  purge(): Promise<Purged> {
    return this.#pipeline.exec("purge", (u) => purge(this.#core, u), { internal: true });
  }

  // ─── watches ───────────────────────────────────────────────────────────────────────

  /**
   * Subscribes to run events from `fromRevision` (0 = live only); see RunService.WatchRuns.
   * Throws REVISION_PURGED when the revision was purged.
   */
  watch(
    filter: WatchFilter,
    fromRevision: number,
    options: CallOptions & { maxBuffer?: number; progressIntervalMs?: number; maxBatch?: number; signal?: AbortSignal } = {},
  ): AsyncIterable<WatchItem> {
    const v: FieldViolation[] = [...(options.decoded ?? [])];
    [...(filter.queues ?? [])].forEach((q, i) => checkQueueName(v, `queues[${i}]`, q));
    const progressIntervalMs = options.progressIntervalMs === undefined ? 0 : progressIntervalOf(v, "progress_interval_ms", options.progressIntervalMs);
    if (v.length > 0) throw invalidArgument(v);
    return this.#core.hub.subscribe({
      filter,
      fromRevision,
      maxBuffer: options.maxBuffer ?? 10_000,
      progressIntervalMs,
      ...(options.maxBatch !== undefined ? { maxBatch: options.maxBatch } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  // ─── shutdown ──────────────────────────────────────────────────────────────────────

  /**
   * Graceful shutdown: refuses new commands, answers waiting long polls with SHUTTING_DOWN,
   * ends watches, finishes the commits in flight, then closes the store.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#scheduler.stop();
    this.#rates.stop();
    if (this.#purgeTimer) clearInterval(this.#purgeTimer);
    const error = new EngineError("SHUTTING_DOWN", "the server is shutting down");
    this.#polls.closeAll(error);
    this.#core.hub.close(error);
    await this.#pipeline.close();
    await this.#core.store.close();
  }

  /** Checks a request (INVALID_ARGUMENT with every violation, decoded ones first), then queues its command. */
  #command<T>(name: string, opts: CallOptions, check: (v: FieldViolation[]) => void, run: (u: Unit) => T): Promise<T> {
    const v: FieldViolation[] = [...(opts.decoded ?? [])];
    check(v);
    if (v.length > 0) return Promise.reject(invalidArgument(v));
    return this.#pipeline.exec(name, run, { signal: opts.signal });
  }
}
