import { defineConfig } from "vitest/config";

// One config for every suite. Unit tests (test/unit) touch no disk, network or real time;
// integration tests (test/integration) use real LMDB directories and real servers on
// loopback ports; end-to-end tests (test/e2e) drive whole processes.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores in CI: keep parallelism modest so timing-based integration tests stay calm.
    maxWorkers: 2,
  },
});
