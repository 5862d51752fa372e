/**
 * The workloads, driven from the coordinator: each spawns its client processes (`Agent`),
 * waits until they are connected, starts them and measures. Throughputs are timed on the
 * coordinator's clock (go → the worker count reaching N, counts coalesced every 5 ms) or by
 * the producer itself (submit only); latencies inside one client process.
 *
 * Every workload gets the system's servers as a list (`Targets`): one server for LMDB,
 * BullMQ and "aq-postgres", N for "aq-postgres-xN" (N servers on one database). Client
 * processes are spread over them round-robin: the i-th producer talks to server i % N, the
 * j-th worker to server j % N; a workload with a single client process (submit only, the
 * wake-up and sequential probes, the process-only pre-fill) uses server 0.
 */
import type { Agent } from "./procs.js";
import { log, withAgents } from "./procs.js";
import type { CyclesResult, LatencyResult, LoopStats, ProducerResult, Role, Target } from "./protocol.js";

export interface Settings {
  readonly batch: number;
  readonly inflight: number;
  readonly workers: number;
  readonly width: number;
  readonly waitSeconds: number;
  readonly wakeSeconds: number;
  readonly wakeWarmupSeconds: number;
  readonly seqCount: number;
  readonly seqWarmup: number;
  readonly stallMs: number;
}

/** One measurement: `value` is the figure reported (per second, or ms for latencies). */
export interface Sample {
  readonly value: number;
  readonly [k: string]: unknown;
}

const QUEUE = "bench";

/** The servers of the system under test, in order (at least one). */
export type Targets = readonly [Target, ...Target[]];

/** The server the i-th client process of its kind talks to: round-robin over the targets. */
export function targetFor(targets: Targets, i: number): Target {
  return targets[i % targets.length] as Target;
}

/** Resolves when `get()` reaches `target`; rejects when it has not moved for `stallMs` or an agent fails. */
async function until(get: () => number, target: number, stallMs: number, agents: Agent[], what: string): Promise<number> {
  let last = -1;
  let lastMove = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const reached = new Promise<number>((resolve, reject) => {
    const check = () => {
      const now = performance.now();
      const v = get();
      if (v >= target) return resolve(now);
      if (v !== last) {
        last = v;
        lastMove = now;
      } else if (now - lastMove > stallMs) {
        return reject(new Error(`${what}: stuck at ${v} / ${target} for ${stallMs / 1000} s`));
      }
      timer = setTimeout(check, 1);
    };
    check();
  });
  try {
    return await Promise.race([reached, ...agents.map((a) => a.failed)]);
  } finally {
    clearTimeout(timer);
  }
}

function sum(xs: LoopStats[], k: keyof LoopStats): number {
  return xs.reduce((a, s) => a + s[k], 0);
}

function workerRole(target: Target, s: Settings): Role {
  return { role: "worker", target, queue: QUEUE, width: s.width, waitSeconds: s.waitSeconds };
}

function producerRole(target: Target, total: number, s: Settings, progress = false): Role {
  return { role: "producer", target, queue: QUEUE, total, batch: s.batch, inflight: s.inflight, progress };
}

/** Workers and counting, started with `go`; resolves with the time the count reached n. */
async function runWorkers(workers: Agent[], n: number, s: Settings, what: string, t0: () => number): Promise<{ ms: number; stats: LoopStats[] }> {
  let done = 0;
  for (const w of workers) w.counts((k) => (done += k));
  const t1 = await until(() => done, n, s.stallMs, workers, what);
  const ms = t1 - t0();
  const stats = (await Promise.all(workers.map((w) => w.stop()))) as LoopStats[];
  return { ms, stats };
}

/** N submitted in batches while the workers lease and complete; first submit → last completion. */
export function endToEnd(targets: Targets, n: number, s: Settings): Promise<Sample> {
  return withAgents(async (spawn) => {
    const workers = Array.from({ length: s.workers }, (_, j) => spawn(workerRole(targetFor(targets, j), s)));
    const producer = spawn(producerRole(targetFor(targets, 0), n, s));
    await Promise.all([...workers, producer].map((a) => a.ready));
    for (const w of workers) w.go();
    let t0 = 0;
    const done = runWorkers(workers, n, s, "end to end", () => t0);
    t0 = performance.now();
    producer.go();
    const { ms, stats } = await done;
    const p = (await producer.result) as ProducerResult;
    return { value: n / (ms / 1000), ms, submitMs: p.ms, processed: sum(stats, "processed"), errors: sum(stats, "errors"), leaseCalls: sum(stats, "calls"), refused: p.refused + sum(stats, "refused") };
  });
}

/** N batched submits, no worker: tasks/s, timed by the producer. */
export function submitOnly(targets: Targets, n: number, s: Settings): Promise<Sample> {
  return withAgents(async (spawn) => {
    const producer = spawn(producerRole(targetFor(targets, 0), n, s));
    await producer.ready;
    producer.go();
    const p = (await Promise.race([producer.result, producer.failed])) as ProducerResult;
    return { value: n / (p.ms / 1000), ms: p.ms, refused: p.refused };
  });
}

/** Submits `total` tasks from `procs` producer processes (not timed; producer i to server i % N); logs progress. */
export function prefill(targets: Targets, total: number, s: Settings, procs: number, label: string): Promise<number> {
  return withAgents(async (spawn) => {
    const per = Math.ceil(total / procs);
    const producers = Array.from({ length: procs }, (_, i) => spawn(producerRole(targetFor(targets, i), Math.min(per, total - i * per), { ...s, batch: 1_000 }, true)));
    await Promise.all(producers.map((p) => p.ready));
    let done = 0;
    for (const p of producers) p.counts((k) => (done += k));
    const t0 = performance.now();
    const progress = setInterval(() => log(`  ${label}: ${done.toLocaleString("en-US")} / ${total.toLocaleString("en-US")} (${Math.round(done / ((performance.now() - t0) / 1000))}/s)`), 10_000);
    try {
      for (const p of producers) p.go();
      await Promise.all(producers.map((p) => Promise.race([p.result, p.failed])));
    } finally {
      clearInterval(progress);
    }
    const ms = performance.now() - t0;
    if (total >= 50_000) log(`  ${label}: ${total.toLocaleString("en-US")} in ${(ms / 1000).toFixed(1)} s = ${Math.round(total / (ms / 1000))}/s`);
    return ms;
  });
}

/** A pre-filled backlog of N (not timed), then the workers: worker start → last completion. */
export async function processOnly(targets: Targets, n: number, s: Settings): Promise<Sample> {
  const prefillMs = await prefill(targets, n, { ...s, inflight: s.inflight }, 1, "process-only backlog");
  return withAgents(async (spawn) => {
    const workers = Array.from({ length: s.workers }, (_, j) => spawn(workerRole(targetFor(targets, j), s)));
    await Promise.all(workers.map((w) => w.ready));
    let t0 = 0;
    const done = runWorkers(workers, n, s, "process only", () => t0);
    t0 = performance.now();
    for (const w of workers) w.go();
    const { ms, stats } = await done;
    return { value: n / (ms / 1000), ms, prefillMs, processed: sum(stats, "processed"), errors: sum(stats, "errors"), leaseCalls: sum(stats, "calls"), refused: sum(stats, "refused") };
  });
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

function latencySample(r: LatencyResult, extra: Record<string, unknown>): Sample {
  return { value: percentile(r.samples, 50), p50: percentile(r.samples, 50), p99: percentile(r.samples, 99), n: r.samples.length, missing: r.missing, refused: r.refused, ...extra, samples: r.samples };
}

/** One waiting worker; single submits at `rate`/s from the same process: sent → run received. */
export function wakeup(targets: Targets, rate: number, s: Settings): Promise<Sample> {
  return withAgents(async (spawn) => {
    const a = spawn({ role: "wakeup", target: targets[0], queue: QUEUE, rate, seconds: s.wakeSeconds, warmupSeconds: s.wakeWarmupSeconds, width: s.width });
    await a.ready;
    a.go();
    const r = (await Promise.race([a.result, a.failed])) as LatencyResult;
    return latencySample(r, { rate });
  });
}

/** One client awaiting each single submit. */
export function sequential(targets: Targets, s: Settings): Promise<Sample> {
  return withAgents(async (spawn) => {
    const a = spawn({ role: "sequential", target: targets[0], queue: QUEUE, count: s.seqCount, warmup: s.seqWarmup });
    await a.ready;
    a.go();
    const r = (await Promise.race([a.result, a.failed])) as LatencyResult;
    const total = r.samples.reduce((x, y) => x + y, 0);
    return latencySample(r, { perSecond: r.samples.length / (total / 1000) });
  });
}

/** ActionQueue only: `runs` runs by one process doing LeaseRuns(maxRuns) + BatchCompleteAttempts cycles. */
export function cycles(url: string, runs: number, maxRuns: number): Promise<Sample> {
  return withAgents(async (spawn) => {
    const a = spawn({ role: "cycles", url, queue: QUEUE, runs, maxRuns });
    await a.ready;
    a.go();
    const r = (await Promise.race([a.result, a.failed])) as CyclesResult;
    return { value: r.runs / (r.ms / 1000), cyclesPerSecond: r.cycles / (r.ms / 1000), ...r };
  });
}

/** ActionQueue only: W watchers on the queue, then M submitted tasks (one event each): events/s received in total. */
export function watchFanOut(url: string, watchers: number, tasks: number, maxEventsPerMessage: number, s: Settings): Promise<Sample> {
  return withAgents(async (spawn) => {
    const w = spawn({ role: "watchers", url, queue: QUEUE, watchers, connections: 4, maxEventsPerMessage });
    const target: Target = { system: "aq", url };
    const producer = spawn(producerRole(target, tasks, s));
    await Promise.all([w.ready, producer.ready]);
    w.go();
    let events = 0;
    w.counts((k) => (events += k));
    const t0 = performance.now();
    producer.go();
    const t1 = await until(() => events, watchers * tasks, s.stallMs, [w, producer], "watch fan-out");
    const p = (await producer.result) as ProducerResult;
    const stats = (await w.stop()) as LoopStats;
    const ms = t1 - t0;
    return { value: (watchers * tasks) / (ms / 1000), ms, events: stats.processed, watchers, tasks, submitMs: p.ms, maxEventsPerMessage };
  });
}
