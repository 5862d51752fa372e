/**
 * `npm run bench:profile`: where the server's time goes in the end-to-end workload.
 *
 * Starts the built server (dist/main.js) under `node --cpu-prof`, submits N tasks in batches
 * of 500 (4 in flight) while 2 workers lease 256 at a time (start_attempt) and complete each
 * batch with one BatchCompleteAttempts, all over gRPC from this process; then stops the
 * server, reads its CPU profile and prints the server's time per run by category (LMDB and
 * msgpack, RPC, engine, GC, idle, ...), plus the top functions by self time. Figures are
 * microseconds of the server's main thread per run.
 *
 * Knobs: PROFILE_N (20000), PROFILE_DIR (where the .cpuprofile is kept; a temp dir otherwise),
 * BENCH_STORE=memory (the server over the in-memory store: what is left without storage).
 * Run `npx tsc -p tsconfig.build.json` first (the script does it when dist/ is missing).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AttemptOutcome, createActionQueueClients } from "../../clients/typescript/src/index.js";
import { BUILT_ENTRY, startBenchServer } from "../support/server.js";
import { byCategory, topSelf, type CpuProfile } from "./categories.js";

const ROOT = join(import.meta.dirname, "../..");
const N = Number(process.env.PROFILE_N ?? "20000");

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, "dist/main.js"))) execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "inherit" });
  const profDir = process.env.PROFILE_DIR ?? mkdtempSync(join(tmpdir(), "aq-profile-cpu-"));
  const server = await startBenchServer({ entry: BUILT_ENTRY, nodeArgs: ["--cpu-prof", "--cpu-prof-dir", profDir], dirPrefix: "aq-profile-" });
  const port = server.port;
  const clients = () => createActionQueueClients(createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  const spec = { queue: "q", payload: { data: new Uint8Array(16), contentType: "application/octet-stream" } };
  const started = performance.now();
  let done = 0;
  const submit = async () => {
    const c = clients();
    const inFlight = new Set<Promise<unknown>>();
    for (let sent = 0; sent < N; ) {
      const n = Math.min(500, N - sent);
      sent += n;
      const p = c.tasks.batchSubmitTasks({ tasks: Array.from({ length: n }, () => ({ spec })) });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      if (inFlight.size >= 4) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  };
  const work = async (id: string) => {
    const c = clients();
    while (done < N) {
      const r = await c.workers.leaseRuns({ queues: ["q"], workerId: id, maxRuns: 256, wait: { seconds: 1n }, startAttempt: true });
      if (r.runs.length === 0) continue;
      const res = await c.workers.batchCompleteAttempts({
        completions: r.runs.map((g) => ({ runId: g.run?.id ?? "", leaseToken: g.leaseToken, attemptId: g.attempt?.id ?? "", outcome: AttemptOutcome.SUCCESS })),
      });
      done += res.results.filter((x) => x.result.case === "ok").length;
    }
  };
  await Promise.all([submit(), work("a"), work("b")]);
  const seconds = (performance.now() - started) / 1000;
  await server.stop();
  const file = readdirSync(profDir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => join(profDir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size)[0];
  if (!file) throw new Error(`no CPU profile in ${profDir}`);
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  console.log(`end to end over gRPC: ${N} runs in ${seconds.toFixed(2)} s = ${Math.round(N / seconds)} runs/s; server profile ${file}`);
  console.log("\nserver main thread per run, by category (us):");
  for (const c of byCategory(profile, N)) console.log(`  ${c.name.padEnd(28)} ${c.usPerRun.toFixed(1).padStart(7)}  ${c.share.toFixed(1).padStart(5)} %`);
  console.log("\ntop functions by self time:");
  for (const f of topSelf(profile, 20)) console.log(`  ${f.share.toFixed(1).padStart(5)} %  ${f.name}`);
}

await main();
