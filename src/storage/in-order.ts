/**
 * Commits one at a time, in call order: the memory and PostgreSQL stores apply a batch only
 * after the one before it settled (LMDB's own write queue does this for the LMDB store).
 */
export class InOrder {
  #tail: Promise<void> = Promise.resolve();

  /** Runs `task` after every task given before it; a failure fails only its own call. */
  run(task: () => void | Promise<void>): Promise<void> {
    const done = this.#tail.then(task);
    this.#tail = done.catch(() => undefined);
    return done;
  }

  /** Settles once every task given so far has. */
  settled(): Promise<void> {
    return this.#tail;
  }
}
