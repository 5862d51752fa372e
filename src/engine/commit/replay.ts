/**
 * Ids and random numbers a command drew, given back in the same order when the pipeline runs
 * the command again after a row-cache miss (pipeline.ts). A command decides on its reads, its
 * clock (the Unit's `now`, kept across re-runs) and these draws: replaying them makes the
 * re-run decide exactly as a run without the miss would have (and a command that drew an id
 * and then read by it asks for the same row again, instead of a new one every round).
 *
 * Only stores that fetch rows (rows.ts, `RowStore`) get a tape; the ids and random source of
 * any other store are used as given, untouched.
 */
import type { IdSource, Random, Store } from "../ports.js";
import type { RowStore } from "./rows.js";

type Kind = "runId" | "taskId" | "attemptId" | "leaseToken" | "random";

/** The draws of the command in flight. */
export class Replay {
  #kinds: Kind[] = [];
  #values: unknown[] = [];
  #at = 0;
  #on = false;

  /** A command starts: draws are recorded from now on. */
  begin(): void {
    this.#kinds.length = 0;
    this.#values.length = 0;
    this.#at = 0;
    this.#on = true;
  }

  /** The command runs again: its draws are given back from the first. */
  rewind(): void {
    this.#at = 0;
  }

  /** The command is over (committed to the batch or failed): forget its draws. */
  end(): void {
    this.begin();
    this.#on = false;
  }

  draw<T>(kind: Kind, next: () => T): T {
    if (!this.#on) return next();
    const at = this.#at++;
    if (at < this.#kinds.length) {
      if (this.#kinds[at] === kind) return this.#values[at] as T;
      // The re-run went another way (it should not): draw afresh from here on.
      this.#kinds.length = at;
      this.#values.length = at;
    }
    const v = next();
    this.#kinds.push(kind);
    this.#values.push(v);
    return v;
  }

  ids(source: IdSource): IdSource {
    return {
      runId: () => this.draw("runId", () => source.runId()),
      taskId: () => this.draw("taskId", () => source.taskId()),
      attemptId: () => this.draw("attemptId", () => source.attemptId()),
      leaseToken: () => this.draw("leaseToken", () => source.leaseToken()),
    };
  }

  random(source: Random): Random {
    return { next: () => this.draw("random", () => source.next()) };
  }
}

const tapes = new WeakMap<Store, Replay>();

/** The replay tape shared by the engine's core and pipeline over `store`; null when it reads rows directly. */
export function replayOf(store: RowStore): Replay | null {
  if (!store.rows) return null;
  let tape = tapes.get(store);
  if (!tape) {
    tape = new Replay();
    tapes.set(store, tape);
  }
  return tape;
}
