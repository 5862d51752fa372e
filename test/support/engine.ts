/**
 * Real engines over real stores for integration tests: a temp directory per engine (LMDB),
 * a manual clock, sequential ids and a seeded random source. AQ_TEST_STORE picks the store:
 * LMDB (default), the in-memory reference ("memory"), or PostgreSQL ("postgres": a new
 * database per engine on the run's cluster, test/support/postgres-setup.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TaskId } from "../../src/domain/ids.js";
import { Engine, type EngineOptions, type LeaseRequest, type Submission } from "../../src/engine/engine.js";
import { DEFAULT_BACKOFF } from "../../src/domain/retry.js";
import type { TaskSpec } from "../../src/domain/task-spec.js";
import type { Store } from "../../src/engine/ports.js";
import { LmdbStore } from "../../src/storage/lmdb/store.js";
import { MemoryStore } from "../../src/storage/memory/memory-store.js";
import { PgStore } from "../../src/storage/postgres/store.js";
import { inject } from "vitest";
import { createDatabaseAt } from "./postgres.js";
import { ManualClock } from "./clock.js";
import { sequentialIds } from "./ids.js";

/** A fresh temp directory (removed by `cleanup`). */
export function tempDir(prefix = "aq-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Deterministic [0,1) numbers (mulberry32). */
export function seededRandom(seed = 1): { next(): number } {
  let a = seed >>> 0;
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

export interface TestEngine {
  readonly engine: Engine;
  readonly clock: ManualClock;
  readonly dir: string;
  /** Closes the engine and reopens it on the same directory (same clock and id sequence). */
  reopen(extra?: Partial<EngineOptions>): Promise<TestEngine>;
  close(): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * Which store engine tests run on: LMDB in a temp directory (the default), the in-memory
 * reference store when AQ_TEST_STORE=memory, or PostgreSQL when AQ_TEST_STORE=postgres (the
 * "engine-on-memory" and "engine-on-postgres" vitest projects run the engine suites those
 * ways too, so every store is held to the same behaviour).
 */
export const TEST_STORE: "lmdb" | "memory" | "postgres" = process.env.AQ_TEST_STORE === "memory" ? "memory" : process.env.AQ_TEST_STORE === "postgres" ? "postgres" : "lmdb";

let databases = 0;
/** How the engine-on-postgres stores commit (AQ_TEST_PG_COMMITS: concurrent, the default, or serial). */
const PG_COMMITS = process.env.AQ_TEST_PG_COMMITS === "serial" ? "serial" : "concurrent";

/** A new database on the run's cluster (engine-on-postgres): its URL. */
function freshDatabase(): Promise<string> {
  return createDatabaseAt(inject("pgUrl"), `aq_engine_${process.pid}_${++databases}`);
}

/** Opens an engine on `dir` (a new temp dir by default) with timers off. */
export async function openTestEngine(
  options: Partial<EngineOptions> & { dir?: string; clock?: ManualClock; ids?: ReturnType<typeof sequentialIds>; memory?: MemoryStore; pgUrl?: string } = {},
): Promise<TestEngine> {
  const dir = options.dir ?? tempDir();
  const clock = options.clock ?? new ManualClock();
  const ids = options.ids ?? sequentialIds();
  const memory = TEST_STORE === "memory" ? (options.memory ?? MemoryStore.open()) : undefined;
  const pgUrl = TEST_STORE === "postgres" ? (options.pgUrl ?? (await freshDatabase())) : undefined;
  const store: Store = memory ?? (pgUrl ? await PgStore.open({ url: pgUrl, commits: PG_COMMITS }) : await LmdbStore.open({ path: dir }));
  const engine = await Engine.open({ store, clock, ids, random: seededRandom(7), autoTimers: false, ...options });
  const self: TestEngine = {
    engine,
    clock,
    dir,
    async reopen(extra = {}) {
      await engine.close();
      return openTestEngine({ ...options, ...extra, dir, clock, ids, ...(memory ? { memory: await memory.reopen() } : {}), ...(pgUrl ? { pgUrl } : {}) });
    },
    close: () => engine.close(),
    async cleanup() {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}

/** A TaskSpec with defaults, overridable field by field. */
export function spec(over: Partial<Omit<TaskSpec, "constraints">> & { constraints?: Partial<TaskSpec["constraints"]> } = {}): TaskSpec {
  const { constraints, ...rest } = over;
  return {
    queue: "default",
    payload: { data: new TextEncoder().encode("{}"), contentType: "application/json" },
    policy: { kind: "ONCE", startAt: null },
    metadata: { priority: 0, tags: [], description: "" },
    parentTaskId: null,
    dependsOn: [],
    ...rest,
    constraints: {
      maxAttempts: 1,
      attemptTimeoutMs: 0,
      backoff: DEFAULT_BACKOFF,
      concurrency: null,
      requiredCapabilities: [],
      ...constraints,
    },
  };
}

/** A submission with a generated id. */
export function submission(s: TaskSpec, taskId: TaskId | null = null): Submission {
  return { taskId, spec: s };
}

/** Removes a directory. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A lease request on queue "default" by worker "w1" (10 runs, 30 s, no wait, no start), overridable. */
export function leaseRequest(over: Partial<LeaseRequest> = {}): LeaseRequest {
  return {
    queues: ["default"],
    workerId: "w1",
    capabilities: [],
    maxRuns: 10,
    leaseDurationMs: 30_000,
    waitMs: 0,
    startAttempt: false,
    ...over,
  };
}
