/**
 * Timers (SPEC §4–§5): one real timer armed at the earliest entry of the store's timer index;
 * when it fires, every due entry is applied as its own command — promotion, retry wait over,
 * lease expiry (LEASED -> READY; RUNNING -> TIMEOUT attempt and the retry rule), attempt
 * timeout. Tests drive `tick` directly after moving a manual clock.
 */
import type { AttemptId } from "../../domain/ids.js";
import { NeedRows } from "../commit/rows.js";
import type { Unit } from "../commit/unit.js";
import { type Core, mustTask } from "../core.js";
import { type ClaimRequest, type DueEntry, timerClaimKey } from "../ports.js";
import type { LeaseRecord, RunRecord } from "../records.js";
import { touchRun } from "../runs/transition.js";
import { move } from "../tasks/cascade.js";

/** Wait before due timers are tried again after every one of them failed (ms). */
const RETRY_FAILING_MS = 1_000;
/**
 * Wait before due timers are looked at again when another server's batch had claimed every
 * one of them (concurrent commits): its commit, followed meanwhile, takes them off the index.
 */
const CLAIMED_ELSEWHERE_MS = 100;

/** Queues commands (with what they claim first: Pipeline ExecOptions.claim). */
export type Exec = <T>(name: string, run: (u: Unit) => T, claim: () => ClaimRequest | null) => Promise<T>;

/** What firing one entry did: changed something, nothing, or left it to the server that claimed it. */
type Fired = boolean | "elsewhere";

/** The one real timer of an engine. */
export class Scheduler {
  readonly #core: Core;
  readonly #exec: Exec;
  #timer: NodeJS.Timeout | null = null;
  /** Nothing is armed before start(): misfire policies run first (see Engine.open). */
  #started = false;
  #stopped = false;

  constructor(core: Core, exec: Exec) {
    this.#core = core;
    this.#exec = exec;
  }

  /** (Re)arms the timer for the earliest entry of the timer index, if it is earlier than the armed one. */
  arm(): void {
    const core = this.#core;
    if (!core.options.autoTimers || !this.#started || this.#stopped) return;
    const at = core.store.reader.nextDue()?.at ?? Number.POSITIVE_INFINITY;
    if (this.#timer && at >= core.timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    core.timerAt = at;
    if (!Number.isFinite(at)) return;
    this.#set(Math.max(0, Math.min(at - core.clock.now(), 2_147_483_647)));
  }

  /** The real timer, in `delay` ms: ticks. */
  #set(delay: number): void {
    const core = this.#core;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      core.timerAt = Number.POSITIVE_INFINITY;
      this.tick().catch((e: unknown) => core.log.warn({ err: e }, "timer tick failed"));
    }, delay);
    this.#timer.unref();
  }

  /** Starts arming the timer. */
  start(): void {
    this.#started = true;
    this.arm();
  }

  /** Stops the timer for good (shutdown). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Applies every timer entry due now; returns how many entries were handled. */
  async tick(): Promise<number> {
    const core = this.#core;
    let handled = 0;
    let failing = false;
    for (let round = 0; round < 100; round++) {
      const due = core.store.reader.dueEntries(core.clock.now(), core.options.maxDuePerTick);
      if (due.length === 0) break;
      const results = await Promise.allSettled(due.map((d) => this.#exec(`timer:${d.kind}`, (u) => fire(core, u, d), () => ({ kind: "timer", entry: d }))));
      handled += due.length;
      failing = results.every((r) => r.status === "rejected");
      if (results.every((r) => r.status === "fulfilled" && r.value === "elsewhere")) {
        this.#retryIn(CLAIMED_ELSEWHERE_MS);
        return handled;
      }
      // Keep going while timers fire: a fired timer may create another one already due (a
      // zero-delay retry after a lease expiry).
      if (!results.some((r) => r.status === "fulfilled" && r.value === true)) break;
    }
    // Every due entry failed (storage unreachable): try again a little later, not at once in a loop.
    if (failing) this.#retryIn(RETRY_FAILING_MS);
    else this.arm();
    return handled;
  }

  #retryIn(ms: number): void {
    const core = this.#core;
    if (!core.options.autoTimers || !this.#started || this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    core.timerAt = core.clock.now() + ms;
    this.#set(ms);
  }
}

/**
 * Applies one timer entry; true when it changed something; "elsewhere" when another server's
 * batch claimed it (concurrent commits: that server applies it).
 */
function fire(core: Core, u: Unit, d: DueEntry): Fired {
  if (core.claimed !== null && !core.claimed.has(timerClaimKey(d)) && core.store.reader.hasDue(d)) return "elsewhere";
  const run = u.run(d.runId);
  if (!run || !run.due.some(([a, k]) => a === d.at && k === d.kind)) {
    // Gone from the index already (another server applied it first: its command is decided on
    // the current state, so this one finds nothing to do and writes nothing); else a stale
    // entry its run no longer lists: dropped, so that it cannot fire forever.
    if (!core.store.reader.hasDue(d)) return false;
    u.write({ verb: "dropTimer", entry: d });
    return true;
  }
  try {
    return u.isolated(() => fireOn(core, u, run, d.kind));
  } catch (e) {
    // A row the batch's cache has not fetched yet is no failure: the pipeline fetches it and
    // runs the command again (commit/rows.ts).
    if (e instanceof NeedRows) throw e;
    // A timer that cannot apply must not fire forever: drop it and say so.
    core.log.error({ err: e, run_id: d.runId, kind: d.kind }, "timer could not be applied; dropped");
    u.write({ verb: "dropTimer", entry: d });
    return true;
  }
}

function fireOn(core: Core, u: Unit, run: RunRecord, kind: DueEntry["kind"]): boolean {
  switch (kind) {
    case "PROMOTE": {
      if (run.state !== "SCHEDULED") return false;
      const task = mustTask(u, run.taskId);
      if (task.pendingDeps > 0) {
        touchRun(core, u, run, { ...run, waitingOnDeps: true }, undefined);
        return true;
      }
      move(core, u, run, { type: "PROMOTE", at: u.now, priority: task.spec.metadata.priority });
      return true;
    }
    case "RETRY": {
      const task = mustTask(u, run.taskId);
      move(core, u, run, { type: "RETRY_DUE", at: u.now, priority: task.spec.metadata.priority });
      return true;
    }
    case "LEASE": {
      const lease = u.lease(run.id);
      if (run.state === "LEASED") {
        move(core, u, run, { type: "LEASE_LAPSED", at: u.now }, { reason: "LEASE_EXPIRED", ...(lease ? { lease } : {}) });
        return true;
      }
      if (run.state === "RUNNING" && run.currentAttemptId) return timeout(core, u, run, lease, "LEASE_EXPIRED", "lease expired: the worker stopped heartbeating");
      return false;
    }
    case "TIMEOUT":
      if (run.state !== "RUNNING" || !run.currentAttemptId) return false;
      return timeout(core, u, run, u.lease(run.id), "ATTEMPT_TIMEOUT", "attempt exceeded its timeout");
  }
}

function timeout(core: Core, u: Unit, run: RunRecord, lease: LeaseRecord | undefined, reason: string, error: string): boolean {
  const task = mustTask(u, run.taskId);
  const next = move(
    core,
    u,
    run,
    { type: "FINISH_ATTEMPT", at: u.now, attemptId: run.currentAttemptId as AttemptId, outcome: "TIMEOUT", maxAttempts: task.spec.constraints.maxAttempts },
    { reason, error, ...(lease ? { lease } : {}) },
  );
  return next.state !== run.state;
}
