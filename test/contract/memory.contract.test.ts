/** The storage contract on the in-memory reference store; `reopen` simulates a restart over the same data. */
import { MemoryStore } from "../../src/storage/memory/memory-store.js";
import { storeContract } from "./store.contract.js";

storeContract("memory", async () => {
  let current = MemoryStore.open();
  return {
    store: current,
    async reopen() {
      current = await current.reopen();
      return current;
    },
    async cleanup() {
      await current.close();
    },
  };
});
