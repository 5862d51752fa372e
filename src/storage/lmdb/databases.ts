/**
 * The LMDB key layout (docs/storage.md): one named database per key space. Index keys are
 * ordered tuples, so range scans give natural secondary indexes; index values are a mark,
 * except READY entries of idx_state, which carry what the selection index needs.
 */
import type { Database, Key, RootDatabase } from "lmdb";
import { KEY_SPACE_NAMES, type KeySpace, type KeySpaces, type ValueOf } from "../layout.js";

/** One LMDB database per key space, typed by the values the key space holds. */
type NamedDatabases = { readonly [N in keyof KeySpaces]: Database<ValueOf<KeySpaces[N]>, Key> };

/** Opens the named databases, one per key space (KEY_SPACE_NAMES in src/storage/layout.ts). */
export function openDatabases(env: RootDatabase): NamedDatabases {
  const entries = Object.entries(KEY_SPACE_NAMES).map(([space, name]) => [space, env.openDB(name as string, { sharedStructuresKey: Symbol.for("structures") })]);
  return Object.fromEntries(entries) as unknown as NamedDatabases;
}

/** The opened databases, plus all of them as a list (storage size, consistency checks). */
export type Databases = NamedDatabases & { readonly all: Database<unknown, Key>[] };

function keySpace<K extends Key, V>(db: Database<V, K>): KeySpace<K, V> {
  return {
    get: (key) => db.get(key),
    put: (key, value) => {
      db.putSync(key, value);
    },
    remove: (key) => {
      db.removeSync(key);
    },
    removeRange: (start, end) => {
      for (const key of Array.from(db.getKeys({ start, end }))) db.removeSync(key);
    },
  };
}

/** The databases as the shared verbs see them (src/storage/layout.ts). */
export function keySpaces(d: Databases): KeySpaces {
  const spaces = Object.fromEntries(Object.entries(d).filter(([name]) => name !== "all").map(([name, db]) => [name, keySpace(db as Database<unknown, Key>)]));
  return spaces as unknown as KeySpaces;
}
