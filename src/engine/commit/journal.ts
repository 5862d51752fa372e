/**
 * Undo log for in-memory state changed while a command runs. A command that fails after
 * touching memory is rolled back in reverse order, in step with its aborted child
 * transaction, so memory never keeps a change storage did not.
 */
export class Journal {
  readonly #undo: Array<() => void> = [];

  /** Records how to undo a change just made. */
  record(undo: () => void): void {
    this.#undo.push(undo);
  }

  /** Undoes every recorded change, newest first. */
  rollback(): void {
    for (let i = this.#undo.length - 1; i >= 0; i--) (this.#undo[i] as () => void)();
    this.#undo.length = 0;
  }
}
