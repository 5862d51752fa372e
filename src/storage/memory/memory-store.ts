/**
 * An in-memory implementation of the engine's Store port: a reference implementation for
 * fast engine unit tests. It is NOT a production store and must never be a default: nothing
 * survives the process, there is no storage quota beyond an estimate, and it is not tuned for
 * large data sets.
 *
 * Through the port it behaves like the LMDB store (src/storage/lmdb): the same key spaces and
 * the same verbs (both run src/storage/layout.ts applyVerbs) and the same range reads
 * (memory-reader.ts mirrors lmdb/reader.ts). A commit is
 * atomic (an undo journal rolls back a commit that throws midway, which then rejects with
 * STORAGE_IO as the LMDB store reports a failed write), is applied after the caller's
 * synchronous code (as LMDB's asynchronous transaction is) and in call order, and resolves
 * asynchronously. Records are stored as frozen deep copies (see storedCopy in tables.ts).
 */
import { EngineError } from "../../engine/errors.js";
import type { Store, StoreReader, StoreVerb } from "../../engine/ports.js";
import { applyVerbs } from "../layout.js";
import { MemoryReader, type Tables, createTables } from "./memory-reader.js";
import { Journal, storedCopy } from "./tables.js";
import { InOrder } from "../in-order.js";

/** The in-memory Store (test reference implementation; never a production default). */
export class MemoryStore implements Store {
  readonly reader: StoreReader;
  readonly #journal: Journal;
  readonly #tables: Tables;
  /** Commits apply one after another, in call order. */
  readonly #commits = new InOrder();
  #closed = false;

  private constructor(journal: Journal, tables: Tables) {
    this.#journal = journal;
    this.#tables = tables;
    this.reader = new MemoryReader(tables);
  }

  /** A new, empty store. */
  static open(): MemoryStore {
    const journal = new Journal();
    return new MemoryStore(journal, createTables(journal));
  }

  /**
   * Simulates a restart: closes this store (waiting for commits already made) and returns a
   * new store over the same data, as reopening the LMDB store on the same directory would.
   */
  async reopen(): Promise<MemoryStore> {
    await this.close();
    return new MemoryStore(this.#journal, this.#tables);
  }

  /**
   * Applies `verbs` in order as one atomic change. The change is applied after the caller's
   * synchronous code and before the promise resolves; a verb that throws rolls back the
   * whole commit, which rejects with STORAGE_IO (nothing stored). Rejects with SHUTTING_DOWN
   * after `close`.
   */
  async commit(verbs: readonly StoreVerb[]): Promise<void> {
    if (this.#closed) throw new EngineError("SHUTTING_DOWN", "the store is closed");
    if (verbs.length === 0) return;
    const batch = [...verbs];
    return this.#commits.run(() => this.#apply(batch));
  }

  #apply(verbs: readonly StoreVerb[]): void {
    this.#journal.begin();
    try {
      applyVerbs(this.#tables, verbs, storedCopy);
    } catch (e) {
      this.#journal.rollback();
      if (EngineError.is(e)) throw e;
      const text = e instanceof Error ? e.message : String(e);
      throw new EngineError("STORAGE_IO", `storage write failed: ${text.trim()}`, { cause: e });
    }
    this.#journal.end();
  }

  /** Refuses further commits; waits for commits already made to be applied. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#commits.settled();
  }
}
