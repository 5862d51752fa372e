/**
 * Prometheus metrics (prom-client), one registry per server: what `GET /metrics` answers on
 * the main port and on --metrics-listen (docs/operations.md, "Metrics").
 *
 * Three kinds of source, chosen by what each costs on the hot path (issue 9):
 *  - read at scrape time, nothing kept in between: runs by queue and state, tasks and storage
 *    bytes (the engine's stats, the numbers GetStats returns), long polls and watch streams
 *    (the server's gauges), requests shed (the admission counters), the engine's command queue;
 *  - counted in plain arrays as things happen and handed to prom-client only at scrape time:
 *    run transitions and creations (per queue, an array by state index) and RPCs by method
 *    and code (per method, an array by code) — an increment is an array write, not
 *    prom-client's label hashing;
 *  - observed into prom-client histograms with label objects built once per queue, outcome or
 *    method: lease wait, attempt duration, commit latency and batch size, RPC duration.
 *
 * Cardinality: no run, task, attempt or lease id is ever a label. Labels are the queue name
 * (as many as the operator's queues — theirs to bound), the run state (9), the attempt outcome,
 * the admission class and limit, and the RPC service, method (fixed by the descriptors) and
 * code (17).
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Engine, EngineObserver } from "../../engine/engine.js";
import { ADMISSION_CLASSES, type Admission } from "../admission.js";

/** The run states, in the order the transition arrays index them. */
const STATES = ["SCHEDULED", "READY", "LEASED", "RUNNING", "RETRY_WAIT", "SUSPENDED", "COMPLETED", "FAILED", "CANCELED"] as const;
const STATE_INDEX: ReadonlyMap<string, number> = new Map(STATES.map((s, i) => [s, i]));
const N = STATES.length;

/** The gRPC code of a call that succeeded (connect-es's Code enum has no member for it). */
export const RPC_OK = 0;

/** gRPC code names as the gRPC spec spells them (OK, INVALID_ARGUMENT, …), by code number. */
const CODE_NAMES: readonly string[] = Array.from({ length: 17 }, (_, c) => (c === RPC_OK ? "OK" : (Code[c] ?? String(c))).replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase());

/** Seconds buckets from 1 ms to 5 min: lease waits and attempts range from instant to minutes. */
const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Seconds buckets for a commit (an fsync: sub-millisecond to a stalled disk). */
const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Seconds buckets for an RPC (long polls wait up to their `wait`). */
const RPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Batch sizes: commands (at most --max-batch, 1,000) and verbs. */
const SIZE_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

interface QueueCounts {
  /** created[to]: runs created in a state. */
  readonly created: Float64Array;
  /** moved[from * N + to]: transitions. */
  readonly moved: Float64Array;
  readonly leaseWait: { readonly queue: string };
  /** Label objects of the attempt histogram, by outcome. */
  readonly attempt: Map<string, { readonly queue: string; readonly outcome: string }>;
}

interface RpcEntry {
  readonly labels: { readonly service: string; readonly method: string };
  /** Calls by gRPC code. */
  readonly byCode: Float64Array;
}

/** What the server's scrape-time sources are. */
export interface ServerSources {
  readonly engine: Engine;
  /** Long polls waiting and watch streams open (the server's ServiceContext gauges). */
  readonly gauges: { readonly longPolls: number; readonly watches: number };
  readonly admission: Admission;
}

/** The server's metrics: a prom-client registry and the hooks that feed it. */
export class Metrics {
  readonly registry = new Registry();
  readonly #queues = new Map<string, QueueCounts>();
  readonly #rpcs = new Map<DescMethod, RpcEntry>();
  #sources: ServerSources | null = null;
  readonly #leaseWait: Histogram<"queue">;
  readonly #attempt: Histogram<"queue" | "outcome">;
  readonly #commit: Histogram;
  readonly #batchCommands: Histogram;
  readonly #batchVerbs: Histogram;
  readonly #rpcDuration: Histogram<"service" | "method">;

  constructor() {
    const registers = [this.registry];
    // Node's and the process's own: event-loop delay (nodejs_eventloop_lag_*), heap, GC, CPU,
    // file descriptors — the names every Node dashboard expects, so without our prefix.
    collectDefaultMetrics({ register: this.registry });
    const self = this;
    new Gauge({
      name: "actionqueue_runs",
      help: "Runs by queue and state (the counts GetStats returns), read at scrape time.",
      labelNames: ["queue", "state"],
      registers,
      collect() {
        this.reset();
        const stats = self.#stats();
        for (const q of stats?.queues ?? []) for (const s of STATES) this.set({ queue: q.queue.name, state: s }, q.counts[s]);
      },
    });
    new Gauge({
      name: "actionqueue_tasks",
      help: "Tasks stored (every status), read at scrape time.",
      registers,
      collect() {
        const stats = self.#stats();
        if (stats) this.set(stats.tasks);
      },
    });
    new Gauge({
      name: "actionqueue_storage_bytes",
      help: "Bytes of the LMDB pages in use (as GetStats' storage_bytes), read at scrape time.",
      registers,
      collect() {
        const stats = self.#stats();
        if (stats) this.set(stats.storageBytes);
      },
    });
    new Counter({
      name: "actionqueue_runs_created_total",
      help: "Runs created, by queue and the state they were created in (SCHEDULED or READY).",
      labelNames: ["queue", "state"],
      registers,
      collect() {
        this.reset();
        for (const [queue, c] of self.#queues) for (let to = 0; to < N; to++) if (c.created[to]) this.inc({ queue, state: STATES[to] as string }, c.created[to]);
      },
    });
    new Counter({
      name: "actionqueue_run_transitions_total",
      help: "Run state transitions, by queue, from and to state.",
      labelNames: ["queue", "from", "to"],
      registers,
      collect() {
        this.reset();
        for (const [queue, c] of self.#queues) {
          for (let i = 0; i < N * N; i++) if (c.moved[i]) this.inc({ queue, from: STATES[Math.floor(i / N)] as string, to: STATES[i % N] as string }, c.moved[i]);
        }
      },
    });
    this.#leaseWait = new Histogram({ name: "actionqueue_lease_wait_seconds", help: "Time a run waited in READY before it was leased, by queue.", labelNames: ["queue"], buckets: WAIT_BUCKETS, registers });
    this.#attempt = new Histogram({ name: "actionqueue_attempt_duration_seconds", help: "Attempt duration (start to end), by queue and outcome.", labelNames: ["queue", "outcome"], buckets: WAIT_BUCKETS, registers });
    this.#commit = new Histogram({ name: "actionqueue_commit_duration_seconds", help: "Time of one group commit in LMDB, flush included.", buckets: COMMIT_BUCKETS, registers });
    this.#batchCommands = new Histogram({ name: "actionqueue_commit_batch_commands", help: "Engine commands per group commit.", buckets: SIZE_BUCKETS, registers });
    this.#batchVerbs = new Histogram({ name: "actionqueue_commit_batch_verbs", help: "Store writes (verbs) per group commit.", buckets: SIZE_BUCKETS, registers });
    new Gauge({
      name: "actionqueue_commands_queued",
      help: "Engine commands waiting for their batch.",
      registers,
      collect() {
        if (self.#sources) this.set(self.#sources.engine.commandQueue.queued);
      },
    });
    new Gauge({
      name: "actionqueue_long_polls_waiting",
      help: "LeaseRuns calls waiting for runs (long polls).",
      registers,
      collect() {
        if (self.#sources) this.set(self.#sources.gauges.longPolls);
      },
    });
    new Gauge({
      name: "actionqueue_watch_streams",
      help: "WatchRuns streams open.",
      registers,
      collect() {
        if (self.#sources) this.set(self.#sources.gauges.watches);
      },
    });
    new Counter({
      name: "actionqueue_requests_shed_total",
      help: "Calls refused as overload (RESOURCE_EXHAUSTED, OVERLOADED), by admission class (or engine) and the limit that refused them.",
      labelNames: ["class", "limit"],
      registers,
      collect() {
        this.reset();
        const s = self.#sources;
        if (!s) return;
        for (const cls of ADMISSION_CLASSES) {
          const byLoad = s.admission.refusedByLoad(cls);
          this.inc({ class: cls, limit: `max_inflight_${cls}` }, s.admission.refused(cls) - byLoad);
          this.inc({ class: cls, limit: "max_event_loop_utilization" }, byLoad);
        }
        const q = s.engine.commandQueue;
        this.inc({ class: "engine", limit: "max_queued_commands" }, q.refused - q.refusedByDelay);
        this.inc({ class: "engine", limit: "max_queue_delay" }, q.refusedByDelay);
      },
    });
    new Counter({
      name: "actionqueue_commit_conflicts_total",
      help: "Batches decided again because their commit raced another server's (PostgreSQL with --postgres-commits concurrent).",
      registers,
      collect() {
        this.reset();
        if (self.#sources) this.inc(self.#sources.engine.commitConflicts);
      },
    });
    new Counter({
      name: "actionqueue_rpcs_total",
      help: "RPCs handled, by service, method and gRPC code (calls refused before their handler by load shedding are in actionqueue_requests_shed_total).",
      labelNames: ["service", "method", "code"],
      registers,
      collect() {
        this.reset();
        for (const e of self.#rpcs.values()) for (let c = 0; c < e.byCode.length; c++) if (e.byCode[c]) this.inc({ ...e.labels, code: CODE_NAMES[c] as string }, e.byCode[c]);
      },
    });
    this.#rpcDuration = new Histogram({ name: "actionqueue_rpc_duration_seconds", help: "Duration of unary RPCs handled, by service and method.", labelNames: ["service", "method"], buckets: RPC_BUCKETS, registers });
  }

  /** The scrape-time sources of a started server. */
  attach(sources: ServerSources): void {
    this.#sources = sources;
  }

  /** This scrape's read of the engine's stats (undefined: not read yet), kept only while `scrape` runs. */
  #scrapeStats: ReturnType<Engine["stats"]> | null | undefined = undefined;
  #scraping = false;

  /** The engine's stats, or null when there is no engine yet or it is closed; read once per scrape. */
  #stats(): ReturnType<Engine["stats"]> | null {
    if (this.#scrapeStats !== undefined) return this.#scrapeStats;
    let stats: ReturnType<Engine["stats"]> | null;
    try {
      stats = this.#sources?.engine.stats([], { oldestReady: false }) ?? null;
    } catch {
      stats = null;
    }
    if (this.#scraping) this.#scrapeStats = stats;
    return stats;
  }

  #queue(queue: string): QueueCounts {
    let c = this.#queues.get(queue);
    if (!c) {
      c = { created: new Float64Array(N), moved: new Float64Array(N * N), leaseWait: { queue }, attempt: new Map() };
      this.#queues.set(queue, c);
    }
    return c;
  }

  /** The engine's observer port (EngineOptions.observer). */
  readonly engineObserver: EngineObserver = {
    commit: (commands, verbs, ms) => {
      this.#commit.observe(ms / 1000);
      this.#batchCommands.observe(commands);
      this.#batchVerbs.observe(verbs);
    },
    created: (queue, state) => {
      const i = STATE_INDEX.get(state);
      if (i !== undefined) this.#queue(queue).created[i]! += 1;
    },
    transition: (queue, from, to) => {
      const f = STATE_INDEX.get(from);
      const t = STATE_INDEX.get(to);
      if (f !== undefined && t !== undefined) this.#queue(queue).moved[f * N + t]! += 1;
    },
    leased: (queue, ms) => {
      this.#leaseWait.observe(this.#queue(queue).leaseWait, ms / 1000);
    },
    attemptEnded: (queue, outcome, ms) => {
      const byOutcome = this.#queue(queue).attempt;
      let labels = byOutcome.get(outcome);
      if (!labels) byOutcome.set(outcome, (labels = { queue, outcome }));
      this.#attempt.observe(labels, ms / 1000);
    },
  };

  /**
   * Records one RPC handled: `method` from the descriptors, its gRPC code (RPC_OK: success), and for a unary
   * call its duration in seconds (streams: undefined — a watch lasts as long as its client).
   */
  rpc(method: DescMethod, code: number, seconds: number | undefined): void {
    let e = this.#rpcs.get(method);
    if (!e) {
      e = { labels: { service: method.parent.typeName, method: method.name }, byCode: new Float64Array(CODE_NAMES.length) };
      this.#rpcs.set(method, e);
    }
    if (code >= 0 && code < e.byCode.length) e.byCode[code]! += 1;
    if (seconds !== undefined) this.#rpcDuration.observe(e.labels, seconds);
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    // One read of the engine's stats serves the three gauges built on it.
    this.#scraping = true;
    try {
      return { contentType: this.registry.contentType, body: await this.registry.metrics() };
    } finally {
      this.#scraping = false;
      this.#scrapeStats = undefined;
    }
  }
}
