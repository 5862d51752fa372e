/**
 * The engine's observer port: what a metrics exporter (src/server/metrics) learns of each
 * durable commit, without the engine knowing about Prometheus or the server (layer rules).
 *
 * Everything is reported after the commit is flushed, from the batch's own verbs: a command
 * that failed was already undone (its verbs cut off by the journal), so nothing observed can
 * later disappear, and nothing is reported twice. The walk is one pass over the verbs the
 * commit wrote anyway, reading fields already there (the previous run beside the new one, the
 * attempt record with both its times): no event is built, nothing is allocated per run, and
 * with no observer configured it does not run at all (the hot path, issue 9).
 */
import type { RunState } from "../domain/state.js";
import type { AttemptOutcome } from "../domain/retry.js";
import type { EngineLogger } from "./api.js";
import type { Committed } from "./commit/pipeline.js";
import type { StoreVerb } from "./ports.js";

/** What the engine reports; every method is called synchronously after a flushed commit. */
export interface EngineObserver {
  /** One commit: commands in the batch, store verbs written, time in the store's commit (ms). */
  commit(commands: number, verbs: number, ms: number): void;
  /** A run was created in `state` (SCHEDULED or READY). */
  created(queue: string, state: RunState): void;
  /** A run moved from one state to another. */
  transition(queue: string, from: RunState, to: RunState): void;
  /** A run was leased after waiting `ms` in READY (since it last entered READY). */
  leased(queue: string, ms: number): void;
  /** An attempt ended with `outcome` after `ms` (attempt start to end). */
  attemptEnded(queue: string, outcome: AttemptOutcome, ms: number): void;
}

/**
 * Reports a flushed commit to `o` (see the module comment). A commit that wrote nothing is not
 * one. A broken exporter must not break the engine: its failure is logged, not thrown.
 */
export function observeCommit(o: EngineObserver, c: Committed, log: EngineLogger): void {
  const verbs = c.verbs;
  if (verbs.length === 0) return;
  try {
    o.commit(c.commands, verbs.length, c.commitMs);
    for (let i = 0; i < verbs.length; i++) {
      const v = verbs[i] as StoreVerb;
      if (v.verb === "createRun") {
        o.created(v.run.queue, v.run.state);
        continue;
      }
      if (v.verb !== "updateRun") continue;
      const { run, prev, attempt } = v;
      if (run.state !== prev.state) {
        o.transition(run.queue, prev.state, run.state);
        // Time in READY: from the transition into it (a resume, retry, promotion or lapsed lease).
        if (prev.state === "READY" && run.state === "LEASED") o.leased(run.queue, Math.max(0, run.lastStateChangeAt - prev.lastStateChangeAt));
      }
      if (attempt !== null && attempt.finishedAt !== null && attempt.outcome !== null) {
        o.attemptEnded(run.queue, attempt.outcome, Math.max(0, attempt.finishedAt - attempt.startedAt));
      }
    }
  } catch (e) {
    log.warn({ err: e }, "engine observer failed");
  }
}
