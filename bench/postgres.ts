/**
 * The PostgreSQL mode of `npm run bench` (docs/scaling.md, "Throughput"): with
 * BENCH_POSTGRES=1, after the engine and server benchmarks, the end-to-end workload on LMDB and
 * on 1, 2 and 3 servers on one throw-away PostgreSQL database with each way to commit,
 * interleaved round by round — the comparison benchmark (bench/compare/main.ts) with these
 * settings, each of which an environment variable of the same name overrides. Without
 * BENCH_POSTGRES=1 it does nothing.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

if (process.env.BENCH_POSTGRES === "1") {
  const defaults: Record<string, string> = {
    BENCH_STORES: "lmdb,postgres",
    BENCH_PG_SERVERS: "1,2,3",
    BENCH_PG_COMMITS: "serial,concurrent",
    BENCH_BULLMQ: "0",
    BENCH_ONLY: "e2e",
    BENCH_E2E: "2000,5000",
    BENCH_ROUNDS: "3",
    BENCH_WORKERS: "6",
  };
  const main = join(import.meta.dirname, "compare", "main.ts");
  const r = spawnSync(process.execPath, ["--import", "tsx", main], { stdio: "inherit", env: { ...defaults, ...process.env } });
  process.exit(r.status ?? 1);
}
