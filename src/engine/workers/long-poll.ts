/**
 * The waiting half of LeaseRuns (SPEC §5): a worker asking with wait > 0 and finding nothing
 * waits here until a run it could take becomes eligible — whatever made it so: a submit, a
 * promotion from SCHEDULED or RETRY_WAIT, a lapsed or released lease, a key slot freed, a
 * resumed run, engine or queue, a rate-limit token — or until its wait ends.
 *
 * Two rules keep a waiter from missing a run: (1) a waiter checks the ready index the
 * moment it starts waiting, since the change that made a run eligible may have committed
 * between its first try and its registration; (2) a wake that arrives while the waiter's
 * lease attempt is in flight is remembered and checked again when the attempt returns empty.
 *
 * The commit that makes a run eligible wakes the waiters before it is flushed
 * (`PipelineHooks.afterCommands`): their lease attempts join that batch and share its one
 * commit, so a run submitted to a waiting worker is handed over with one flush, not two, and
 * without waiting for the next batch. The same wake after the commit finds them busy and only
 * sets their `again` (rule 2).
 */
import type { CompiledLeaseRequest } from "../../domain/requests.js";
import type { LeaseResult } from "../api.js";
import type { Core } from "../core.js";
import { pausedOf } from "./lease.js";

interface Waiter {
  readonly req: CompiledLeaseRequest;
  readonly signal: AbortSignal | undefined;
  readonly deadline: number;
  timer: NodeJS.Timeout | null;
  /** A lease attempt is in flight. */
  busy: boolean;
  /** A wake arrived while busy: check again when the attempt returns. */
  again: boolean;
  done: boolean;
  /** The wait ended while a lease attempt was in flight. */
  expired: boolean;
  onAbort: (() => void) | null;
  finish: (r: LeaseResult | null, e?: unknown) => void;
}

/** What the waiters need from the engine. */
export interface LongPollDeps {
  /** One lease attempt as a command (skipped when the waiter is gone by the time it runs). */
  lease(req: CompiledLeaseRequest, gone: () => boolean): Promise<LeaseResult>;
  /** Gives back runs leased for a caller that went away; returns the empty reply. */
  unclaimed(signal: AbortSignal | undefined, r: LeaseResult): LeaseResult;
}

const NOTHING: LeaseResult = { grants: [], pausedQueues: [] };

/** Waiting LeaseRuns calls. */
export class LongPolls {
  readonly #waiters = new Set<Waiter>();
  readonly #core: Core;
  readonly #deps: LongPollDeps;

  constructor(core: Core, deps: LongPollDeps) {
    this.#core = core;
    this.#deps = deps;
  }

  /** Long polls waiting. */
  get size(): number {
    return this.#waiters.size;
  }

  /** Waits up to `req.waitMs` for runs; resolves with what a lease attempt got, or nothing. */
  wait(req: CompiledLeaseRequest, signal: AbortSignal | undefined): Promise<LeaseResult> {
    return new Promise<LeaseResult>((resolve, reject) => {
      const waiter: Waiter = {
        req,
        signal,
        deadline: this.#core.clock.now() + req.waitMs,
        timer: null,
        busy: false,
        again: false,
        done: false,
        expired: false,
        onAbort: null,
        finish: (r, e) => {
          if (waiter.done) return;
          waiter.done = true;
          this.#waiters.delete(waiter);
          if (waiter.timer) clearTimeout(waiter.timer);
          if (waiter.onAbort) signal?.removeEventListener("abort", waiter.onAbort);
          if (r) resolve(r);
          else reject(e);
        },
      };
      waiter.timer = setTimeout(() => {
        // A lease attempt in flight answers instead (it may carry runs).
        if (waiter.busy) waiter.expired = true;
        else waiter.finish({ grants: [], pausedQueues: pausedOf(this.#core, req.queues) });
      }, req.waitMs);
      waiter.onAbort = () => waiter.finish(NOTHING);
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiters.add(waiter);
      // Rule (1): a run may have become eligible since the first try.
      this.#check(waiter);
    });
  }

  /** Wakes the waiters of `queues` (null: every waiter) that could take a run now. */
  wake(queues: ReadonlySet<string> | null): void {
    for (const w of this.#waiters) {
      if (w.done) continue;
      if (queues && !w.req.queues.some((q) => queues.has(q))) continue;
      this.#check(w);
    }
  }

  /** Ends every wait with `error` (shutdown). */
  closeAll(error: unknown): void {
    for (const w of [...this.#waiters]) w.finish(null, error);
  }

  #eligible(w: Waiter): boolean {
    return w.req.queues.some((q) => !this.#core.isPaused(q) && this.#core.ready.hasEligible(q, w.req.capabilities));
  }

  #check(w: Waiter): void {
    if (w.done) return;
    if (w.busy) {
      // Rule (2): remember the wake; the attempt in flight may have run before this change.
      w.again = true;
      return;
    }
    if (!this.#eligible(w)) return;
    w.busy = true;
    w.again = false;
    const gone = () => w.done || w.signal?.aborted === true;
    this.#deps.lease(w.req, gone).then(
      (result) => {
        w.busy = false;
        const r = this.#deps.unclaimed(w.signal, result);
        if (r.grants.length > 0 || w.expired || w.signal?.aborted || this.#core.clock.now() >= w.deadline) w.finish(r);
        else if (w.again) this.#check(w);
      },
      (e: unknown) => {
        w.busy = false;
        w.finish(null, e);
      },
    );
  }
}
