/**
 * The LMDB store: one environment in the data directory, one named database per key space
 * (see docs/storage.md for the layout). Reads are synchronous; writes go through `write`,
 * which runs a batch of engine commands in one transaction (each in a child transaction)
 * and resolves after the commit is flushed to disk (`overlappingSync` is off, so a commit
 * promise resolves only once the data is durable).
 */
import { mkdirSync, accessSync, constants as fsConstants } from "node:fs";
import { type Database, type Key, type RootDatabase, open } from "lmdb";
import { EngineError } from "../../engine/errors.js";
import type { MetaRecord, Store, StoreReader, StoreVerb } from "../../engine/ports.js";
import { type KeySpaces, applyVerbs } from "../layout.js";
import { type Databases, keySpaces, openDatabases } from "./databases.js";
import { storageError, storageErrorSync } from "./errors.js";
import { type DirectoryLock, lockDirectory } from "./lock.js";
import { LmdbReader } from "./reader.js";

/** Version of the on-disk layout. A directory written by another version is refused. */
export const SCHEMA_VERSION = 2;
const FORMAT = "actionqueue";


/** Options of the LMDB store. */
export interface LmdbStoreOptions {
  /** Directory of the environment; created when missing. */
  readonly path: string;
  /**
   * Skip the flush on commit ("relaxed" durability): commits survive a process crash but the
   * last moments can be lost on power failure or kernel panic. Never the default.
   */
  readonly relaxedDurability?: boolean;
}

/** Why opening failed, in one line. */
export class StoreOpenError extends Error {
  override readonly name = "StoreOpenError";
}

/**
 * Commits of at most this many verbs (a few commands) are written and flushed synchronously;
 * larger ones asynchronously (see LmdbStore.commit). Measured in docs/performance.md.
 */
const SYNC_COMMIT_MAX_VERBS = 64;

/** Records are serialised by lmdb-js on write: they are stored as they are. */
const keepAsIs = <T>(value: T): T => value;

/** The LMDB implementation of the engine's Store port. */
export class LmdbStore implements Store {
  readonly #env: RootDatabase;
  readonly #lock: DirectoryLock;
  readonly #dbs: Databases;
  readonly #spaces: KeySpaces;
  readonly reader: StoreReader;
  readonly #reader: LmdbReader;
  #closed = false;

  private constructor(env: RootDatabase, lock: DirectoryLock) {
    this.#env = env;
    this.#lock = lock;
    const dbs = openDatabases(env);
    this.#dbs = { ...dbs, all: Object.values(dbs) as Database<unknown, Key>[] };
    this.#spaces = keySpaces(this.#dbs);
    this.#reader = new LmdbReader(this.#dbs);
    this.reader = this.#reader;
  }

  /**
   * Opens (creating when empty) the store in `options.path`. Refuses, with a one-line
   * StoreOpenError, a directory that cannot be created or written, one held by another
   * process, and one written by an unknown schema version.
   */
  static async open(options: LmdbStoreOptions): Promise<LmdbStore> {
    const path = options.path;
    try {
      mkdirSync(path, { recursive: true });
      accessSync(path, fsConstants.W_OK | fsConstants.R_OK);
    } catch (e) {
      throw new StoreOpenError(`data directory ${path} is not writable: ${(e as Error).message}`);
    }
    let lock: DirectoryLock;
    try {
      lock = await lockDirectory(path);
    } catch (e) {
      throw new StoreOpenError((e as Error).message);
    }
    let env: RootDatabase;
    try {
      env = open({
        path,
        maxDbs: 24,
        // The path is always a directory, whatever its last component looks like
        // ("./data.v2"): lmdb-js would take a name with an extension for a file.
        noSubdir: false,
        // The reply waits for the flush: with overlappingSync a commit promise would resolve
        // before the data is durable.
        overlappingSync: false,
        noSync: options.relaxedDurability === true,
        // Child transactions (one per command in a batch) need no cache and no write map.
        cache: false,
        useWritemap: false,
        compression: false,
        // Every write goes through an explicit transaction; event-turn batching would add an
        // internal commit promise that nobody awaits and that rejects unhandled when a commit
        // fails (disk full), crashing the process.
        eventTurnBatching: false,
      });
    } catch (e) {
      await lock.release();
      throw new StoreOpenError(`cannot open LMDB in ${path}: ${(e as Error).message}`);
    }
    const store = new LmdbStore(env, lock);
    try {
      await store.#checkSchema(path);
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  async #checkSchema(path: string): Promise<void> {
    const format = this.#dbs.meta.get("format");
    const version = this.#dbs.meta.get("schemaVersion");
    if (format === undefined && version === undefined) {
      if (this.#dbs.tasks.getKeysCount({ limit: 1 }) > 0) {
        throw new StoreOpenError(`data directory ${path} holds data without an ActionQueue schema record`);
      }
      await this.#env.transaction(() => {
        this.#dbs.meta.putSync("format", FORMAT);
        this.#dbs.meta.putSync("schemaVersion", SCHEMA_VERSION);
        this.#dbs.meta.putSync("meta", { revision: 0, oldestRevision: 1, enginePaused: false } satisfies MetaRecord);
      });
      return;
    }
    if (format !== FORMAT) throw new StoreOpenError(`data directory ${path} does not hold ActionQueue data (format ${String(format)})`);
    if (version !== SCHEMA_VERSION) {
      throw new StoreOpenError(
        `data directory ${path} was written by schema version ${String(version)}; this build reads version ${SCHEMA_VERSION} only`,
      );
    }
  }

  async commit(verbs: readonly StoreVerb[]): Promise<void> {
    if (this.#closed) throw new EngineError("SHUTTING_DOWN", "the store is closed");
    if (verbs.length === 0) return;
    for (const v of verbs) if (v.verb === "purgeTask") this.#reader.forgetTask(v.task.id);
    if (verbs.length <= SYNC_COMMIT_MAX_VERBS) this.#commitSync(verbs);
    else await this.#commitAsync(verbs);
  }

  /**
   * A small commit on the main thread: write and flush take a fraction of a millisecond,
   * less than handing the transaction to lmdb-js's write thread and back. The transaction is
   * aborted if a verb throws.
   */
  #commitSync(verbs: readonly StoreVerb[]): void {
    try {
      this.#env.transactionSync(() => {
        applyVerbs(this.#spaces, verbs, keepAsIs);
      });
    } catch (e) {
      throw storageErrorSync(e);
    }
  }

  /** A large commit: written on the main thread, flushed on lmdb-js's write thread meanwhile. */
  async #commitAsync(verbs: readonly StoreVerb[]): Promise<void> {
    let failed: { error: unknown } | null = null;
    try {
      await this.#env.transaction(() => {
        try {
          // A child transaction: if a verb throws, everything this commit wrote is aborted.
          // (lmdb-js would otherwise commit what the callback wrote before it threw.)
          this.#env.transactionSync(() => {
            applyVerbs(this.#spaces, verbs, keepAsIs);
          });
        } catch (e) {
          failed = { error: e };
        }
      });
    } catch (e) {
      throw await storageError(e);
    }
    if (failed) throw await storageError((failed as { error: unknown }).error);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#env.close();
    } finally {
      await this.#lock.release();
    }
  }

  /** @internal */ get env(): RootDatabase {
    return this.#env;
  }

  /** @internal The databases, for consistency tests. */
  get dbs(): Databases {
    return this.#dbs;
  }
}

