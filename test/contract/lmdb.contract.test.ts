/** The storage contract on the LMDB store: a fresh directory per test, removed afterwards. */
import { rmSync } from "node:fs";
import type { Store } from "../../src/engine/ports.js";
import { LmdbStore } from "../../src/storage/lmdb/store.js";
import { tempDir } from "../support/engine.js";
import { storeContract } from "./store.contract.js";

storeContract("LMDB", async () => {
  const dir = tempDir("aq-contract-");
  let current: Store = await LmdbStore.open({ path: dir });
  return {
    store: current,
    async reopen() {
      await current.close();
      current = await LmdbStore.open({ path: dir });
      return current;
    },
    async cleanup() {
      await current.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
