/**
 * Group commit (SPEC §8). Commands queue; each batch runs every queued command against one
 * overlay (commit/unit.ts), then hands the batch's verbs to the store in one atomic commit,
 * and settles each caller's promise only after that commit is flushed to disk. A batch runs
 * only after the previous one is durable, so in-memory state (ready index, key gate, flags)
 * is ahead of disk by at most the batch in flight.
 *
 * A command that throws is undone through its journal and fails alone. A commit that fails
 * fails the whole batch, and the engine rebuilds memory from disk before the next one
 * (fail-stop and recover), so memory never serves a state that was not committed.
 *
 * Commands queued while a batch is assembled — after its commands ran, before its commit —
 * with `joinBatch` (the lease attempts of long polls this batch makes eligible) run in that
 * same batch and share its commit: a waiting worker gets a run submitted to it with one
 * flush, not two (the submit's, then its own lease's in the next batch). If that commit
 * fails they are not failed with it: they run again, on their own, in the next batch.
 *
 * Load shedding (docs/operations.md, "Load shedding"): the queue of commands not yet run is
 * bounded. Past `maxQueued` commands, or while the oldest queued command has waited longer
 * than `maxQueueDelayMs`, a new command is refused at once with OVERLOADED instead of joining
 * a queue it would only time out in; the engine's own commands (timers, long-poll wake-ups,
 * purges) are never refused. A queued command whose caller's signal aborted (deadline passed,
 * client gone) before its batch starts is dropped, rejected with the signal's reason, and
 * never runs.
 *
 * Row misses (docs/scaling.md, "Next step: the engine on PostgreSQL", point 1): over a store
 * that fetches rows (`RowStore.rows`), a batch reads committed state through a `RowCache`
 * that starts empty. A command that reads a row the cache does not hold is undone through its
 * journal, the rows it missed are fetched (the batch waits), the cache is filled and the same
 * command runs again, with the same `now` and the same ids and random draws (replay.ts), before
 * the next command of the batch runs: every command sees what it would have seen without the
 * miss. Over LMDB and the memory store the reader answers every read: no miss, no await.
 *
 * Several servers (a `SharedStore`, docs/scaling.md "Several servers on one PostgreSQL"): a
 * batch first opens the store's window, which brings the reader up to what other servers
 * committed (with serial commits after taking the database's commit lock); `afterFollow`
 * brings memory up to those verbs; only then do the batch's commands run. With concurrent
 * commits the batch's leases first claim the runs they may hand out (`claim`, `claimed`), and
 * a commit that lost a race with another server's (CommitConflict) is undone in memory through
 * the units' journals and the batch decided again in a new window (#runShared), its refusals
 * answered only once it committed. The commit (or `release`, when nothing was written) ends
 * the window. Between batches, `sync` and `follow` bring the reader and memory up.
 */
import type { EngineLogger } from "../api.js";
import { EngineError } from "../errors.js";
import { type ClaimRequest, CommitConflict, type Followed, type SharedCommit, type SharedStore, type StoreVerb, isShared } from "../ports.js";
import type { EventRecord } from "../records.js";
import { type Replay, replayOf } from "./replay.js";
import { type QueueBounds, overloadRefusal } from "./shedding.js";
import { MAX_CONFLICT_ROUNDS } from "./conflicts.js";
import { RowCache, type RowFetcher, type RowStore } from "./rows.js";
import { Overlay, Unit } from "./unit.js";

/**
 * Fetch rounds of one command that bring no row it asked for, at most; then it fails with
 * INTERNAL. (A round that answers what it asked lets the re-run read further, so a command
 * takes at most one round per distinct row it reads; MAX_FETCH_ROUNDS caps that too.)
 */
export const MAX_STUCK_ROUNDS = 8;
/** Fetch rounds of one command at most, whatever they bring (never a silent loop). */
export const MAX_FETCH_ROUNDS = 10_000;

/** What #runBatch says when a concurrent commit lost a race (the batch was undone). */
const CONFLICT = Symbol("conflict");

interface Command {
  readonly name: string;
  readonly run: (u: Unit) => unknown;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
  readonly signal: AbortSignal | undefined;
  /** performance.now() when queued. */
  readonly queuedAt: number;
  readonly claim: (() => ClaimRequest | null) | undefined;
}

/** A command that ran in a batch, with its unit of work and its result. */
interface Done {
  readonly cmd: Command;
  readonly unit: Unit;
  readonly value: unknown;
}

/** How a command is queued. */
export interface ExecOptions {
  /** The caller's signal: once aborted, the command is dropped if it has not started. */
  readonly signal?: AbortSignal | undefined;
  /** The engine's own work (timers, long-poll wake-ups, purges): never refused as overload. */
  readonly internal?: boolean;
  /**
   * Queued from `PipelineHooks.afterCommands`: run in the batch being assembled, sharing its
   * commit, instead of waiting for the next batch. Elsewhere the command queues as usual.
   */
  readonly joinBatch?: boolean;
  /**
   * Concurrent commits: the runs the command may hand out, claimed by the batch's transaction
   * before it runs (SharedStore.claim); asked just before.
   */
  readonly claim?: () => ClaimRequest | null;
}

/** What a committed batch changed, for the engine to publish. */
export interface Committed {
  readonly events: EventRecord[];
  /** Queues that may have runs for waiting workers; null: check every waiter. */
  readonly wake: ReadonlySet<string> | null;
  readonly timersChanged: boolean;
  /** Commands of the batch that ran and committed (joined ones included). */
  readonly commands: number;
  /** The verbs the commit wrote (empty: nothing to commit, no commit made). */
  readonly verbs: readonly StoreVerb[];
  /** Time the store's commit took, flush included (ms; 0 when no commit was made). */
  readonly commitMs: number;
  /**
   * Concurrent commits: what other servers committed just before this batch, which the reader
   * took in first (memory follows it before this batch's events are published); and how far
   * the batch's revisions moved at commit (its records and `events` already carry the new ones).
   */
  readonly shared: SharedCommit | null;
}

/** The pipeline's hooks into the engine. */
export interface PipelineHooks {
  readonly now: () => number;
  /**
   * Called after the batch's commands ran, with the queues they may have made runs available
   * on (null: any), before `beforeCommit`. Commands it queues with `joinBatch` run in this
   * batch, and share its commit.
   */
  readonly afterCommands?: (wake: ReadonlySet<string> | null) => void;
  /** Called after the batch's commands ran, before the commit: the last verbs of the batch. */
  readonly beforeCommit: (overlay: Overlay, changed: boolean) => void;
  /** Called after a successful, flushed commit. */
  readonly afterCommit: (c: Committed) => void;
  /** Called after a failed commit: rebuild memory from disk. */
  readonly afterFailure: () => void;
  /** Over a shared store: what other servers committed, once the reader holds it. */
  readonly afterFollow?: (f: Followed) => void;
  /** Concurrent commits: the runs the batch about to run claimed (null: the batch is over). */
  readonly claimed?: (runs: ReadonlySet<string> | null) => void;
  /** Concurrent commits: waited before a batch that lost `round` races in a row is decided again (conflicts.ts). */
  readonly conflictWait?: (round: number) => Promise<void>;
}

/** The command queue with group commit. */
export class Pipeline {
  readonly #store: RowStore;
  /** The store when several servers share it, else null. */
  readonly #shared: SharedStore | null;
  /** Callers of `sync` waiting for the next follow. */
  #syncs: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  /** Where a batch's reads are fetched from when the store's reader is not read directly. */
  readonly #rows: RowFetcher | null;
  readonly #replay: Replay | null;
  /** Fetch rounds made for row misses so far. */
  #fetchRounds = 0;
  /** Batches decided again after a CommitConflict. */
  #conflicts = 0;
  readonly #log: EngineLogger;
  readonly #maxBatch: number;
  readonly #hooks: PipelineHooks;
  readonly #bounds: QueueBounds;
  readonly #pending: Command[] = [];
  /** Commands joining the batch being assembled (non-null only during `afterCommands`). */
  #joining: Command[] | null = null;
  #shed = 0;
  /** Of #shed, refused by max_queue_delay (the rest by max_queued_commands). */
  #shedByDelay = 0;
  #dropped = 0;
  #draining = false;
  #drained: Promise<void> = Promise.resolve();
  #closing = false;
  #closed = false;

  constructor(store: RowStore, log: EngineLogger, maxBatch: number, hooks: PipelineHooks, bounds: QueueBounds = { maxQueued: 0, maxQueueDelayMs: 0 }) {
    this.#store = store;
    this.#shared = isShared(store) ? store : null;
    this.#rows = store.rows ?? null;
    this.#replay = replayOf(store);
    this.#log = log;
    this.#maxBatch = maxBatch;
    this.#hooks = hooks;
    this.#bounds = bounds;
  }

  /** Fetch rounds made for row misses so far (0 unless the store fetches rows). */
  get fetchRounds(): number {
    return this.#fetchRounds;
  }

  /** Commands waiting to run (not counting the batch in flight). */
  get queued(): number {
    return this.#pending.length;
  }

  /**
   * Commands refused as overload (in all, and of them by max_queue_delay), and dropped because
   * their caller's signal aborted, so far.
   */
  get shedding(): { refused: number; refusedByDelay: number; dropped: number } {
    return { refused: this.#shed, refusedByDelay: this.#shedByDelay, dropped: this.#dropped };
  }

  /**
   * Queues a command; resolves with its result once its batch is durable. Rejects at once with
   * OVERLOADED past the queue bounds (unless `internal`), and with the signal's reason when the
   * caller's signal aborted before the command started.
   */
  exec<T>(name: string, run: (u: Unit) => T, opts: ExecOptions = {}): Promise<T> {
    if (this.#closing || this.#closed) return Promise.reject(new EngineError("SHUTTING_DOWN", "the engine is shutting down"));
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const now = performance.now();
    if (!opts.internal) {
      const refusal = this.#overloaded(now);
      if (refusal) {
        this.#shed++;
        return Promise.reject(refusal);
      }
    }
    return new Promise<T>((resolve, reject) => {
      const cmd: Command = { name, run, resolve: resolve as (v: unknown) => void, reject, signal, queuedAt: now, claim: opts.claim };
      if (opts.joinBatch && this.#joining) {
        this.#joining.push(cmd);
        return;
      }
      this.#pending.push(cmd);
      this.#startDraining();
    });
  }

  /** OVERLOADED when a new command would pass a queue bound; null when it may queue. */
  #overloaded(now: number): EngineError | null {
    const refusal = overloadRefusal(this.#bounds, this.#pending.length, this.#pending[0]?.queuedAt, now);
    if (refusal?.metadata.limit === "max_queue_delay") this.#shedByDelay++;
    return refusal;
  }

  /**
   * Over a shared store: resolves once the reader and memory hold everything other servers had
   * committed when this was called (read your writes through any server); rejects with
   * STORAGE_IO when the database cannot be reached. At once otherwise.
   */
  sync(): Promise<void> {
    if (!this.#shared || this.#closing || this.#closed) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#syncs.push({ resolve, reject });
      this.#startDraining();
    });
  }

  /** Starts working off the queue (commands and syncs) unless that is under way. */
  #startDraining(): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#drained = this.#drain();
  }

  /** Refuses new commands and waits for the queued ones to be committed. */
  async close(): Promise<void> {
    this.#closing = true;
    while (this.#draining) await this.#drained;
    this.#closed = true;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0 || this.#syncs.length > 0) {
        if (this.#pending.length === 0) await this.#followOnly();
        else if (!this.#shared) await this.#runBatch(this.#pending.splice(0, this.#maxBatch));
        else {
          // Serial commits: the window first, then the batch. Commands that arrive while this
          // server waits for the commit lock join the batch it opens: nothing can commit
          // between the lock and the follow, so the follow holds everything acknowledged
          // before they arrived. Concurrent commits take no lock: a command that arrived while
          // the window opened may be about what another server acknowledged after the follow
          // read the log (a run handed out there, completed here), so it waits for the next
          // window, whose follow starts after it arrived (read your writes through any server).
          const early = this.#shared.concurrent ? this.#pending.splice(0, this.#maxBatch) : null;
          const failed = await this.#open();
          const batch = early ?? this.#pending.splice(0, this.#maxBatch);
          if (failed) for (const cmd of batch) cmd.reject(failed);
          else {
            try {
              await this.#runShared(batch);
            } finally {
              // Ends a window the batch wrote nothing in, or left by an unexpected throw (a
              // no-op once the batch committed).
              await this.#shared.release().catch((e: unknown) => this.#log.warn({ err: e }, "ending a commit window that wrote nothing failed"));
            }
          }
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Brings reader and memory up to other servers' commits (no batch waiting), then answers `sync`. */
  async #followOnly(): Promise<void> {
    const waiting = this.#syncs.splice(0);
    try {
      this.#followed(await (this.#shared as SharedStore).follow());
    } catch (e) {
      for (const w of waiting) w.reject(e);
      return;
    }
    for (const w of waiting) w.resolve();
  }

  /** Hands what other servers committed to the engine; memory is rebuilt if that fails. */
  #followed(f: Followed): void {
    if (f.verbs.length === 0 && !f.reloaded) return;
    try {
      this.#hooks.afterFollow?.(f);
    } catch (e) {
      this.#log.error({ err: e }, "following other servers' commits failed; rebuilding memory from the store");
      this.#hooks.afterFailure();
    }
  }

  /**
   * Over a shared store, opens the commit window before the batch is taken (and answers
   * `sync` callers waiting meanwhile); the error when the database cannot be reached, which
   * the caller fails the batch with.
   */
  async #open(): Promise<EngineError | null> {
    const shared = this.#shared as SharedStore;
    const waiting = this.#syncs.splice(0);
    try {
      this.#followed(await shared.acquire());
    } catch (e) {
      const error = EngineError.is(e) ? e : new EngineError("STORAGE_IO", `opening a commit failed: ${String(e)}`, { cause: e });
      for (const w of waiting) w.reject(error);
      return error;
    }
    for (const w of waiting) w.resolve();
    return null;
  }

  /**
   * Over a shared store (its window open): runs the batch; with concurrent commits, a batch
   * whose commit lost a race with another server's is decided again on what that server
   * committed (a new window follows it, after `conflictWait`), at most MAX_CONFLICT_ROUNDS
   * times (commit/conflicts.ts).
   */
  async #runShared(batch: Command[]): Promise<void> {
    for (let round = 1; ; round++) {
      const claimed = await this.#claim(batch);
      if (claimed instanceof Error) {
        for (const cmd of batch) cmd.reject(claimed);
        return;
      }
      let outcome: void | typeof CONFLICT;
      this.#hooks.claimed?.(claimed);
      try {
        outcome = await this.#runBatch(batch);
      } finally {
        this.#hooks.claimed?.(null);
      }
      if (outcome !== CONFLICT) return;
      this.#conflicts++;
      if (round >= MAX_CONFLICT_ROUNDS) {
        const error = new EngineError("STORAGE_IO", `the batch lost ${round} races with other servers' commits in a row; retry`);
        this.#log.warn({ rounds: round, commands: batch.length }, "a batch kept conflicting with other servers' commits; its commands fail");
        for (const cmd of batch) cmd.reject(error);
        return;
      }
      await this.#hooks.conflictWait?.(round);
      const failed = await this.#open();
      if (failed) {
        for (const cmd of batch) cmd.reject(failed);
        return;
      }
    }
  }

  /**
   * Concurrent commits: claims, in the open window's transaction, the READY runs the batch's
   * lease commands may hand out (FOR UPDATE SKIP LOCKED in hand-out order: those another
   * server's batch claimed are skipped, and not handed out by this one). Null when the batch
   * leases nothing; the error (the window is closed then) when the database could not be
   * reached.
   */
  async #claim(batch: readonly Command[]): Promise<ReadonlySet<string> | null | EngineError> {
    const shared = this.#shared;
    if (!shared?.concurrent) return null;
    const requests: ClaimRequest[] = [];
    for (const cmd of batch) {
      const r = cmd.claim && !cmd.signal?.aborted ? cmd.claim() : null;
      if (r) requests.push(r);
    }
    if (requests.length === 0) return null;
    try {
      return await shared.claim(requests);
    } catch (e) {
      return EngineError.is(e) ? e : new EngineError("STORAGE_IO", `claiming runs failed: ${String(e)}`, { cause: e });
    }
  }

  /** Batches decided again after a CommitConflict so far (concurrent commits). */
  get conflicts(): number {
    return this.#conflicts;
  }

  /**
   * Runs a batch and commits it. Over LMDB and the memory store its commands run at once, in
   * the tick the first of them was queued (a signal aborted after that is too late to drop
   * it); over a shared store the window is already open (#drain). CONFLICT when a concurrent
   * commit lost a race: the batch is undone in memory and nothing of it was answered.
   */
  async #runBatch(batch: Command[]): Promise<void | typeof CONFLICT> {
    const cache = this.#rows ? new RowCache() : null;
    const overlay = new Overlay(cache ?? this.#store.reader);
    const done: Done[] = [];
    const failed: Array<{ cmd: Command; error: unknown }> = [];
    const runAll = (cmds: readonly Command[]) => {
      for (const cmd of cmds) {
        // Nobody waits for the answer any more (deadline passed, client gone): do not run it.
        if (cmd.signal?.aborted) {
          this.#dropped++;
          failed.push({ cmd, error: abortReason(cmd.signal) });
          continue;
        }
        const unit = new Unit(overlay, this.#hooks.now());
        try {
          done.push({ cmd, unit, value: cmd.run(unit) });
        } catch (e) {
          unit.journal.rollback();
          failed.push({ cmd, error: this.#asEngineError(e, cmd.name) });
        }
      }
    };
    // Over a store read directly nothing is awaited here (no miss can happen): the batch runs
    // as it always did. Only a row-fetching store's batch waits while it fetches.
    if (cache) await this.#runFetching(batch, overlay, cache, done, failed);
    else runAll(batch);
    let wake = wakeOf(done, 0);
    const ran = done.length;
    if (this.#hooks.afterCommands && (wake === null || wake.size > 0)) {
      // Waiters this batch made runs available to lease in it (one commit, not two).
      const joining: Command[] = [];
      this.#joining = joining;
      try {
        this.#hooks.afterCommands(wake);
      } catch (e) {
        this.#log.error({ err: e }, "waking waiters before the commit failed");
      } finally {
        this.#joining = null;
      }
      if (joining.length > 0) {
        if (cache) await this.#runFetching(joining, overlay, cache, done, failed);
        else runAll(joining);
        const more = wakeOf(done, ran);
        if (more === null || wake === null) wake = null;
        else for (const q of more) wake.add(q);
      }
    }
    // With concurrent commits a refusal may rest on what a lost race undoes: it is answered
    // only once the batch committed.
    const retryable = this.#shared?.concurrent === true;
    if (!retryable) for (const f of failed) f.cmd.reject(f.error);
    this.#hooks.beforeCommit(overlay, done.some((d) => d.unit.events.length > 0));
    let commitMs = 0;
    let shared: SharedCommit | null = null;
    if (overlay.verbs.length > 0) {
      try {
        const started = performance.now();
        shared = (await this.#store.commit(overlay.verbs)) ?? null;
        commitMs = performance.now() - started;
      } catch (commitError) {
        if (retryable && commitError instanceof CommitConflict) {
          // Undo the batch in memory, newest first; the commands that joined it wait for
          // the next batch, the batch's own are decided again (#runShared).
          for (let i = done.length - 1; i >= 0; i--) done[i]?.unit.journal.rollback();
          const own = new Set(batch);
          this.#pending.unshift(...done.slice(ran).map((d) => d.cmd), ...failed.filter((f) => !own.has(f.cmd)).map((f) => f.cmd));
          return CONFLICT;
        }
        if (retryable) for (const f of failed) f.cmd.reject(f.error);
        // Nothing of this batch is on disk: fail its commands and rebuild memory from disk.
        const error = EngineError.is(commitError)
          ? commitError
          : new EngineError("STORAGE_IO", `commit failed: ${String(commitError)}`, { cause: commitError });
        this.#log.error({ err: error, commands: done.length }, "commit failed; rebuilding memory from the store");
        // The commands that joined only to share this commit were decided on what failed:
        // they run again, on their own, in the next batch (a woken long poll goes on waiting).
        for (const d of done.slice(0, ran)) d.cmd.reject(error);
        this.#pending.unshift(...done.slice(ran).map((d) => d.cmd));
        this.#hooks.afterFailure();
        return;
      }
    }
    if (retryable) for (const f of failed) f.cmd.reject(f.error);
    const events: EventRecord[] = [];
    let timersChanged = false;
    for (const d of done) {
      events.push(...d.unit.events);
      timersChanged ||= d.unit.timersChanged;
      for (const l of d.unit.logs) this.#log[l.level](l.obj, l.msg);
      d.cmd.resolve(d.value);
    }
    this.#hooks.afterCommit({ events, wake, timersChanged, commands: done.length, verbs: overlay.verbs, commitMs, shared });
  }

  /**
   * Runs `cmds` in order over a row cache: a command that missed rows (even one that swallowed
   * the NeedRows) is undone, the rows are fetched and the command runs again; the next command
   * runs only once this one is decided.
   */
  async #runFetching(cmds: readonly Command[], overlay: Overlay, cache: RowCache, done: Done[], failed: Array<{ cmd: Command; error: unknown }>): Promise<void> {
    const fetcher = this.#rows as RowFetcher;
    const replay = this.#replay;
    for (const cmd of cmds) {
      if (cmd.signal?.aborted) {
        this.#dropped++;
        failed.push({ cmd, error: abortReason(cmd.signal) });
        continue;
      }
      const now = this.#hooks.now();
      let rounds = 0;
      let stuck = 0;
      replay?.begin();
      try {
        for (;;) {
          const unit = new Unit(overlay, now);
          let value: unknown;
          let error: unknown;
          let threw = false;
          try {
            value = cmd.run(unit);
          } catch (e) {
            threw = true;
            error = e;
          }
          const need = cache.takeMissed();
          if (!need) {
            if (threw) {
              unit.journal.rollback();
              failed.push({ cmd, error: this.#asEngineError(error, cmd.name) });
            } else done.push({ cmd, unit, value });
            break;
          }
          unit.journal.rollback();
          if (rounds >= MAX_FETCH_ROUNDS || stuck >= MAX_STUCK_ROUNDS) {
            const why = `${cmd.name}: committed state still missing after ${rounds} fetch rounds (${need.message})`;
            this.#log.error({ command: cmd.name, rounds }, why);
            failed.push({ cmd, error: new EngineError("INTERNAL", why, { cause: need }) });
            break;
          }
          rounds++;
          this.#fetchRounds++;
          try {
            cache.fill(await fetcher.fetch(need));
          } catch (e) {
            const error = EngineError.is(e) ? e : new EngineError("STORAGE_IO", `${cmd.name}: fetching rows failed: ${String(e)}`, { cause: e });
            failed.push({ cmd, error });
            break;
          }
          stuck = cache.answers(need) ? 0 : stuck + 1;
          replay?.rewind();
        }
      } finally {
        replay?.end();
      }
    }
  }

  #asEngineError(e: unknown, name: string): EngineError {
    if (EngineError.is(e)) return e;
    this.#log.error({ err: e, command: name }, "command failed unexpectedly");
    return new EngineError("INTERNAL", `${name} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Queues the units of `done` from `from` on may have made runs available on; null: any. */
function wakeOf(done: readonly Done[], from: number): Set<string> | null {
  const wake = new Set<string>();
  for (const { unit } of done.slice(from)) {
    if (unit.wakeAll) return null;
    for (const q of unit.wake) wake.add(q);
  }
  return wake;
}

/** Why a signal aborted, as an Error (a bare abort() gives a DOMException AbortError). */
function abortReason(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  return reason ?? new DOMException("the caller aborted", "AbortError");
}
