/**
 * The two systems behind one small interface, used by the client processes (`agent.ts`):
 * submit a batch, submit one, and run a consumer.
 *
 * ActionQueue: BatchSubmitTasks / SubmitTask; the consumer is one LeaseRuns loop
 * (max_runs = width, start_attempt, long poll `wait`) whose batch is completed with one
 * BatchCompleteAttempts (ATTEMPT_OUTCOME_SUCCESS, echoing run_id, lease_token and attempt_id
 * of each leased run). The next LeaseRuns is sent while that completion is in flight (at
 * most one completion outstanding; the wake-up probe allows more, so a slow commit never
 * delays its next long poll), so a throughput worker holds at most 2 × width runs —
 * BullMQ's worker below keeps up to `concurrency` jobs in flight the same way.
 *
 * BullMQ: Queue.addBulk / Queue.add with default job options (completed jobs are kept, as
 * ActionQueue keeps completed runs); the consumer is a Worker with a no-op processor and
 * `concurrency` = width (256 by default, mirroring ActionQueue's lease batch of 256), other
 * options at their defaults. Calls refused by ActionQueue's load shedding
 * (RESOURCE_EXHAUSTED) are retried after a few milliseconds and counted.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Queue, Worker } from "bullmq";
import { AttemptOutcome, createActionQueueClients, type ActionQueueClients, type LeasedRun } from "../../clients/typescript/src/index.js";
import { Health } from "../../clients/typescript/src/gen/grpc/health/v1/health_pb.js";
import { aqPayload, aqSeq, bullPayload, bullSeq, type LoopStats, type Target } from "./protocol.js";

export interface ConsumerHooks {
  /** Called as each run/job reaches the worker, with performance.now(). */
  readonly onRun?: (seq: number, at: number) => void;
  /** Called with the number of runs/jobs whose completion was acknowledged. */
  readonly onDone?: (n: number) => void;
  /** AQ: completions in flight before the loop waits for one before leasing again (default 1). */
  readonly maxPendingCompletions?: number;
}

export interface Consumer {
  start(): void;
  stop(): Promise<LoopStats>;
}

export interface Driver {
  readonly refused: number;
  /** Opens the connection(s). */
  connect(): Promise<void>;
  submitBatch(queue: string, firstSeq: number, n: number): Promise<void>;
  submitOne(queue: string, seq: number): Promise<void>;
  consumer(queue: string, width: number, waitSeconds: number, hooks: ConsumerHooks): Promise<Consumer>;
  close(): Promise<void>;
}

/** A consumer loop failed: the client process ends (the coordinator sees it exit). */
function fatal(what: string, e: unknown): never {
  process.stderr.write(`${what} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function createDriver(target: Target): Driver {
  return target.system === "aq" ? new AqDriver(target.url) : new BullDriver(target.host, target.port);
}

export function aqClients(url: string): ActionQueueClients {
  return createActionQueueClients(createGrpcTransport({ baseUrl: url }));
}

export async function aqHealthy(url: string): Promise<void> {
  await createClient(Health, createGrpcTransport({ baseUrl: url })).check({});
}

/** Retries calls refused with RESOURCE_EXHAUSTED (ActionQueue load shedding); counts them. */
export class Retrier {
  refused = 0;
  async call<T>(f: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await f();
      } catch (e) {
        if (!(e instanceof ConnectError && e.code === Code.ResourceExhausted)) throw e;
        this.refused++;
        await sleep(2 + Math.random() * 8);
      }
    }
  }
}

const CONTENT_TYPE = "application/octet-stream";

class AqDriver implements Driver {
  private readonly c: ActionQueueClients;
  private readonly r = new Retrier();
  constructor(private readonly url: string) {
    this.c = aqClients(url);
  }
  get refused(): number {
    return this.r.refused;
  }
  async connect(): Promise<void> {
    await this.c.runs.listRuns({ queue: "bench-connect", pageSize: 1 });
  }
  async submitBatch(queue: string, firstSeq: number, n: number): Promise<void> {
    const tasks = Array.from({ length: n }, (_, i) => ({ spec: { queue, payload: { data: aqPayload(firstSeq + i), contentType: CONTENT_TYPE } } }));
    await this.r.call(() => this.c.tasks.batchSubmitTasks({ tasks }));
  }
  async submitOne(queue: string, seq: number): Promise<void> {
    await this.r.call(() => this.c.tasks.submitTask({ spec: { queue, payload: { data: aqPayload(seq), contentType: CONTENT_TYPE } } }));
  }
  async consumer(queue: string, width: number, waitSeconds: number, hooks: ConsumerHooks): Promise<Consumer> {
    // Its own connection, as a worker would have.
    const c = aqClients(this.url);
    await c.runs.listRuns({ queue: "bench-connect", pageSize: 1 });
    const r = this.r;
    const abort = new AbortController();
    const stats = { processed: 0, errors: 0, calls: 0 };
    let stopped = false;
    let loop: Promise<void> = Promise.resolve();
    const complete = async (runs: LeasedRun[]): Promise<void> => {
      const completions = runs.map((lr) => ({ runId: lr.run?.id ?? "", leaseToken: lr.leaseToken, attemptId: lr.attempt?.id ?? "", outcome: AttemptOutcome.SUCCESS }));
      const res = await r.call(() => c.workers.batchCompleteAttempts({ completions }));
      let ok = 0;
      for (const item of res.results) {
        if (item.result.case === "ok") ok++;
        else stats.errors++;
      }
      stats.processed += ok;
      hooks.onDone?.(ok);
    };
    const limit = hooks.maxPendingCompletions ?? 1;
    const run = async (): Promise<void> => {
      const pending = new Set<Promise<void>>();
      const wait = { seconds: BigInt(Math.floor(waitSeconds)), nanos: Math.round((waitSeconds % 1) * 1e9) };
      while (!stopped) {
        let runs: LeasedRun[];
        try {
          const res = await r.call(() => c.workers.leaseRuns({ queues: [queue], workerId: `bench-${process.pid}`, maxRuns: width, wait, startAttempt: true }, { signal: abort.signal }));
          runs = res.runs;
        } catch (e) {
          if (stopped) break;
          throw e;
        }
        stats.calls++;
        if (runs.length === 0) continue;
        if (hooks.onRun) {
          const at = performance.now();
          for (const lr of runs) hooks.onRun(aqSeq(lr.task?.spec?.payload?.data ?? new Uint8Array(16)), at);
        }
        while (pending.size >= limit) await Promise.race(pending);
        const p: Promise<void> = complete(runs).finally(() => pending.delete(p));
        pending.add(p);
      }
      await Promise.all(pending);
    };
    return {
      start: () => {
        loop = run();
        loop.catch((e: unknown) => fatal("ActionQueue worker loop", e));
      },
      stop: async () => {
        stopped = true;
        abort.abort();
        await loop;
        return { ...stats, refused: r.refused };
      },
    };
  }
  async close(): Promise<void> {
    // Connect transports hold no resources a process exit does not release.
  }
}

class BullDriver implements Driver {
  readonly refused = 0;
  private readonly connection: { host: string; port: number };
  private queues = new Map<string, Queue>();
  constructor(host: string, port: number) {
    this.connection = { host, port };
  }
  private queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection });
      this.queues.set(name, q);
    }
    return q;
  }
  async connect(): Promise<void> {
    await this.queue("bench-connect").waitUntilReady();
  }
  async submitBatch(queue: string, firstSeq: number, n: number): Promise<void> {
    await this.queue(queue).addBulk(Array.from({ length: n }, (_, i) => ({ name: "t", data: bullPayload(firstSeq + i) })));
  }
  async submitOne(queue: string, seq: number): Promise<void> {
    await this.queue(queue).add("t", bullPayload(seq));
  }
  async consumer(queue: string, width: number, _waitSeconds: number, hooks: ConsumerHooks): Promise<Consumer> {
    const onRun = hooks.onRun;
    const stats = { processed: 0, errors: 0, calls: 0 };
    // The processor does nothing (but note when the job arrived, for the wake-up latency).
    const worker = new Worker(queue, onRun ? async (job) => onRun(bullSeq(job.data), performance.now()) : async () => undefined, {
      connection: this.connection,
      concurrency: width,
      autorun: false,
    });
    worker.on("completed", () => {
      stats.processed++;
      hooks.onDone?.(1);
    });
    worker.on("failed", () => stats.errors++);
    worker.on("error", (e) => process.stderr.write(`[bullmq worker] ${String(e)}\n`));
    await worker.waitUntilReady();
    let running: Promise<void> = Promise.resolve();
    return {
      start: () => {
        running = worker.run();
        running.catch((e: unknown) => fatal("BullMQ worker", e));
      },
      stop: async () => {
        await worker.close();
        await running.catch(() => undefined);
        return { ...stats, refused: 0 };
      },
    };
  }
  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
