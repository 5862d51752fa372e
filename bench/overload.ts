/**
 * Overload benchmark (`npm run bench:overload`, not part of `npm run bench`: about a minute).
 *
 * An open-loop load generator against a real server process: at each offered rate, calls go
 * out on a fixed schedule whatever the server answers (half SubmitTask, half GetStats, each
 * with a 2 s deadline, over several HTTP/2 connections, sent with raw HTTP/2 and pre-encoded
 * messages so the generator stays cheap), for a few seconds. Measured per rate:
 *
 *   goodput      successful SubmitTask calls per second of load
 *   p50 / p99    latency of the successful submits
 *   exhausted    calls refused with RESOURCE_EXHAUSTED (and how many said OVERLOADED)
 *   deadline     calls that ended DEADLINE_EXCEEDED (the client gave up)
 *   health       grpc.health.v1.Health/Check latency during the load (one probe every 100 ms,
 *                on its own connection, 2 s deadline; failures counted)
 *   recovery     after the load stops, probes (SubmitTask, one every 20 ms, own connection):
 *                time from the end of the load to the answer of the first probe that
 *                succeeded in under 100 ms
 *
 * Every rate gets a fresh server and data directory, so GetStats and the store start from the
 * same state. The generator runs in this process and competes for the CPU with the server.
 *
 * Environment: OVERLOAD_RATES (default 200,500,1000,2000,4000), OVERLOAD_SECONDS (5),
 * OVERLOAD_DEADLINE_MS (2000), OVERLOAD_CONNECTIONS (4), OVERLOAD_ROOT (the checkout whose
 * src/main.ts is started; default this one, used to measure a baseline from a worktree),
 * OVERLOAD_SERVER_ARGS (extra server flags, space-separated), OVERLOAD_JSON=1 (one JSON line
 * per rate instead of the table).
 */
import http2 from "node:http2";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { type ActionQueueClients, SubmitTaskRequestSchema, createActionQueueClients } from "../clients/typescript/src/index.js";
import { Health } from "../src/gen/grpc/health/v1/health_pb.js";
import { type BenchServer, startBenchServer } from "./support/server.js";

const RATES = (process.env.OVERLOAD_RATES ?? "200,500,1000,2000,4000").split(",").map(Number);
const SECONDS = Number(process.env.OVERLOAD_SECONDS ?? "5");
const DEADLINE_MS = Number(process.env.OVERLOAD_DEADLINE_MS ?? "2000");
const CONNECTIONS = Number(process.env.OVERLOAD_CONNECTIONS ?? "4");
const ROOT = process.env.OVERLOAD_ROOT ?? join(import.meta.dirname, "..");
const SERVER_ARGS = (process.env.OVERLOAD_SERVER_ARGS ?? "").split(" ").filter((s) => s !== "");
const NODE_ARGS = (process.env.OVERLOAD_NODE_ARGS ?? "").split(" ").filter((s) => s !== "");
const JSON_OUT = process.env.OVERLOAD_JSON === "1";
const RECOVERED_UNDER_MS = 100;
const RECOVERY_CAP_MS = 30_000;

function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startServer(): Promise<BenchServer> {
  return startBenchServer({ root: ROOT, nodeArgs: NODE_ARGS, serverArgs: SERVER_ARGS, dirPrefix: "aq-bench-overload-" });
}

interface Outcome {
  readonly kind: "submit" | "stats";
  readonly ms: number;
  /** 0: OK; a gRPC code; -1: the stream or connection failed without a status. */
  readonly code: number;
  readonly overloaded: boolean;
}

/** A gRPC message in its 5-byte envelope. */
function envelope(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.byteLength);
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
}

/**
 * The load's client: raw HTTP/2 with pre-encoded requests, far cheaper per call than a full
 * client, so that on a small machine the generator is not the bottleneck. A call's deadline
 * goes out as grpc-timeout and is enforced here too: past it the stream is cancelled
 * (RST_STREAM CANCEL, as gRPC clients do) and the call counts as DEADLINE_EXCEEDED.
 */
class RawLoad {
  readonly #sessions: http2.ClientHttp2Session[];
  #closed = false;
  readonly #open = new Map<number, { stream: http2.ClientHttp2Stream; due: number; done: (code: number, overloaded: boolean) => void }>();
  #next = 0;
  readonly #sweep: NodeJS.Timeout;

  /** GOAWAY frames received, by error code (a real client reconnects; so does this one). */
  readonly goaways = new Map<number, number>();

  constructor(url: string, connections: number) {
    const open = (i: number): http2.ClientHttp2Session => {
      const s = http2.connect(url);
      s.on("error", () => undefined);
      s.on("goaway", (code: number) => this.goaways.set(code, (this.goaways.get(code) ?? 0) + 1));
      s.on("close", () => {
        if (!this.#closed) this.#sessions[i] = open(i);
      });
      return s;
    };
    this.#sessions = Array.from({ length: connections }, (_, i) => open(i));
    this.#sweep = setInterval(() => {
      const now = performance.now();
      for (const [id, c] of this.#open) {
        if (c.due > now) break; // insertion order is deadline order (one deadline for all)
        this.#open.delete(id);
        c.stream.close(http2.constants.NGHTTP2_CANCEL);
        c.done(Code.DeadlineExceeded, false);
      }
    }, 10);
  }

  call(i: number, path: string, body: Buffer, deadlineMs: number): Promise<{ code: number; overloaded: boolean }> {
    return new Promise((resolve) => {
      const id = this.#next++;
      let settled = false;
      const done = (code: number, overloaded: boolean) => {
        if (settled) return;
        settled = true;
        this.#open.delete(id);
        resolve({ code, overloaded });
      };
      const session = this.#sessions[i % this.#sessions.length] as http2.ClientHttp2Session;
      let stream: http2.ClientHttp2Stream;
      try {
        if (session.closed || session.destroyed) {
        done(-1, false);
        return;
      }
      stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", "grpc-timeout": `${deadlineMs}m` });
      } catch {
        done(-1, false);
        return;
      }
      this.#open.set(id, { stream, due: performance.now() + deadlineMs, done });
      let status: string | undefined;
      let details = "";
      const take = (h: http2.IncomingHttpHeaders) => {
        if (h["grpc-status"] !== undefined) {
          status = String(h["grpc-status"]);
          details = String(h["grpc-status-details-bin"] ?? "");
        }
      };
      stream.on("response", take);
      stream.on("trailers", take);
      stream.on("data", () => undefined);
      stream.on("error", () => done(-1, false));
      stream.on("close", () => {
        if (status === undefined) return done(-1, false);
        const code = Number(status);
        done(code, code === Code.ResourceExhausted && Buffer.from(details, "base64").includes("OVERLOADED"));
      });
      stream.end(body);
    });
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const s of this.#sessions) s.close();
  }
}

const payload = { data: new TextEncoder().encode('{"hello":"world"}'), contentType: "application/json" };
const SUBMIT_PATH = "/actionqueue.v1.TaskService/SubmitTask";
const STATS_PATH = "/actionqueue.v1.AdminService/GetStats";
const submitBody = envelope(toBinary(SubmitTaskRequestSchema, create(SubmitTaskRequestSchema, { spec: { queue: "load", payload } })));
const statsBody = envelope(new Uint8Array(0));

async function oneRate(rate: number): Promise<Record<string, number>> {
  const server = await startServer();
  try {
    const url = `http://127.0.0.1:${server.port}`;
    const load: ActionQueueClients[] = Array.from({ length: CONNECTIONS }, () => createActionQueueClients(createGrpcTransport({ baseUrl: url })));
    const raw = new RawLoad(url, CONNECTIONS);
    const probeTransport = createGrpcTransport({ baseUrl: url });
    const health = createClient(Health, probeTransport);
    const probe = createActionQueueClients(createGrpcTransport({ baseUrl: url }));
    // Warm up: connections, JIT, the first commits.
    for (let i = 0; i < 100; i++) {
      const c = load[i % load.length] as ActionQueueClients;
      await c.tasks.submitTask({ spec: { queue: "warm", payload } }).catch(() => undefined);
      await c.admin.getStats({}).catch(() => undefined);
    }
    await health.check({});
    await probe.tasks.submitTask({ spec: { queue: "warm", payload } });

    const outcomes: Outcome[] = [];
    const inflight = new Set<Promise<void>>();
    const fire = (i: number) => {
      const kind = i % 2 === 0 ? "submit" : "stats";
      const t0 = performance.now();
      const p = raw
        .call(i >> 1, kind === "submit" ? SUBMIT_PATH : STATS_PATH, kind === "submit" ? submitBody : statsBody, DEADLINE_MS)
        .then((r) => void outcomes.push({ kind, ms: performance.now() - t0, ...r }));
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    };
    // Open the load's connections before the clock starts.
    await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => raw.call(i, STATS_PATH, statsBody, 5_000)));

    // Health probes during the load.
    const healthMs: number[] = [];
    let healthFailed = 0;
    let probing = true;
    const healthLoop = (async () => {
      while (probing) {
        const t0 = performance.now();
        try {
          await health.check({}, { timeoutMs: 2_000 });
          healthMs.push(performance.now() - t0);
        } catch {
          healthFailed++;
        }
        await sleep(100);
      }
    })();

    // Open loop: the schedule, not the answers, decides when calls go out.
    const eluStart = performance.eventLoopUtilization();
    const start = performance.now();
    const durationMs = SECONDS * 1_000;
    let fired = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const elapsed = Math.min(performance.now() - start, durationMs);
        const due = Math.floor((rate * elapsed) / 1_000);
        while (fired < due) fire(fired++);
        if (elapsed >= durationMs) {
          clearInterval(timer);
          resolve();
        }
      }, 2);
    });
    const loadEnd = performance.now();
    const generatorBusy = performance.eventLoopUtilization(eluStart).utilization;
    probing = false;
    await healthLoop;

    // Recovery: probes every 20 ms until one succeeds quickly.
    let recoveryMs = NaN;
    const probes = new Set<Promise<void>>();
    while (Number.isNaN(recoveryMs) && performance.now() - loadEnd < RECOVERY_CAP_MS) {
      const t0 = performance.now();
      const p = probe.tasks.submitTask({ spec: { queue: "probe", payload } }, { timeoutMs: 5_000 }).then(
        () => {
          const t1 = performance.now();
          if (t1 - t0 < RECOVERED_UNDER_MS && Number.isNaN(recoveryMs)) recoveryMs = t1 - loadEnd;
        },
        () => undefined,
      );
      probes.add(p);
      void p.finally(() => probes.delete(p));
      await sleep(20);
    }
    await Promise.all([...inflight, ...probes]);
    raw.close();

    const submits = outcomes.filter((o) => o.kind === "submit");
    const okSubmits = submits.filter((o) => o.code === 0).map((o) => o.ms);
    const okStats = outcomes.filter((o) => o.kind === "stats" && o.code === 0).length;
    const exhausted = outcomes.filter((o) => o.code === Code.ResourceExhausted);
    const exhaustedMs = exhausted.map((o) => o.ms);
    return {
      rate,
      offered: fired / SECONDS,
      goodput: okSubmits.length / SECONDS,
      statsOk: okStats / SECONDS,
      p50: pct(okSubmits, 50),
      p99: pct(okSubmits, 99),
      exhausted: exhausted.length,
      overloaded: exhausted.filter((o) => o.overloaded).length,
      exhaustedP99: pct(exhaustedMs, 99),
      deadline: outcomes.filter((o) => o.code === Code.DeadlineExceeded).length,
      otherErrors: outcomes.filter((o) => o.code !== 0 && o.code !== Code.ResourceExhausted && o.code !== Code.DeadlineExceeded).length,
      ...Object.fromEntries(
        [...new Set(outcomes.map((o) => o.code))].filter((c) => c !== 0).map((c) => [`code_${Code[c] ?? "NoStatus"}`, outcomes.filter((o) => o.code === c).length]),
      ),
      healthP50: pct(healthMs, 50),
      healthMax: healthMs.length > 0 ? Math.max(...healthMs) : NaN,
      healthFailed,
      recoveryMs,
      generatorBusyPercent: Math.round(generatorBusy * 100),
      ...Object.fromEntries([...raw.goaways].map(([code, n]) => [`goaway_${code}`, n])),
    };
  } finally {
    await server.stop();
  }
}

const f0 = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? "-" : n.toFixed(0));
if (!JSON_OUT) {
  console.log(`open-loop overload: half SubmitTask, half GetStats, ${DEADLINE_MS} ms deadlines, ${SECONDS} s per rate, ${CONNECTIONS} connections (server: ${ROOT})`);
  console.log("offered/s  goodput/s  stats ok/s  p50 ms  p99 ms  exhausted (OVERLOADED, p99 ms)  deadline  other  health p50/max ms (failed)  recovery ms");
}
for (const rate of RATES) {
  const r = await oneRate(rate);
  if (JSON_OUT) {
    console.log(JSON.stringify(r));
    continue;
  }
  console.log(
    [
      f0(r.offered).padStart(9),
      f0(r.goodput).padStart(10),
      f0(r.statsOk).padStart(11),
      f0(r.p50).padStart(7),
      f0(r.p99).padStart(7),
      `${f0(r.exhausted)} (${f0(r.overloaded)}, ${f0(r.exhaustedP99)})`.padStart(31),
      f0(r.deadline).padStart(9),
      f0(r.otherErrors).padStart(6),
      `${f0(r.healthP50)}/${f0(r.healthMax)} (${f0(r.healthFailed)})`.padStart(27),
      f0(r.recoveryMs).padStart(12),
    ].join(" "),
  );
}
