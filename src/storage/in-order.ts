/**
 * Commits one at a time, in call order: the memory and PostgreSQL stores apply a batch only
 * after the one before it settled (LMDB's own write queue does this for the LMDB store).
 */
export class InOrder {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `task` after every task given before it; a failure fails only its own call. */
  run<T = void>(task: () => T | Promise<T>): Promise<T> {
    const done = this.#tail.then(task);
    this.#tail = done.catch(() => undefined);
    return done;
  }

  /** Settles once every task given so far has. */
  async settled(): Promise<void> {
    await this.#tail;
  }
}
