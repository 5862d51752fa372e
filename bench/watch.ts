/**
 * Watch fan-out benchmark (`npm run bench:watch`): one server process, W WatchRuns streams
 * (Connect gRPC clients spread over a few HTTP/2 connections), a producer submitting tasks at
 * a fixed rate for a fixed time. Reports events delivered per second in total, delivery lag
 * (the event's `time` → received, same machine) p50/p99, gaps and duplicates, the time the
 * watchers needed to catch up after the producer stopped, server RSS/heap (after a GC) before
 * and after the watches were cancelled, and whether the watch gauge came back to zero (every
 * slot of `--max-watches` can be opened again after the cancel).
 *
 *   node --import tsx bench/watch.ts [--watchers 200] [--rate 200] [--seconds 15]
 *        [--connections 4] [--batch 0] [--cancel-backlogged] [--drain-limit 60]
 *        [--root <checkout>] [--server-args "--flag v ..."]
 *
 * `--rate` is tasks per second; each submitted task yields one event (its run CREATED as
 * READY), so it is also events per second per watcher. `--root` runs the server of another
 * checkout (e.g. a `git worktree` of the committed code) for before/after figures. `--batch N`
 * asks for up to N events per message (WatchRunsRequest.max_events_per_message; a server
 * without it ignores the field). `--cancel-backlogged` cancels the watches as soon as the
 * producer stops, while they may still be behind. BENCH_CPU_PROF=<dir> profiles the server.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Code, ConnectError } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createActionQueueClients, type ActionQueueClients } from "../clients/typescript/src/index.js";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : (process.argv[i + 1] ?? def);
}
const WATCHERS = Number(arg("watchers", "200"));
const RATE = Number(arg("rate", "200"));
const SECONDS = Number(arg("seconds", "15"));
const CONNECTIONS = Number(arg("connections", "4"));
const ROOT = arg("root", join(import.meta.dirname, ".."));
const EXTRA = arg("server-args", "").split(" ").filter((s) => s !== "");
const MAX_WATCHES = WATCHERS + 10;
/** After the producer stops, how long the watchers may take to catch up before we give up. */
const DRAIN_LIMIT_MS = Number(arg("drain-limit", "60")) * 1_000;
/** Cancel the watches as soon as the producer stops, while they may still be backlogged. */
/** WatchRunsRequest.max_events_per_message (0: one event per message, what older servers send). */
const BATCH = Number(arg("batch", "0"));
const CANCEL_BACKLOGGED = process.argv.includes("--cancel-backlogged");

// Preloaded into the server: on SIGUSR2, a GC then process.memoryUsage() on stderr.
const PROBE = `data:text/javascript,${encodeURIComponent(`process.on("SIGUSR2",()=>{globalThis.gc?.();globalThis.gc?.();process.stderr.write("MEM "+JSON.stringify(process.memoryUsage())+"\\n")})`)}`;

function pct(xs: Float64Array | number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Mem {
  rss: number;
  heapUsed: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "aq-bench-watch-"));
  const server = spawn(
    process.execPath,
    ["--expose-gc", ...(process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF] : []), "--import", "tsx", "--import", PROBE, join(ROOT, "src/main.ts"), "--data-dir", dir, "--listen", "127.0.0.1:0", "--max-watches", String(MAX_WATCHES), ...EXTRA],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"]},
  );
  const memWaiters: ((m: Mem) => void)[] = [];
  createInterface({ input: server.stderr }).on("line", (line) => {
    if (line.startsWith("MEM ")) memWaiters.shift()?.(JSON.parse(line.slice(4)) as Mem);
    else process.stderr.write(`[server] ${line}\n`);
  });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: server.stdout }).on("line", (line) => {
      try {
        const o = JSON.parse(line) as { msg?: string; port?: number };
        if (o.msg === "serving" && o.port) resolve(o.port);
      } catch {
        // ignore
      }
    });
    server.on("exit", (c) => reject(new Error(`server exited with ${c}`)));
  });
  const memory = async (): Promise<Mem> => {
    const m = new Promise<Mem>((r) => memWaiters.push(r));
    server.kill("SIGUSR2");
    const got = await m;
    // RSS from /proc as well (memoryUsage().rss is the same number; this avoids trusting it).
    try {
      const vm = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, "utf8"));
      if (vm) got.rss = Number(vm[1]) * 1024;
    } catch {
      // not Linux
    }
    return got;
  };
  /** The server's CPU time so far (Linux /proc; NaN elsewhere). */
  const serverCpuMs = (): number => {
    try {
      const f = readFileSync(`/proc/${server.pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
    } catch {
      return NaN;
    }
  };
  const url = `http://127.0.0.1:${port}`;
  const clients: ActionQueueClients[] = Array.from({ length: CONNECTIONS }, () => createActionQueueClients(createGrpcTransport({ baseUrl: url })));
  const producer = createActionQueueClients(createGrpcTransport({ baseUrl: url }));
  const payload = { data: new Uint8Array(16), contentType: "application/octet-stream" };
  try {
    // Warm-up (JIT, connections) and the never-watched memory figure.
    for (let i = 0; i < 5; i++) await producer.tasks.batchSubmitTasks({ tasks: Array.from({ length: 50 }, () => ({ spec: { queue: "warm", payload } })) });
    await sleep(500);
    const memIdle = await memory();

    // W watchers, live only.
    const lagMs = new Float64Array(WATCHERS * RATE * (SECONDS + 5) + 1024);
    let lagN = 0;
    let received = 0;
    let batches = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    const revs: number[][] = Array.from({ length: WATCHERS }, () => []);
    const lastRev = new Float64Array(WATCHERS);
    const aborts = Array.from({ length: WATCHERS }, () => new AbortController());
    let opened = 0;
    const ended: Promise<unknown>[] = [];
    for (let w = 0; w < WATCHERS; w++) {
      const c = clients[w % CONNECTIONS] as ActionQueueClients;
      const mine = revs[w] as number[];
      ended.push(
        (async () => {
          const stream = c.runs.watchRuns({ queues: ["bench"], progressIntervalMs: 500, maxEventsPerMessage: BATCH }, { signal: (aborts[w] as AbortController).signal });
          let first = true;
          for await (const m of stream) {
            if (first) {
              first = false;
              opened++;
            }
            const events = m.kind.case === "event" ? [m.kind.value] : m.kind.case === "events" ? m.kind.value.events : [];
            if (events.length > 1) batches++;
            const now = Date.now();
            for (const e of events) {
              const r = Number(e.revision);
              if (r <= (lastRev[w] as number)) {
                if (r === lastRev[w]) duplicates++;
                else outOfOrder++;
              }
              lastRev[w] = r;
              mine.push(r);
              received++;
              const at = Number(e.time?.seconds ?? 0n) * 1000 + Math.floor((e.time?.nanos ?? 0) / 1e6);
              if (lagN < lagMs.length) lagMs[lagN++] = now - at;
            }
          }
        })().catch((e: unknown) => (e instanceof ConnectError && e.code === Code.Canceled ? null : e)),
      );
    }
    const openDeadline = Date.now() + 30_000;
    while (opened < WATCHERS && Date.now() < openDeadline) await sleep(50);
    console.log(`watch fan-out: ${WATCHERS} watchers on ${CONNECTIONS} HTTP/2 connections, ${RATE} events/s for ${SECONDS} s, max_events_per_message ${BATCH} (root ${ROOT})`);
    console.log(`  watchers open: ${opened}/${WATCHERS}`);

    // Producer: every 10 ms, the tasks due by then (one event each).
    const serverCpu0 = serverCpuMs();
    const clientCpu0 = process.cpuUsage();
    const t0 = performance.now();
    let submitted = 0;
    let producerLate = 0;
    let shed = 0;
    while (performance.now() - t0 < SECONDS * 1_000) {
      const due = Math.floor(((performance.now() - t0) / 1_000) * RATE);
      const n = due - submitted;
      if (n > 0) {
        try {
          await producer.tasks.batchSubmitTasks({ tasks: Array.from({ length: n }, () => ({ spec: { queue: "bench", payload } })) });
          submitted += n;
        } catch (e) {
          // Load shedding (OVERLOADED): counted, and the tasks are offered again on the next tick.
          if (!(e instanceof ConnectError && e.code === Code.ResourceExhausted)) throw e;
          shed++;
          await sleep(10);
        }
      }
      const next = t0 + ((submitted + 1) / RATE) * 1_000 - performance.now();
      if (next > 0) await sleep(Math.min(next, 10));
      else producerLate++;
    }
    const produceMs = performance.now() - t0;
    const serverCpu = serverCpuMs() - serverCpu0;
    const clientCpu = process.cpuUsage(clientCpu0);
    const head = Number((await producer.admin.getStats({})).revision);
    const receivedDuringRun = received;
    // Catch-up: until every watcher has seen the head (or the limit).
    const drainStart = performance.now();
    while (!CANCEL_BACKLOGGED && performance.now() - drainStart < DRAIN_LIMIT_MS && lastRev.some((r) => r < head)) await sleep(50);
    const drainMs = performance.now() - drainStart;
    const caughtUp = lastRev.filter((r) => r >= head).length;
    // Gaps: every watcher's revisions must be the same contiguous run of "bench" events; the
    // reference is the set all watchers together received (each event reaches every watcher).
    const all = new Set<number>();
    for (const r of revs) for (const x of r) all.add(x);
    const expected = all.size;
    let gaps = 0;
    if (!CANCEL_BACKLOGGED) for (const r of revs) gaps += Math.max(0, expected - new Set(r).size);
    const memBusy = CANCEL_BACKLOGGED ? { rss: NaN, heapUsed: NaN } : await memory();

    // Cancel every stream, then look at memory and at the gauge.
    for (const a of aborts) a.abort();
    const outcomes = await Promise.all(ended);
    const failures = outcomes.filter((o) => o !== null && o !== undefined);
    await sleep(1_000);
    const memAfter = await memory();
    // Gauge: every one of --max-watches must open again.
    const again = Array.from({ length: MAX_WATCHES }, () => new AbortController());
    let refused = 0;
    let reopened = 0;
    await Promise.all(
      again.map(async (ac, i) => {
        try {
          const c = clients[i % CONNECTIONS] as ActionQueueClients;
          for await (const _ of c.runs.watchRuns({ queues: ["none"], progressIntervalMs: 100 }, { signal: ac.signal })) {
            reopened++;
            break;
          }
        } catch (e) {
          if (e instanceof ConnectError && e.code === Code.ResourceExhausted) refused++;
          else throw e;
        }
      }),
    );
    for (const ac of again) ac.abort();

    const lag = lagMs.subarray(0, lagN);
    console.log(`  submitted ${submitted} tasks in ${(produceMs / 1000).toFixed(1)} s (${(submitted / (produceMs / 1000)).toFixed(0)}/s; producer late ${producerLate}x, shed ${shed}x), head revision ${head}, ${(all.size / submitted).toFixed(2)} events per task`);
    console.log(`  delivered during the run: ${receivedDuringRun} events = ${(receivedDuringRun / (produceMs / 1000)).toFixed(0)} events/s in total (offered ${(RATE * WATCHERS).toFixed(0)}/s)`);
    console.log(`  delivered in total: ${received} of ${expected * WATCHERS}; caught up ${caughtUp}/${WATCHERS} watchers ${(drainMs / 1000).toFixed(1)} s after the producer stopped${caughtUp < WATCHERS ? " (LIMIT REACHED)" : ""}`);
    console.log(`  messages carrying several events: ${batches}`);
    console.log(`  delivery lag (event time -> received): p50 ${pct(lag, 50).toFixed(0)} ms  p99 ${pct(lag, 99).toFixed(0)} ms  max ${pct(lag, 100).toFixed(0)} ms`);
    console.log(`  CPU during the run: server ${((100 * serverCpu) / produceMs).toFixed(0)}%, bench client (watchers and producer) ${((100 * (clientCpu.user + clientCpu.system)) / 1000 / produceMs).toFixed(0)}% of one core`);
    console.log(`  missing ${gaps}, duplicates ${duplicates}, out of order ${outOfOrder}, stream failures ${failures.length}${failures[0] ? ` (${String(failures[0])})` : ""}`);
    console.log(`  server memory never watched: rss ${mib(memIdle.rss)} heap ${mib(memIdle.heapUsed)}`);
    console.log(`  server memory watched (end): rss ${mib(memBusy.rss)} heap ${mib(memBusy.heapUsed)}`);
    console.log(`  server memory after cancel:  rss ${mib(memAfter.rss)} heap ${mib(memAfter.heapUsed)}`);
    console.log(`  gauge after cancel: ${reopened}/${MAX_WATCHES} new watches opened, ${refused} refused (--max-watches ${MAX_WATCHES})`);
  } finally {
    server.kill("SIGTERM");
    await new Promise((r) => server.on("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
