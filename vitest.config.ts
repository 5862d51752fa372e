import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { defineConfig } from "vitest/config";

// Unit tests (test/unit) touch no disk, network or real time; contract tests (test/contract)
// hold every Store implementation to the same port; integration tests (test/integration)
// use real LMDB directories and real servers on loopback ports; end-to-end tests (test/e2e)
// drive whole processes. The "engine-on-memory" project runs the engine suites again over
// the in-memory reference store (AQ_TEST_STORE=memory): fast, and a second check that the
// engine behaves the same whatever store is behind the port.
const ENGINE_SUITES = ["commands", "timers", "watch", "concurrency", "regressions", "defects", "quota", "smoke", "queries"].map(
  (name) => `test/integration/engine/${name}.test.ts`,
);

// The "engine-on-postgres" project runs the same engine suites over PostgreSQL
// (AQ_TEST_STORE=postgres, a database per engine on one cluster), when Debian's postgresql is
// installed (`.ci/run` installs it); without it the project is left out, with a warning.
const PG_LIB = "/usr/lib/postgresql";
const HAVE_POSTGRES = existsSync(PG_LIB) && readdirSync(PG_LIB).some((v) => existsSync(join(PG_LIB, v, "bin", "initdb")));
if (!HAVE_POSTGRES) console.warn(`vitest: project engine-on-postgres SKIPPED — no ${PG_LIB}/<version>/bin/initdb (apt-get install -y postgresql)`);

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores in CI: keep parallelism modest so timing-based integration tests stay calm.
    maxWorkers: 2,
    // The dashboard is built once before the tests (servers serve dist/ui).
    globalSetup: ["test/support/build-ui.ts"],
    projects: [
      { extends: true, test: { name: "all", include: ["test/**/*.test.ts"] } },
      { extends: true, test: { name: "engine-on-memory", include: ENGINE_SUITES, env: { AQ_TEST_STORE: "memory" } } },
      ...(HAVE_POSTGRES
        ? [{ extends: true as const, test: { name: "engine-on-postgres", include: ENGINE_SUITES, env: { AQ_TEST_STORE: "postgres" }, globalSetup: ["test/support/postgres-setup.ts"] } }]
        : []),
    ],
  },
});
