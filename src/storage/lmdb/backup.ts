/**
 * Online backup: a consistent, compacted copy of a data directory's LMDB environment, taken
 * from a second process while the server keeps serving.
 *
 * LMDB is built for several processes sharing one environment: the copy opens it read-only
 * (MDB_RDONLY), registers one reader in the shared lock.mdb and writes every page visible in
 * that one read transaction (`mdb_env_copy2` with MDB_CP_COMPACT, through lmdb-js's
 * `backup`). The server's writes go on meanwhile and are not in the copy; the copy is the
 * database exactly as of one commit, its revision is read back from the copy itself.
 *
 * The server's directory lock (lock.ts) is respected by not being taken: it guards against a
 * second *writer*, and the backup never writes to the source. On platforms with the PID-file
 * lock, the LOCK file is neither copied nor touched.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { type RootDatabase, open } from "lmdb";
import type { MetaRecord } from "../../engine/ports.js";
import { KEY_SPACE_NAMES } from "../layout.js";
import { SCHEMA_VERSION } from "./store.js";

/** What a finished backup wrote. */
export interface BackupResult {
  /** The backup directory (absolute). */
  readonly path: string;
  /** The store revision the copy holds: every commit up to it, none after. */
  readonly revision: number;
  /** Size of the copied data file in bytes. */
  readonly bytes: number;
}

/** A backup refused or failed; the message is one line. */
export class BackupError extends Error {
  override readonly name = "BackupError";
}

/** The file LMDB keeps the data in, in a directory environment. */
const DATA_FILE = "data.mdb";

/** Opens an environment read-only, with the options the server uses for reading. */
function openReadOnly(path: string): RootDatabase {
  return open({ path, readOnly: true, noSubdir: false, maxDbs: 24, cache: false, compression: false });
}

/** Reads the schema record and the meta record; throws BackupError when not ActionQueue data. */
function readMeta(env: RootDatabase, path: string): MetaRecord {
  // The named database and its shared-structures key must match databases.ts, or records
  // written with shared structures would not decode.
  const meta = env.openDB(KEY_SPACE_NAMES.meta as string, { sharedStructuresKey: Symbol.for("structures") });
  const format = meta.get("format");
  const version = meta.get("schemaVersion");
  if (format !== "actionqueue") throw new BackupError(`${path} does not hold ActionQueue data`);
  if (version !== SCHEMA_VERSION) throw new BackupError(`${path} holds schema version ${String(version)}; this build reads version ${SCHEMA_VERSION} only`);
  return (meta.get("meta") as MetaRecord | undefined) ?? { revision: 0, oldestRevision: 1, enginePaused: false };
}

/**
 * Copies the data directory `from` into the new directory `to` (created; an existing empty
 * directory is accepted, anything else refused so that no backup is ever overwritten). The
 * result is a valid `--data-dir`: restoring is starting a server on it.
 */
export async function backupDataDir(from: string, to: string): Promise<BackupResult> {
  const source = resolve(from);
  const target = resolve(to);
  if (!existsSync(join(source, DATA_FILE))) throw new BackupError(`${from} is not a data directory (no ${DATA_FILE})`);
  if (source === target) throw new BackupError("--to must differ from --data-dir");
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new BackupError(`${to} exists and is not a directory`);
    if (readdirSync(target).length > 0) throw new BackupError(`${to} is not empty (a backup never overwrites)`);
  }
  let env: RootDatabase;
  try {
    env = openReadOnly(source);
  } catch (e) {
    throw new BackupError(`cannot open LMDB in ${from}: ${(e as Error).message}`);
  }
  const created = !existsSync(target);
  try {
    readMeta(env, from);
    mkdirSync(target, { recursive: true });
    // A directory environment: mdb_env_copy2 writes <target>/data.mdb in one read transaction.
    await env.backup(target, true);
  } catch (e) {
    // A half-written copy must not pass for a backup.
    rmSync(join(target, DATA_FILE), { force: true });
    if (created) rmSync(target, { recursive: true, force: true });
    if (e instanceof BackupError) throw e;
    throw new BackupError(`backup of ${from} failed: ${(e as Error).message}`);
  } finally {
    await env.close();
  }
  return verifyBackup(target);
}

/** Opens a finished copy read-only, checks its schema and reads the revision it holds. */
async function verifyBackup(target: string): Promise<BackupResult> {
  const env = openReadOnly(target);
  try {
    const meta = readMeta(env, target);
    return { path: target, revision: meta.revision, bytes: statSync(join(target, DATA_FILE)).size };
  } finally {
    await env.close();
    // Opening the copy made a lock.mdb; LMDB re-creates it on the next open, and the backup
    // is easier to move around as the one data file.
    rmSync(join(target, "lock.mdb"), { force: true });
  }
}
