/**
 * The worker: a lease loop (long-poll LeaseRuns for up to the free capacity), one handler
 * call per run, the heartbeat loop (heartbeats.ts), the completion batcher (completions.ts)
 * and a graceful close. All state changes of the worker as a whole go through `#setState`.
 *
 * Why `start_attempt` on LeaseRuns rather than a StartAttempt call per run: one commit (one
 * disk flush) for a whole batch instead of 1 + N round trips, and the attempt clock starts
 * when the run is handed over. The cost — a run held by this worker is always RUNNING, so
 * ReleaseLease (LEASED only) cannot give it back — is handled by `#giveBack`: report the
 * attempt SUSPENDED (uncounted) and resume the run, the same two steps the server applies
 * to runs it leased for a LeaseRuns caller that went away.
 */
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { toActionQueueError } from "../errors.js";
import { RunState } from "../gen/actionqueue/v1/run_pb.js";
import type { LeasedRun } from "../gen/actionqueue/v1/worker_service_pb.js";
import { type CompletionResult, Completions, type PendingCompletion, isFatal } from "./completions.js";
import { type AbortReason, RunAbortedError, WorkerStateError, abortDetail } from "./failures.js";
import { Heartbeats } from "./heartbeats.js";
import { type GiveBackDeps, resumeRun, sweepOrphans } from "./orphans.js";
import { type HeldRun, type Job, jobPayload } from "./job.js";
import { backoffDelay, type CompiledOptions, type LeaseLostEvent, type WorkerHooks, type WorkerOperation, type WorkerState } from "./options.js";
import { type Outcome, failureOutcome, successOutcome, timeoutOutcome } from "./outcome.js";

/** What `close()` accepts. */
export interface CloseOptions {
  /** How long to wait for running handlers before aborting them with SHUTDOWN. Default: the worker's shutdownTimeoutMs. */
  readonly timeoutMs?: number | undefined;
}

/**
 * A worker. States, changed only by the worker:
 * - `created`: built by createWorker; nothing runs. `run()` → running; `close()` → closed.
 * - `running`: leasing, handling, heartbeating, completing. `close()` (or `shutdownSignal`,
 *   or a fatal error such as UNAUTHENTICATED) → draining.
 * - `draining`: no new leases; handlers finish (up to the close deadline, then their signals
 *   abort with SHUTDOWN and their runs are given back); completions are flushed. → closed.
 * - `closed`: final. `run()` resolves (or rejects with the fatal error that closed it).
 */
export interface Worker {
  /** The current state. */
  readonly state: WorkerState;
  /** The worker id sent with every lease. */
  readonly workerId: string;
  /** Runs held now (leased and not yet acknowledged complete). */
  readonly held: number;
  /**
   * Starts the worker and resolves once it is closed again (by `close()` or
   * `shutdownSignal`). Rejects with a WorkerStateError unless the state is "created", and
   * with the server's error when a fatal one (INVALID_ARGUMENT, UNAUTHENTICATED,
   * PERMISSION_DENIED, UNIMPLEMENTED) stopped leasing.
   */
  run(): Promise<void>;
  /**
   * Stops leasing at once (an in-flight long poll is abandoned; what the server leased for it
   * is given back, by the server or by this worker's sweep, see orphans.ts), waits for
   * running handlers up to `timeoutMs` without aborting them, then aborts the rest with
   * SHUTDOWN and gives their runs back (READY again, no attempt counted), flushes
   * completions, and resolves when done — after at most `timeoutMs` plus the time the last
   * calls take (a completion the server cannot receive is retried up to its lease's end).
   * Idempotent: a second call returns the same promise. In state "created" it just closes.
   * Rejects with RangeError for a negative `timeoutMs`.
   */
  close(options?: CloseOptions): Promise<void>;
}

const EMPTY = new Uint8Array(0);

/** The implementation behind createWorker. */
export class WorkerImpl implements Worker {
  readonly #o: CompiledOptions;
  #state: WorkerState = "created";
  readonly #held = new Map<string, HeldRun>();
  readonly #heartbeats: Heartbeats;
  readonly #completions: Completions;
  /** Waiters of #waitForChange, woken by #notify. */
  readonly #wakers = new Set<() => void>();
  #pollAbort: AbortController | null = null;
  #loop: Promise<void> | null = null;
  #closing: Promise<void> | null = null;
  #fatal: unknown = undefined;
  /** close() abandoned a long poll: look for runs leased for it (see orphans.ts). */
  #sweep = false;
  #done!: { promise: Promise<void>; resolve: () => void };
  #onShutdownSignal: (() => void) | null = null;
  /** The listener of `handleSignals`: the first signal closes; the next ones get Node's default. */
  readonly #onProcessSignal = (): void => {
    this.#removeProcessListeners();
    void this.close();
  };

  constructor(options: CompiledOptions) {
    this.#o = options;
    const deps = { options, error: (e: unknown, op: WorkerOperation, runId?: string) => this.#error(e, op, runId), now: () => Date.now(), random: Math.random };
    this.#heartbeats = new Heartbeats({ ...deps, held: () => this.#held.values(), stop: (r, reason, confirmed, source, error) => this.#stop(r, reason, confirmed, source, error) });
    this.#completions = new Completions({ ...deps, settle: (c, r) => this.#settleCompletion(c, r) });
  }

  get #giveBackDeps(): GiveBackDeps {
    return { options: this.#o, error: (e, op, runId) => this.#error(e, op, runId), random: Math.random };
  }

  get state(): WorkerState {
    return this.#state;
  }

  get workerId(): string {
    return this.#o.workerId;
  }

  get held(): number {
    return this.#held.size;
  }

  async run(): Promise<void> {
    if (this.#state !== "created") throw new WorkerStateError("run", this.#state, '"created"');
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.#done = { promise, resolve };
    this.#setState("running");
    this.#heartbeats.start();
    this.#loop = this.#leaseLoop().catch((e: unknown) => {
      // A bug in the loop itself: surface it through run() after a graceful close.
      this.#fatal = e;
      void this.close();
    });
    for (const sig of this.#o.handleSignals) process.on(sig, this.#onProcessSignal);
    const signal = this.#o.shutdownSignal;
    if (signal) {
      this.#onShutdownSignal = () => void this.close();
      if (signal.aborted) this.#onShutdownSignal();
      else signal.addEventListener("abort", this.#onShutdownSignal, { once: true });
    }
    await promise;
    if (this.#fatal !== undefined) throw this.#fatal;
  }

  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    const timeoutMs = options.timeoutMs ?? this.#o.shutdownTimeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) return Promise.reject(new RangeError(`close: timeoutMs must be a non-negative number, got ${String(timeoutMs)}`));
    if (this.#state === "created") {
      this.#setState("closed");
      this.#closing = Promise.resolve();
      return this.#closing;
    }
    this.#setState("draining");
    if (this.#pollAbort) {
      this.#pollAbort.abort();
      this.#sweep = true;
    }
    this.#notify();
    this.#closing = this.#drain(timeoutMs);
    return this.#closing;
  }

  // ---------------------------------------------------------------------------------------
  // Leasing
  // ---------------------------------------------------------------------------------------

  async #leaseLoop(): Promise<void> {
    const o = this.#o;
    let failures = 0;
    while (this.#state === "running") {
      const free = o.concurrency - this.#held.size;
      if (free <= 0) {
        await this.#waitForChange();
        continue;
      }
      const poll = new AbortController();
      this.#pollAbort = poll;
      const sentAt = Date.now();
      let runs: LeasedRun[];
      try {
        const reply = await o.clients.workers.leaseRuns(
          {
            queues: [...o.queues],
            workerId: o.workerId,
            capabilities: [...o.capabilities],
            maxRuns: Math.min(free, o.maxLeaseBatch),
            leaseDuration: durationFromMs(o.leaseDurationMs),
            wait: durationFromMs(o.pollWaitMs),
            startAttempt: true,
          },
          // The deadline covers the wait plus a margin, so a connection that died silently
          // under the long poll is noticed.
          { signal: poll.signal, timeoutMs: o.pollWaitMs + 15_000 },
        );
        runs = reply.runs;
        failures = 0;
      } catch (e) {
        if (poll.signal.aborted) break;
        // The call is over: a close() from here on has no poll to abandon.
        this.#pollAbort = null;
        const err = toActionQueueError(e);
        if (isFatal(err)) {
          this.#fatal = err;
          this.#error(err, "lease");
          void this.close();
          break;
        }
        this.#error(err, "lease");
        await this.#waitForChange(backoffDelay(o, failures++, Math.random()));
        continue;
      } finally {
        this.#pollAbort = null;
      }
      // When the lease was granted is known only to lie between sending and receiving; a
      // long poll may have waited most of that time. The grant is taken to be at most `slack`
      // before the reply arrived — at most a quarter lease, so that the first heartbeat round
      // (at most half a lease away) still comes before the deadline.
      const receivedAt = Date.now();
      const slack = Math.min(1_000, o.leaseDurationMs / 4);
      const grantedAt = Math.max(sentAt, receivedAt - slack);
      for (const lr of runs) this.#accept(lr, grantedAt, receivedAt);
    }
  }

  /** Resolves on the next #notify (a slot freed, the state changed) or after `ms`. */
  #waitForChange(ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.#wakers.delete(done);
        resolve();
      };
      const timer = ms === undefined ? null : setTimeout(done, ms);
      this.#wakers.add(done);
    });
  }

  #notify(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  /** Takes one leased run: holds it and starts its handler (or gives it back when draining). */
  #accept(lr: LeasedRun, grantedAt: number, receivedAt: number): void {
    const run = lr.run;
    const task = lr.task;
    const attempt = lr.attempt;
    if (!run || !task || !attempt) {
      this.#error(new Error(`LeaseRuns returned an incomplete run ${run?.id ?? "?"}`), "lease", run?.id);
      return;
    }
    const timeout = task.spec?.constraints?.attemptTimeout;
    const attemptTimeoutMs = timeout ? durationMs(timeout) : 0;
    const held: HeldRun = {
      runId: run.id,
      taskId: run.taskId,
      queue: run.queue,
      token: lr.leaseToken,
      attemptId: attempt.id,
      attemptNumber: attempt.number,
      controller: new AbortController(),
      leasedAt: receivedAt,
      leaseDeadline: grantedAt + this.#o.leaseDurationMs,
      phase: "running",
      stop: null,
      timeoutTimer: null,
      attemptTimeoutMs: attemptTimeoutMs > 0 ? attemptTimeoutMs : undefined,
      waiters: [],
    };
    this.#held.set(held.runId, held);
    this.#hook("onLeased", { runId: held.runId, taskId: held.taskId, queue: held.queue, attempt: held.attemptNumber });
    if (this.#state !== "running") {
      // The reply of a poll raced close(): the attempt is open, so give the run back.
      this.#giveBack(held);
      return;
    }
    if (held.attemptTimeoutMs !== undefined) {
      // Measured from the estimated grant (the attempt started with it).
      const ms = Math.max(0, grantedAt + held.attemptTimeoutMs - Date.now());
      held.timeoutTimer = setTimeout(() => this.#stop(held, "TIMEOUT", false, "clock"), ms);
    }
    const payload = task.spec?.payload;
    const job: Job = {
      runId: held.runId,
      taskId: held.taskId,
      queue: held.queue,
      attempt: { number: held.attemptNumber, id: held.attemptId },
      payload: jobPayload(payload?.data ?? EMPTY, payload?.contentType || "application/octet-stream"),
      run,
      task,
      attemptTimeoutMs: held.attemptTimeoutMs,
      workerId: this.#o.workerId,
      signal: held.controller.signal,
      heartbeat: () => this.#heartbeats.request(held),
    };
    void this.#execute(held, job);
  }

  // ---------------------------------------------------------------------------------------
  // Handlers and outcomes
  // ---------------------------------------------------------------------------------------

  async #execute(held: HeldRun, job: Job): Promise<void> {
    let settled: { ok: true; value: unknown } | { ok: false; error: unknown };
    try {
      settled = { ok: true, value: await this.#o.handler(job) };
    } catch (e) {
      settled = { ok: false, error: e };
    }
    if (held.timeoutTimer) clearTimeout(held.timeoutTimer);
    held.timeoutTimer = null;
    if (held.phase !== "running") {
      // Given back at shutdown: the run may already be someone else's.
      this.#notify();
      return;
    }
    if (held.stop?.confirmed) {
      // The server already finished the attempt (canceled, suspended, lease lost): a
      // completion would only be refused with LEASE_LOST. Not sent.
      this.#release(held);
      return;
    }
    if (held.stop === null && Date.now() >= held.leaseDeadline) {
      // The handler blocked the event loop past the lease (no heartbeat round could run):
      // say so, then let the server decide on the completion (it refuses with LEASE_LOST).
      this.#stop(held, "LEASE_LOST", false, "clock");
    }
    let outcome: Outcome;
    if (held.stop?.reason === "TIMEOUT") outcome = timeoutOutcome(held.attemptTimeoutMs ?? 0, settled.ok ? { ok: true } : settled);
    else outcome = settled.ok ? successOutcome(settled.value) : failureOutcome(settled.error);
    held.phase = "completing";
    this.#completions.add({ run: held, outcome, giveBack: false });
  }

  /**
   * Stops a run: aborts its signal with a RunAbortedError, rejects its manual heartbeats.
   * A later confirmation by the server upgrades a local stop (no completion is sent then).
   */
  #stop(held: HeldRun, reason: AbortReason, confirmed: boolean, source: LeaseLostEvent["source"], error?: unknown): void {
    if (held.phase === "done") return;
    if (held.stop !== null) {
      if (confirmed && !held.stop.confirmed) held.stop.confirmed = true;
      return;
    }
    held.stop = { reason, confirmed };
    if (held.timeoutTimer && reason !== "TIMEOUT") clearTimeout(held.timeoutTimer);
    const detail = abortDetail(reason, source === "clock", held.attemptTimeoutMs);
    held.controller.abort(new RunAbortedError(reason, held.runId, detail, error === undefined ? undefined : { cause: error }));
    for (const w of held.waiters.splice(0)) w.reject(held.controller.signal.reason);
    this.#hook("onAborted", { runId: held.runId, taskId: held.taskId, reason });
    if (confirmed || (reason === "LEASE_LOST" && source === "clock")) {
      this.#hook("onLeaseLost", { runId: held.runId, taskId: held.taskId, reason, source, ...(error === undefined ? {} : { error }) });
    }
  }

  /** The server's answer to a completion. */
  #settleCompletion(c: PendingCompletion, result: CompletionResult): void {
    const held = c.run;
    const base = { runId: held.runId, taskId: held.taskId, queue: held.queue, attempt: held.attemptNumber };
    switch (result.kind) {
      case "accepted": {
        if (c.giveBack) {
          // The attempt is finished: no more heartbeats for it.
          if (held.stop) held.stop.confirmed = true;
          void this.#resume(held);
          return;
        }
        const state = RunState[result.response.run?.state ?? RunState.UNSPECIFIED];
        const e = { ...base, outcome: c.outcome.outcome, state, error: c.outcome.error, durationMs: Date.now() - held.leasedAt };
        this.#hook(c.outcome.outcome === "SUCCESS" ? "onCompleted" : "onFailed", e);
        break;
      }
      case "refused": {
        const err = result.error;
        if (err.reason === "LEASE_LOST") {
          const reason = err.metadata["cause"] === "ATTEMPT_TIMEOUT" ? "TIMEOUT" : "LEASE_LOST";
          // Reported once: a heartbeat that already confirmed the loss said it.
          if (!held.stop?.confirmed) this.#hook("onLeaseLost", { runId: held.runId, taskId: held.taskId, reason, source: "completion", error: err });
        } else if (err.code === Code.InvalidArgument && c.outcome.outcome !== "TERMINAL_FAILURE" && !c.giveBack) {
          // Output or error text over the server's limits: the same result would be refused
          // again, so the attempt fails for good with a short explanation.
          this.#error(err, "complete", held.runId);
          const text = `OutcomeRefused: the server refused the ${c.outcome.outcome} outcome: ${err.message}`.slice(0, 1_000);
          this.#completions.add({ run: held, outcome: { outcome: "TERMINAL_FAILURE", output: EMPTY, error: text }, giveBack: false });
          return;
        } else {
          this.#error(err, "complete", held.runId);
        }
        break;
      }
      case "undelivered":
        this.#hook("onLeaseLost", { runId: held.runId, taskId: held.taskId, reason: "LEASE_LOST", source: "completion", error: result.error });
        break;
    }
    this.#release(held);
  }

  /** Forgets a run; its slot becomes free. */
  #release(held: HeldRun): void {
    held.phase = "done";
    for (const w of held.waiters.splice(0)) w.reject(new RunAbortedError("LEASE_LOST", held.runId, "the run is no longer held"));
    this.#held.delete(held.runId);
    this.#notify();
  }

  // ---------------------------------------------------------------------------------------
  // Shutdown
  // ---------------------------------------------------------------------------------------

  async #drain(timeoutMs: number): Promise<void> {
    try {
      await this.#loop;
      await this.#handlersSettled(timeoutMs);
      for (const held of [...this.#held.values()]) {
        if (held.phase !== "running") continue;
        if (held.stop?.confirmed) {
          // The server already took the run back (canceled, suspended, lease lost).
          this.#release(held);
          continue;
        }
        if (held.stop?.reason === "TIMEOUT") {
          // Timed out and still not finished: that is the outcome, not a give-back.
          held.phase = "completing";
          this.#completions.add({ run: held, outcome: timeoutOutcome(held.attemptTimeoutMs ?? 0, { ok: true }), giveBack: false });
          continue;
        }
        this.#stop(held, "SHUTDOWN", false, "clock");
        this.#giveBack(held);
      }
      // Completions and give-backs in flight finish (bounded by the lease deadlines: past
      // its deadline an undeliverable completion is given up).
      const busy = () => [...this.#held.values()].some((h) => h.phase === "completing" || h.phase === "releasing");
      while (this.#completions.pending > 0 || busy()) {
        await this.#completions.drain();
        if (busy()) await this.#waitForChange(50);
      }
      if (this.#sweep) {
        const released = (runId: string, taskId: string) => this.#hook("onReleased", { runId, taskId });
        await sweepOrphans(this.#giveBackDeps, (id) => this.#held.has(id), released);
      }
    } finally {
      await this.#heartbeats.stop();
      if (this.#onShutdownSignal) this.#o.shutdownSignal?.removeEventListener("abort", this.#onShutdownSignal);
      this.#removeProcessListeners();
      this.#setState("closed");
      this.#done.resolve();
    }
  }

  /** Resolves when every handler has settled or `timeoutMs` has passed. */
  async #handlersSettled(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ([...this.#held.values()].some((h) => h.phase === "running") && Date.now() < deadline) {
      await this.#waitForChange(Math.max(1, Math.min(250, deadline - Date.now())));
    }
  }

  /**
   * Gives a run back without spending an attempt: SUSPENDED outcome (uncounted), then
   * RunService.ResumeRun (→ READY). Two calls because ReleaseLease refuses RUNNING runs.
   */
  #giveBack(held: HeldRun): void {
    held.phase = "releasing";
    if (held.timeoutTimer) clearTimeout(held.timeoutTimer);
    const error = `WORKER_SHUTDOWN: worker ${this.#o.workerId} shut down before the attempt finished`;
    this.#completions.add({ run: held, outcome: { outcome: "SUSPENDED", output: EMPTY, error }, giveBack: true });
  }

  async #resume(held: HeldRun): Promise<void> {
    if (await resumeRun(this.#giveBackDeps, held.runId)) this.#hook("onReleased", { runId: held.runId, taskId: held.taskId });
    this.#release(held);
  }

  #removeProcessListeners(): void {
    for (const sig of this.#o.handleSignals) process.off(sig, this.#onProcessSignal);
  }

  // ---------------------------------------------------------------------------------------
  // State, hooks, errors
  // ---------------------------------------------------------------------------------------

  #setState(to: WorkerState): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#hook("onStateChange", { from, to });
  }

  #hook<K extends Exclude<keyof WorkerHooks, "onError">>(name: K, event: Parameters<NonNullable<WorkerHooks[K]>>[0]): void {
    const fn = this.#o.hooks[name] as ((e: typeof event) => void) | undefined;
    if (!fn) return;
    try {
      fn.call(this.#o.hooks, event);
    } catch (e) {
      this.#error(e, "hook");
    }
  }

  #error(e: unknown, operation: WorkerOperation, runId?: string): void {
    const fn = this.#o.hooks.onError;
    if (!fn) return;
    try {
      fn.call(this.#o.hooks, e, runId === undefined ? { operation } : { operation, runId });
    } catch {
      // An error hook that throws has nowhere left to report to.
    }
  }
}
