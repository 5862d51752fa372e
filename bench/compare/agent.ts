/**
 * A client process of `npm run bench:compare` (forked by the coordinator with
 * `--import tsx`): producers, workers, the wake-up and sequential-submit probes, and the
 * ActionQueue-only cycle and watch loads. Talks to the coordinator over IPC (`protocol.ts`)
 * and exits when its job is done or the coordinator goes away.
 */
import { setMaxListeners } from "node:events";
import { aqClients, createDriver, Retrier, sleep, type Consumer } from "./drivers.js";
import type { CyclesResult, FromAgent, LatencyResult, LoopStats, ProducerResult, Role, ToAgent, WatchersRole } from "./protocol.js";
import { AttemptOutcome } from "../../clients/typescript/src/index.js";

interface Job {
  go(): Promise<unknown>;
  stop?: () => Promise<unknown>;
}

function send(m: FromAgent): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) throw new Error("agent.ts must be forked with an IPC channel");
    process.send(m, undefined, undefined, () => resolve());
  });
}

/** Coalesces progress counts into at most one IPC message every 5 ms. */
function counter(): (n: number) => void {
  let pending = 0;
  let timer: NodeJS.Timeout | null = null;
  return (n: number) => {
    pending += n;
    timer ??= setTimeout(() => {
      timer = null;
      const k = pending;
      pending = 0;
      void send({ type: "count", n: k });
    }, 5);
  };
}

async function prepare(role: Role, count: (n: number) => void): Promise<Job> {
  switch (role.role) {
    case "producer": {
      const d = createDriver(role.target);
      await d.connect();
      return {
        go: async (): Promise<ProducerResult> => {
          let next = 0;
          const t0 = performance.now();
          const lane = async () => {
            while (next < role.total) {
              const first = next;
              const n = Math.min(role.batch, role.total - first);
              next += n;
              await d.submitBatch(role.queue, first, n);
              if (role.progress) count(n);
            }
          };
          await Promise.all(Array.from({ length: role.inflight }, lane));
          const ms = performance.now() - t0;
          await d.close();
          return { submitted: role.total, ms, refused: d.refused };
        },
      };
    }
    case "worker": {
      const d = createDriver(role.target);
      const consumer = await d.consumer(role.queue, role.width, role.waitSeconds, { onDone: count });
      return { go: async () => consumer.start(), stop: () => consumer.stop() };
    }
    case "wakeup": {
      const d = createDriver(role.target);
      await d.connect();
      const total = Math.round(role.rate * role.seconds);
      const sent = new Float64Array(total);
      const received = new Float64Array(total);
      let got = 0;
      let done: () => void = () => undefined;
      const all = new Promise<void>((r) => (done = r));
      const consumer: Consumer = await d.consumer(role.queue, role.width, 10, {
        maxPendingCompletions: 64,
        onRun: (seq, at) => {
          if (seq >= 0 && seq < total && received[seq] === 0) {
            received[seq] = at;
            if (++got === total) done();
          }
        },
      });
      consumer.start();
      await sleep(200); // the worker is waiting (long poll / blocking pop) before we start
      return {
        go: async (): Promise<LatencyResult> => {
          const t0 = performance.now();
          const inFlight = new Set<Promise<void>>();
          for (let i = 0; i < total; i++) {
            const due = t0 + (i * 1000) / role.rate;
            const wait = due - performance.now();
            if (wait > 0.5) await sleep(wait);
            sent[i] = performance.now();
            const p = d.submitOne(role.queue, i).finally(() => inFlight.delete(p));
            inFlight.add(p);
            if (inFlight.size >= 256) await Promise.race(inFlight);
          }
          await Promise.all(inFlight);
          await Promise.race([all, sleep(15_000)]);
          await consumer.stop();
          await d.close();
          const skip = Math.round(role.rate * role.warmupSeconds);
          const samples: number[] = [];
          let missing = 0;
          for (let i = skip; i < total; i++) {
            if (received[i] === 0) missing++;
            else samples.push(Math.round(((received[i] as number) - (sent[i] as number)) * 1000) / 1000);
          }
          return { samples, missing, refused: d.refused };
        },
      };
    }
    case "sequential": {
      const d = createDriver(role.target);
      await d.connect();
      return {
        go: async (): Promise<LatencyResult> => {
          const samples: number[] = [];
          for (let i = 0; i < role.warmup + role.count; i++) {
            const t0 = performance.now();
            await d.submitOne(role.queue, i);
            if (i >= role.warmup) samples.push(Math.round((performance.now() - t0) * 1000) / 1000);
          }
          await d.close();
          return { samples, missing: 0, refused: d.refused };
        },
      };
    }
    case "cycles": {
      const c = aqClients(role.url);
      const r = new Retrier();
      await c.runs.listRuns({ queue: "bench-connect", pageSize: 1 });
      return {
        go: async (): Promise<CyclesResult> => {
          let runs = 0;
          let cycles = 0;
          let errors = 0;
          const t0 = performance.now();
          while (runs < role.runs) {
            const maxRuns = Math.min(role.maxRuns, role.runs - runs);
            const lease = await r.call(() => c.workers.leaseRuns({ queues: [role.queue], workerId: "bench-cycles", maxRuns, startAttempt: true }));
            if (lease.runs.length === 0) throw new Error(`the backlog ran dry after ${runs} runs`);
            const completions = lease.runs.map((lr) => ({ runId: lr.run?.id ?? "", leaseToken: lr.leaseToken, attemptId: lr.attempt?.id ?? "", outcome: AttemptOutcome.SUCCESS }));
            const res = await r.call(() => c.workers.batchCompleteAttempts({ completions }));
            for (const item of res.results) if (item.result.case !== "ok") errors++;
            runs += lease.runs.length;
            cycles++;
          }
          return { runs, cycles, ms: performance.now() - t0, errors, refused: r.refused };
        },
      };
    }
    case "watchers":
      return watchers(role, count);
  }
}

/** W WatchRuns streams, ready once each has received its first message (progress every 100 ms). */
async function watchers(role: WatchersRole, count: (n: number) => void): Promise<Job> {
  const conns = Array.from({ length: role.connections }, () => aqClients(role.url));
  const abort = new AbortController();
  setMaxListeners(role.watchers + 10, abort.signal);
  let opened = 0;
  let events = 0;
  let allOpen: () => void = () => undefined;
  const ready = new Promise<void>((r) => (allOpen = r));
  const streams = Array.from({ length: role.watchers }, async (_, i) => {
    const c = conns[i % conns.length];
    if (!c) return;
    let first = true;
    try {
      for await (const m of c.runs.watchRuns({ queues: [role.queue], progressIntervalMs: 100, maxEventsPerMessage: role.maxEventsPerMessage }, { signal: abort.signal })) {
        if (first) {
          first = false;
          if (++opened === role.watchers) allOpen();
        }
        const n = m.kind.case === "event" ? 1 : m.kind.case === "events" ? m.kind.value.events.length : 0;
        if (n > 0) {
          events += n;
          count(n);
        }
      }
    } catch (e) {
      if (!abort.signal.aborted) throw e;
    }
  });
  const failed = Promise.all(streams).then(() => {
    if (!abort.signal.aborted) throw new Error("a watch stream ended early");
  });
  await Promise.race([ready, failed]);
  return {
    go: async () => undefined,
    stop: async (): Promise<LoopStats> => {
      abort.abort();
      await failed.catch(() => undefined);
      return { processed: events, errors: 0, refused: 0, calls: role.watchers };
    },
  };
}

async function main(): Promise<void> {
  process.on("disconnect", () => process.exit(0)); // the coordinator went away
  const inbox: ToAgent[] = [];
  const waiters: ((m: ToAgent) => void)[] = [];
  process.on("message", (m: ToAgent) => {
    const w = waiters.shift();
    if (w) w(m);
    else inbox.push(m);
  });
  const next = (): Promise<ToAgent> => {
    const m = inbox.shift();
    return m ? Promise.resolve(m) : new Promise((r) => waiters.push(r));
  };
  const init = await next();
  if (init.kind !== "init") throw new Error(`expected init, got ${init.kind}`);
  const job = await prepare(init.role, counter());
  await send({ type: "ready" });
  if ((await next()).kind !== "go") throw new Error("expected go");
  await send({ type: "result", data: await job.go() });
  if (job.stop) {
    while ((await next()).kind !== "stop");
    const data = await job.stop();
    await sleep(10); // the last count message goes out before `stopped`
    await send({ type: "stopped", data });
  }
  process.disconnect();
  process.exit(0);
}

main().catch(async (e: unknown) => {
  await send({ type: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) }).catch(() => undefined);
  process.exit(1);
});
