/**
 * Engine benchmarks (`npm run bench`): prints figures, asserts nothing.
 *
 *  1. durable commands per second (submit of one task) at concurrency 1 and 64;
 *  2. lease -> start -> complete cycles per second with 10k and with 1M READY runs;
 *  3. resident memory per 100k pending runs;
 *  4. start-up time with 1M runs stored.
 *
 * Every figure uses a real LMDB directory under the OS temp dir with the default durability
 * (each commit flushed). Set BENCH_SCALE=0.1 for a quick run (100k instead of 1M).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_BACKOFF } from "../src/domain/retry.js";
import { Engine } from "../src/engine/engine.js";
import type { TaskSpec } from "../src/domain/task-spec.js";
import { uuidV7Source } from "../src/ids/uuidv7.js";
import { LmdbStore } from "../src/storage/lmdb/store.js";

const SCALE = Number(process.env.BENCH_SCALE ?? "1");
const BIG = Math.round(1_000_000 * SCALE);

const ids = uuidV7Source();

const spec = (queue: string): TaskSpec => ({
  queue,
  payload: { data: new Uint8Array(64), contentType: "application/octet-stream" },
  policy: { kind: "ONCE", startAt: null },
  constraints: { maxAttempts: 1, attemptTimeoutMs: 0, backoff: DEFAULT_BACKOFF, concurrency: null, requiredCapabilities: [] },
  metadata: { priority: 0, tags: [], description: "" },
  parentTaskId: null,
  dependsOn: [],
});

async function open(dir: string): Promise<Engine> {
  const store = await LmdbStore.open({ path: dir });
  return Engine.open({ store, clock: { now: () => Date.now() }, ids, random: { next: Math.random }, autoTimers: false });
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function fill(engine: Engine, queue: string, n: number): Promise<void> {
  const batch = 1_000;
  const inFlight = 4;
  let done = 0;
  const started = performance.now();
  while (done < n) {
    const calls = [];
    for (let i = 0; i < inFlight && done < n; i++) {
      const size = Math.min(batch, n - done);
      done += size;
      calls.push(engine.submitTasks(Array.from({ length: size }, () => ({ taskId: null, spec: spec(queue) }))));
    }
    await Promise.all(calls);
    if (n >= 100_000 && done % 100_000 < batch * inFlight) {
      process.stderr.write(`  filled ${fmt(done)} / ${fmt(n)} (${fmt((performance.now() - started) / 1000, 1)} s)\n`);
    }
  }
}

async function commandsPerSecond(concurrency: number, seconds: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "aq-bench-cmd-"));
  const engine = await open(dir);
  try {
    let count = 0;
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          await engine.submitTask({ taskId: null, spec: spec("bench") });
          count++;
        }
      }),
    );
    return count / seconds;
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Rate of `total` lease(+start) -> complete cycles by `workers` concurrent workers. */
async function cyclesPerSecond(engine: Engine, queue: string, workers: number, total: number): Promise<number> {
  let cycles = 0;
  let claimed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (claimed++ < total) {
        const r = await engine.leaseRuns({
          queues: [queue],
          workerId: `bench-${w}`,
          capabilities: [],
          maxRuns: 1,
          leaseDurationMs: 60_000,
          waitMs: 0,
          startAttempt: true,
        });
        const g = r.grants[0];
        if (!g?.attempt) return;
        await engine.completeAttempts([
          { runId: g.run.id, token: g.lease.token, attemptId: g.attempt.id, outcome: "SUCCESS", output: new Uint8Array(0), error: "" },
        ]);
        cycles++;
      }
    }),
  );
  return cycles / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  console.log(`ActionQueue engine benchmark — node ${process.version}, scale ${SCALE} (big backlog ${fmt(BIG)})`);
  console.log("");

  // 1. Durable commands per second.
  const c1 = await commandsPerSecond(1, 3);
  const c64 = await commandsPerSecond(64, 3);
  console.log(`durable commands/s (submit, each flushed)   concurrency 1: ${fmt(c1)}   concurrency 64: ${fmt(c64)}`);

  // 3. Memory per 100k pending runs (fresh directory, READY runs in the ready index).
  {
    const dir = mkdtempSync(join(tmpdir(), "aq-bench-mem-"));
    const engine = await open(dir);
    gc();
    const before = process.memoryUsage();
    await fill(engine, "mem", 100_000);
    gc();
    const after = process.memoryUsage();
    console.log(
      `memory per 100k pending (READY) runs        rss +${fmt((after.rss - before.rss) / 2 ** 20, 1)} MiB   js heap +${fmt((after.heapUsed - before.heapUsed) / 2 ** 20, 1)} MiB   (ready index holds ${fmt(engine.readyIndexed)}; rss includes LMDB pages mapped while writing)`,
    );
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }

  // 2 and 4. Cycles with 10k and with 1M READY runs (two stores, one per backlog, measured
  // in interleaved rounds so both see the same machine); start-up with 1M stored.
  const smallDir = mkdtempSync(join(tmpdir(), "aq-bench-10k-"));
  const dir = mkdtempSync(join(tmpdir(), "aq-bench-big-"));
  try {
    const smallEngine = await open(smallDir);
    let engine = await open(dir);
    // Warm up (JIT, LMDB pages) on queues of their own, so neither figure pays for it.
    for (const e of [smallEngine, engine]) {
      await fill(e, "warm-up", 5_000);
      await cyclesPerSecond(e, "warm-up", 32, 5_000);
    }
    process.stderr.write(`  filling ${fmt(BIG)} READY runs...\n`);
    const t0 = performance.now();
    await fill(engine, "q", BIG);
    const fillSeconds = (performance.now() - t0) / 1000;
    // Medians of 3 interleaved rounds of 2,000 cycles; the 10k backlog is topped back up
    // before each round.
    const small: number[] = [];
    const big: number[] = [];
    for (let round = 0; round < 3; round++) {
      await fill(smallEngine, "q", 10_000 - smallEngine.reader.counts("q").READY);
      small.push(await cyclesPerSecond(smallEngine, "q", 32, 2_000));
      big.push(await cyclesPerSecond(engine, "q", 32, 2_000));
    }
    await smallEngine.close();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1] as number;
    const s10k = median(small);
    const sBig = median(big);
    console.log(
      `lease->start->complete cycles/s (32 workers) backlog 10k: ${fmt(s10k)}   backlog ${fmt(BIG)}: ${fmt(sBig)}   ratio ${fmt(Math.max(s10k, sBig) / Math.min(s10k, sBig), 2)}x   (rounds ${small.map((x) => fmt(x)).join("/")} vs ${big.map((x) => fmt(x)).join("/")})`,
    );
    console.log(`bulk submit of ${fmt(BIG)} tasks (1,000 per call, 4 calls in flight): ${fmt(fillSeconds, 1)} s = ${fmt(BIG / fillSeconds)} tasks/s`);
    const ready = engine.reader.counts("q").READY;
    const total = engine.reader.taskCount();
    await engine.close();
    gc();
    const s0 = performance.now();
    engine = await open(dir);
    const startup = (performance.now() - s0) / 1000;
    gc();
    const mem = process.memoryUsage();
    console.log(
      `start-up with ${fmt(total)} runs stored (${fmt(ready)} READY indexed): ${fmt(startup, 2)} s   js heap ${fmt(mem.heapUsed / 2 ** 20)} MiB   rss ${fmt(mem.rss / 2 ** 20)} MiB (rss counts LMDB pages this process mapped while filling)`,
    );
    await engine.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(smallDir, { recursive: true, force: true });
  }
}

await main();
