/**
 * Load shedding end to end (docs/operations.md, "Load shedding"): a server with small limits
 * under open-loop load at many times its capacity refuses the excess at once with
 * RESOURCE_EXHAUSTED (ErrorInfo OVERLOADED naming the limit), keeps answering Health/Check,
 * loses no acknowledged submit, and serves normally again as soon as the load stops.
 *
 * No wall-clock speed is asserted beyond generous bounds: the limits are small enough that
 * overload is reached on any machine, and the checks are about what happened, not how fast.
 */
import http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import type { ActionQueueClients } from "../../clients/typescript/src/index.js";
import { SubmitTaskRequestSchema } from "../../src/gen/actionqueue/v1/task_service_pb.js";
import { ErrorInfoSchema, QuotaFailureSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../../src/gen/grpc/health/v1/health_pb.js";
import { connectGrpc, connectJson, startServer } from "../support/server.js";

const payload = { data: new TextEncoder().encode("{}"), contentType: "application/json" };
const DEADLINE_MS = 10_000;
const LOAD_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries a call refused as overload (what clients are told to do), up to `ms`. */
async function withRetry<T>(call: () => Promise<T>, ms = 20_000): Promise<T> {
  const until = performance.now() + ms;
  for (;;) {
    try {
      return await call();
    } catch (e) {
      if (!(e instanceof ConnectError && e.code === Code.ResourceExhausted) || performance.now() > until) throw e;
      await sleep(20);
    }
  }
}

describe("overload", () => {
  it("refuses the excess at once with OVERLOADED, keeps health answering, loses no acknowledged submit, recovers", { timeout: 120_000 }, async () => {
    const server = await startServer({ args: ["--max-inflight-writes", "4", "--max-inflight-reads", "4", "--max-queued-commands", "16"] });
    try {
      const grpcClients = [connectGrpc(server.port), connectGrpc(server.port)];
      const jsonClient = connectJson(server.port);
      const health = createClient(Health, createGrpcTransport({ baseUrl: server.url }));
      // Connections up before the load.
      for (const c of grpcClients) await c.admin.getStats({});
      await jsonClient.admin.getStats({});

      const acked: string[] = [];
      const refused: Array<{ ms: number; limit: string | undefined; cls: string | undefined; quota: boolean }> = [];
      const otherErrors: string[] = [];
      let served = 0;
      const outstanding = new Set<Promise<void>>();
      const track = (p: Promise<void>) => {
        outstanding.add(p);
        void p.finally(() => outstanding.delete(p));
      };
      const call = (fn: () => Promise<unknown>, onOk: (r: unknown) => void) => {
        const t0 = performance.now();
        track(
          fn().then(onOk, (e: unknown) => {
            const ce = ConnectError.from(e);
            const info = ce.findDetails(ErrorInfoSchema)[0];
            if (ce.code === Code.ResourceExhausted && info?.reason === "OVERLOADED") {
              refused.push({ ms: performance.now() - t0, limit: info.metadata.limit, cls: info.metadata.class, quota: ce.findDetails(QuotaFailureSchema).length > 0 });
            } else otherErrors.push(`${Code[ce.code]}: ${ce.rawMessage}`);
          }),
        );
      };
      const submit = (c: ActionQueueClients) =>
        call(
          () => c.tasks.submitTask({ spec: { queue: "overload", payload } }, { timeoutMs: DEADLINE_MS }),
          (r) => acked.push((r as { task?: { id: string } }).task?.id as string),
        );
      const stats = (c: ActionQueueClients) =>
        call(
          () => c.admin.getStats({}, { timeoutMs: DEADLINE_MS }),
          () => served++,
        );

      // Health probes during the load, on their own connection.
      const healthStatuses: HealthCheckResponse_ServingStatus[] = [];
      let loading = true;
      const healthLoop = (async () => {
        while (loading) {
          const r = await health.check({}, { timeoutMs: DEADLINE_MS });
          healthStatuses.push(r.status);
          await sleep(100);
        }
      })();

      // Open loop: bursts on a fixed schedule, whatever the answers (about 1,500 calls/s).
      const start = performance.now();
      while (performance.now() - start < LOAD_MS) {
        for (let i = 0; i < 12; i++) {
          const c = grpcClients[i % grpcClients.length] as ActionQueueClients;
          submit(c);
          stats(c);
        }
        submit(jsonClient); // the Connect protocol over HTTP/1.1: refused by the request gate
        await sleep(10);
      }
      loading = false;
      await healthLoop;
      await Promise.all([...outstanding]);

      // The excess was refused, with the details, at once rather than at the deadline.
      // On failure, what the server warned about says which side ended the calls.
      const warnings = () => server.logs.filter((l) => /"level":(40|50|60)/.test(l)).slice(0, 20).join("\n");
      expect(otherErrors.slice(0, 5), `${otherErrors.length} other errors; server warnings:\n${warnings()}`).toEqual([]);
      expect(refused.length).toBeGreaterThan(0);
      expect(acked.length).toBeGreaterThan(0);
      for (const r of refused) {
        expect(["max_inflight_write", "max_inflight_read", "max_queued_commands", "max_event_loop_utilization"]).toContain(r.limit);
        expect(r.quota).toBe(true);
        expect(r.ms).toBeLessThan(DEADLINE_MS);
      }
      expect(refused.some((r) => r.limit === "max_inflight_write" && r.cls === "write")).toBe(true);
      const sorted = refused.map((r) => r.ms).sort((a, b) => a - b);
      expect(sorted[Math.floor(sorted.length / 2)]).toBeLessThan(DEADLINE_MS / 5);

      // Health answered SERVING throughout.
      expect(healthStatuses.length).toBeGreaterThan(0);
      expect(healthStatuses.every((s) => s === HealthCheckResponse_ServingStatus.SERVING)).toBe(true);

      // After the load: a normal call succeeds promptly (generous bound).
      const t0 = performance.now();
      const probe = await withRetry(() => grpcClients[0]!.tasks.submitTask({ spec: { queue: "after", payload } }), 5_000);
      expect(probe.task?.id).toBeTruthy();
      expect(performance.now() - t0).toBeLessThan(5_000);

      // Every acknowledged submit is there.
      const c = grpcClients[0] as ActionQueueClients;
      for (const id of acked) {
        const r = await withRetry(() => c.tasks.getTask({ taskId: id }));
        expect(r.task?.id).toBe(id);
      }
    } finally {
      await server.cleanup();
    }
  });

  it("does not work on a call whose deadline has already passed: DEADLINE_EXCEEDED, nothing applied", async () => {
    const server = await startServer();
    try {
      const session = http2.connect(server.url);
      const body = toBinary(SubmitTaskRequestSchema, create(SubmitTaskRequestSchema, { spec: { queue: "expired", payload } }));
      const framed = Buffer.alloc(5 + body.byteLength);
      framed.writeUInt32BE(body.byteLength, 1);
      framed.set(body, 5);
      const status = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ":method": "POST", ":path": "/actionqueue.v1.TaskService/SubmitTask", "content-type": "application/grpc", te: "trailers", "grpc-timeout": "1n" });
        let got = "";
        const take = (h: http2.IncomingHttpHeaders) => {
          if (h["grpc-status"] !== undefined) got = String(h["grpc-status"]);
        };
        stream.on("response", take);
        stream.on("trailers", take);
        stream.on("data", () => undefined);
        stream.on("error", reject);
        stream.on("close", () => resolve(got));
        stream.end(framed);
      });
      session.close();
      expect(Number(status)).toBe(Code.DeadlineExceeded);
      const listed = await connectGrpc(server.port).tasks.listTasks({ queue: "expired" });
      expect(listed.tasks).toEqual([]);
    } finally {
      await server.cleanup();
    }
  });

  it("rejects bad limit flags with one line", async () => {
    const server = startServer({ args: ["--max-inflight-writes", "-1"] });
    await expect(server).rejects.toThrow(/max-inflight-writes/);
  });
});
