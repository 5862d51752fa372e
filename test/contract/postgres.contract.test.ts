/**
 * The storage contract on the PostgreSQL store (one server), with serial and with concurrent
 * commits (which assign revisions at commit: StoreFixture.assignsRevisions): one throw-away
 * cluster for the file, a fresh database per test; `reopen` closes the store and opens it again on the same
 * database (a restart: the mirror is reloaded from the tables). Skipped, saying why, only when
 * PostgreSQL is not installed.
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import type { Store } from "../../src/engine/ports.js";
import { PgStore } from "../../src/storage/postgres/store.js";
import { HAVE_POSTGRES, type PostgresCluster, startPostgres, warnWithoutPostgres } from "../support/postgres.js";
import { storeContract } from "./store.contract.js";

warnWithoutPostgres("postgres.contract.test.ts");

let cluster: PostgresCluster | undefined;
let n = 0;

if (HAVE_POSTGRES) {
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  for (const commits of ["serial", "concurrent"] as const) {
    storeContract(`PostgreSQL, ${commits} commits`, async () => {
      if (!cluster) throw new Error("no PostgreSQL cluster");
      const url = await cluster.createDatabase(`contract_${++n}`);
      let current: Store = await PgStore.open({ url, commits });
      return {
        store: current,
        assignsRevisions: commits === "concurrent",
        async reopen() {
          await current.close();
          current = await PgStore.open({ url, commits });
          return current;
        },
        async cleanup() {
          await current.close();
        },
      };
    });
  }
} else {
  describe("Store contract: PostgreSQL", () => {
    it.skip("needs PostgreSQL (apt-get install -y postgresql)", () => undefined);
  });
}
