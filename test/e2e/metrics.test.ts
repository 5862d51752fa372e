/**
 * Prometheus metrics end to end (docs/operations.md, "Metrics"): `GET /metrics` on the main
 * port (HTTP/1.1 and HTTP/2) and on --metrics-listen parses with a strict text-format parser
 * (below) and moves as runs flow — the runs gauge equals GetStats' counts, transitions and the
 * lease-wait and attempt histograms grow by exactly what was done, RPCs are counted on both
 * the Connect path and the direct gRPC path, long polls and watch streams show while open;
 * it answers while the server sheds load; --metrics-listen closes at shutdown, and a bad
 * value is a start-up error.
 *
 * Nothing here depends on the machine's speed: counts, not times, are asserted, and gauges
 * are waited for with generous deadlines.
 */
import net from "node:net";
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AttemptOutcome } from "../../clients/typescript/src/index.js";
import { request } from "../support/http-answer.js";
import { connectGrpc, connectJson, grpcJs, startServer, unary, type ServerProcess } from "../support/server.js";
import { parseExposition, type Families, value, sumOf } from "./metrics-parser.js";

const payload = { data: new TextEncoder().encode("{}"), contentType: "application/json" };
const STATES = ["SCHEDULED", "READY", "LEASED", "RUNNING", "RETRY_WAIT", "SUSPENDED", "COMPLETED", "FAILED", "CANCELED"] as const;
const STATS_FIELD: Record<(typeof STATES)[number], string> = {
  SCHEDULED: "scheduled",
  READY: "ready",
  LEASED: "leased",
  RUNNING: "running",
  RETRY_WAIT: "retryWait",
  SUSPENDED: "suspended",
  COMPLETED: "completed",
  FAILED: "failed",
  CANCELED: "canceled",
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function scrape(port: number, version: "1.1" | "2" = "1.1"): Promise<Families> {
  const a = await request(port, version, "GET", "/metrics");
  expect(a.status).toBe(200);
  expect(a.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(a.body.toString("utf8"));
}

/** Scrapes until `ok` holds (deadline 20 s): gauges follow calls the server has yet to see. */
async function scrapeUntil(port: number, ok: (f: Families) => boolean): Promise<Families> {
  const until = performance.now() + 20_000;
  for (;;) {
    const f = await scrape(port);
    if (ok(f) || performance.now() > until) return f;
    await sleep(50);
  }
}

/** The port --metrics-listen bound (from the "serving metrics" log line). */
function metricsPort(server: ServerProcess): number {
  for (const line of server.logs) {
    const o = JSON.parse(line) as { msg?: string; metrics_port?: number };
    if (o.msg === "serving metrics" && typeof o.metrics_port === "number") return o.metrics_port;
  }
  throw new Error("no 'serving metrics' log line");
}

const TASKS = "actionqueue.v1.TaskService";
const RUNS = "actionqueue.v1.RunService";
const rpcs = (f: Families, service: string, method: string, code: string) => value(f, "actionqueue_rpcs_total", { service, method, code }) ?? 0;

describe("metrics", () => {
  it("moves as runs flow, counts RPCs on both paths, shows long polls and watches; --metrics-listen serves the same and closes at shutdown", { timeout: 120_000 }, async () => {
    const server = await startServer({ args: ["--metrics-listen", "127.0.0.1:0"] });
    try {
      const mport = metricsPort(server);
      const grpcClients = connectGrpc(server.port); // gRPC over HTTP/2: the direct path
      const json = connectJson(server.port); // Connect + JSON over HTTP/1.1: connect-es
      const before = await scrape(server.port);
      // Served on HTTP/2 too, and on the metrics port; with Node's own metrics.
      const h2 = await scrape(server.port, "2");
      expect(h2.get("actionqueue_runs")?.type).toBe("gauge");
      expect(h2.get("nodejs_eventloop_lag_seconds")?.type).toBe("gauge");
      expect(h2.get("process_cpu_user_seconds_total")?.type).toBe("counter");

      // 10 runs in queue "mq": one BatchSubmitTasks of 8 (direct path), two SubmitTask (Connect).
      await grpcClients.tasks.batchSubmitTasks({ tasks: Array.from({ length: 8 }, () => ({ spec: { queue: "mq", payload } })) });
      await json.tasks.submitTask({ spec: { queue: "mq", payload } });
      await json.tasks.submitTask({ spec: { queue: "mq", payload } });
      // Lease and start 6; complete 4 with SUCCESS and 1 with TERMINAL_FAILURE; 1 stays RUNNING.
      const leased = await grpcClients.workers.leaseRuns({ queues: ["mq"], workerId: "w", maxRuns: 6, startAttempt: true });
      expect(leased.runs).toHaveLength(6);
      const completion = (i: number, outcome: AttemptOutcome) => {
        const g = leased.runs[i];
        return { runId: g?.run?.id ?? "", leaseToken: g?.leaseToken ?? "", attemptId: g?.attempt?.id ?? "", outcome };
      };
      const done = await json.workers.batchCompleteAttempts({
        completions: [0, 1, 2, 3].map((i) => completion(i, AttemptOutcome.SUCCESS)).concat([completion(4, AttemptOutcome.TERMINAL_FAILURE)]),
      });
      expect(done.results.every((r) => r.result.case === "ok")).toBe(true);
      // Failures counted by code: NOT_FOUND through Connect and through grpc-js (direct path).
      await expect(json.runs.getRun({ runId: "0190b6a4-0000-7000-8000-000000000001" })).rejects.toMatchObject({ code: Code.NotFound });
      const g = grpcJs(server.port);
      try {
        await expect(unary(g.runs, "getRun", { runId: "0190b6a4-0000-7000-8000-000000000002" })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
      } finally {
        g.close();
      }

      const stats = await grpcClients.admin.getStats({});
      const after = await scrape(server.port);
      // Runs by queue and state: exactly GetStats' counts.
      const mq = stats.queues.find((q) => q.queue?.name === "mq");
      expect(mq).toBeDefined();
      for (const s of STATES) {
        expect(value(after, "actionqueue_runs", { queue: "mq", state: s }), s).toBe(Number((mq?.runs as unknown as Record<string, bigint>)[STATS_FIELD[s]]));
      }
      expect(value(after, "actionqueue_runs", { queue: "mq", state: "COMPLETED" })).toBe(4);
      expect(value(after, "actionqueue_tasks", {})).toBe(Number(stats.tasks));
      expect(value(after, "actionqueue_storage_bytes", {})).toBe(Number(stats.storageBytes));
      expect(Number(stats.storageBytes)).toBeGreaterThan(0);

      // Counters and histograms grew by exactly what was done.
      const grew = (name: string, labels: Record<string, string>) => (value(after, name, labels) ?? 0) - (value(before, name, labels) ?? 0);
      expect(grew("actionqueue_runs_created_total", { queue: "mq", state: "READY" })).toBe(10);
      expect(grew("actionqueue_run_transitions_total", { queue: "mq", from: "READY", to: "LEASED" })).toBe(6);
      expect(grew("actionqueue_run_transitions_total", { queue: "mq", from: "LEASED", to: "RUNNING" })).toBe(6);
      expect(grew("actionqueue_run_transitions_total", { queue: "mq", from: "RUNNING", to: "COMPLETED" })).toBe(4);
      expect(grew("actionqueue_run_transitions_total", { queue: "mq", from: "RUNNING", to: "FAILED" })).toBe(1);
      expect(sumOf(after, "actionqueue_run_transitions_total", { queue: "mq" })).toBe(17);
      expect(grew("actionqueue_lease_wait_seconds_count", { queue: "mq" })).toBe(6);
      expect(grew("actionqueue_attempt_duration_seconds_count", { queue: "mq", outcome: "SUCCESS" })).toBe(4);
      expect(grew("actionqueue_attempt_duration_seconds_count", { queue: "mq", outcome: "TERMINAL_FAILURE" })).toBe(1);
      // Five commands that wrote (3 submits, a lease, a completion): at least one commit, at
      // most five (group commit may merge them); the two size histograms count the same commits.
      const commits = grew("actionqueue_commit_duration_seconds_count", {});
      expect(commits).toBeGreaterThanOrEqual(1);
      expect(commits).toBeLessThanOrEqual(5);
      expect(grew("actionqueue_commit_batch_commands_count", {})).toBe(commits);
      expect(grew("actionqueue_commit_batch_commands_sum", {})).toBe(5);
      expect(grew("actionqueue_commit_batch_verbs_count", {})).toBe(commits);
      // RPCs: the direct path (connect's gRPC client, grpc-js) and connect-es (Connect JSON).
      expect(rpcs(after, TASKS, "BatchSubmitTasks", "OK") - rpcs(before, TASKS, "BatchSubmitTasks", "OK")).toBe(1);
      expect(rpcs(after, TASKS, "SubmitTask", "OK") - rpcs(before, TASKS, "SubmitTask", "OK")).toBe(2);
      expect(rpcs(after, "actionqueue.v1.WorkerService", "LeaseRuns", "OK")).toBe(1);
      expect(rpcs(after, "actionqueue.v1.WorkerService", "BatchCompleteAttempts", "OK")).toBe(1);
      expect(rpcs(after, RUNS, "GetRun", "NOT_FOUND")).toBe(2);
      expect(grew("actionqueue_rpc_duration_seconds_count", { service: TASKS, method: "BatchSubmitTasks" })).toBe(1);
      expect(grew("actionqueue_rpc_duration_seconds_count", { service: TASKS, method: "SubmitTask" })).toBe(2);

      // Long polls waiting and watch streams open, while they are.
      const polling = new AbortController();
      const watching = new AbortController();
      const poll = grpcClients.workers.leaseRuns({ queues: ["idle"], workerId: "w2", maxRuns: 1, wait: { seconds: 60n } }, { signal: polling.signal }).catch(() => null);
      const watch = (async () => {
        try {
          for await (const _ of json.runs.watchRuns({ queues: ["idle"] }, { signal: watching.signal })) void _;
        } catch {
          // aborted
        }
      })();
      const open = await scrapeUntil(server.port, (f) => value(f, "actionqueue_long_polls_waiting", {}) === 1 && value(f, "actionqueue_watch_streams", {}) === 1);
      expect(value(open, "actionqueue_long_polls_waiting", {})).toBe(1);
      expect(value(open, "actionqueue_watch_streams", {})).toBe(1);
      polling.abort();
      watching.abort();
      await Promise.all([poll, watch]);
      const closed = await scrapeUntil(server.port, (f) => value(f, "actionqueue_long_polls_waiting", {}) === 0 && value(f, "actionqueue_watch_streams", {}) === 0);
      expect(value(closed, "actionqueue_long_polls_waiting", {})).toBe(0);
      expect(value(closed, "actionqueue_watch_streams", {})).toBe(0);
      // The watch stream, once over, is counted by its code (CANCELED: its client left).
      expect(sumOf(closed, "actionqueue_rpcs_total", { service: RUNS, method: "WatchRuns" })).toBe(1);

      // The metrics port: the same registry, and nothing else.
      const side = await scrape(mport);
      expect(value(side, "actionqueue_runs", { queue: "mq", state: "COMPLETED" })).toBe(4);
      expect(value(side, "actionqueue_tasks", {})).toBe(Number(stats.tasks));
      expect((await request(mport, "1.1", "GET", "/actionqueue.v1.AdminService/GetStats")).status).toBe(404);

      // Shutdown closes the metrics port with the server.
      expect(await server.stop()).toBe(0);
      await expect(request(mport, "1.1", "GET", "/metrics")).rejects.toMatchObject({ code: "ECONNREFUSED" });
    } finally {
      await server.cleanup(); // stops it if a check failed first; removes the data directory
    }
  });

  it("answers while the server sheds load, and counts the calls shed by class and limit", { timeout: 60_000 }, async () => {
    const server = await startServer({ args: ["--max-inflight-reads", "1", "--stall-timeout", "60s"] });
    const session = http2.connect(server.url);
    try {
      // A GetStats whose body never comes holds the one read slot (taken before the body is read).
      const held = session.request({ ":method": "POST", ":path": "/actionqueue.v1.AdminService/GetStats", "content-type": "application/grpc", te: "trailers" }, { endStream: false });
      held.on("error", () => {});
      const grpcClients = connectGrpc(server.port);
      const json = connectJson(server.port);
      const refusedLimit = async (call: Promise<unknown>) => {
        const e = await call.then(() => null, (x: unknown) => ConnectError.from(x));
        return e?.code;
      };
      // The slot is taken once the server has read the held call's headers: wait for a refusal.
      const until = performance.now() + 20_000;
      let code: Code | undefined;
      while ((code = await refusedLimit(grpcClients.admin.getStats({}))) !== Code.ResourceExhausted && performance.now() < until) await sleep(50);
      expect(code).toBe(Code.ResourceExhausted); // refused at the door (gRPC over HTTP/2)
      expect(await refusedLimit(json.admin.getStats({}))).toBe(Code.ResourceExhausted); // refused by the request gate
      for (const version of ["1.1", "2"] as const) {
        const f = await scrape(server.port, version);
        expect(value(f, "actionqueue_requests_shed_total", { class: "read", limit: "max_inflight_read" })).toBe(2);
        expect(value(f, "actionqueue_requests_shed_total", { class: "write", limit: "max_inflight_write" })).toBe(0);
        expect(value(f, "actionqueue_requests_shed_total", { class: "read", limit: "max_event_loop_utilization" })).toBe(0);
        expect(value(f, "actionqueue_requests_shed_total", { class: "engine", limit: "max_queued_commands" })).toBe(0);
        // Calls shed never reached a handler: they are not RPCs handled.
        expect(value(f, "actionqueue_rpcs_total", { service: "actionqueue.v1.AdminService", method: "GetStats", code: "RESOURCE_EXHAUSTED" })).toBeUndefined();
      }
      held.close(http2.constants.NGHTTP2_CANCEL);
    } finally {
      session.destroy();
      await server.cleanup();
    }
  });

  it("refuses a bad --metrics-listen at start-up (exit 2) and an unusable one (exit 1)", { timeout: 60_000 }, async () => {
    await expect(startServer({ args: ["--metrics-listen", "9464"] })).rejects.toThrow(/exited with 2 .*metrics-listen: "9464" must be host:port/s);
    await expect(startServer({ env: { ACTIONQUEUE_METRICS_LISTEN: "127.0.0.1:99999" } })).rejects.toThrow(/exited with 2 .*metrics-listen/s);
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      await expect(startServer({ args: ["--metrics-listen", `127.0.0.1:${port}`] })).rejects.toThrow(new RegExp(`exited with 1 .*cannot listen on 127\\.0\\.0\\.1:${port} \\(--metrics-listen\\): address already in use`, "s"));
    } finally {
      busy.close();
    }
  });
});
