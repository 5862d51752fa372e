/** actionqueue.v1.WorkerService over the engine. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { EngineError } from "../../engine/errors.js";
import type { Limits } from "../../domain/limits.js";
import { utf8Length } from "../../domain/violations.js";
import type { Completion, HeartbeatResult, ItemResult } from "../../engine/engine.js";
import {
  BatchItemErrorSchema,
  type CompleteAttemptRequest,
  type HeartbeatRequest,
  HeartbeatResponseSchema,
  LeasedRunSchema,
  StopReason,
  type WorkerService,
} from "../../gen/actionqueue/v1/worker_service_pb.js";
import type { ServiceContext } from "../context.js";
import {
  Violations,
  asAttempt,
  asRun,
  attemptToPb,
  durToMs,
  msToTs,
  pbToWorkerOutcome,
  requiredId,
  requiredToken,
  runToPb,
  stateToPb,
  taskToPb,
} from "../convert.js";
import { REASON_CODE, badRequest } from "../errors.js";

const DEFAULT_LEASE_MS = 30_000;

function heartbeatItem(req: HeartbeatRequest, prefix: string, v: Violations) {
  return {
    runId: asRun(requiredId(req.runId, `${prefix}run_id`, v)),
    token: requiredToken(req.leaseToken, `${prefix}lease_token`, v),
    extendByMs: durToMs(req.extendBy, `${prefix}extend_by`, v, 1_000, 3_600_000),
  };
}

function completionItem(req: CompleteAttemptRequest, prefix: string, v: Violations, limits: Limits): Completion | null {
  const runId = asRun(requiredId(req.runId, `${prefix}run_id`, v));
  const token = requiredToken(req.leaseToken, `${prefix}lease_token`, v);
  const attemptId = asAttempt(requiredId(req.attemptId, `${prefix}attempt_id`, v));
  const outcome = pbToWorkerOutcome(req.outcome, `${prefix}outcome`, v);
  if (req.output.byteLength > limits.maxOutputBytes) {
    v.add(`${prefix}output`, `is ${req.output.byteLength} bytes; the limit is ${limits.maxOutputBytes}`);
  }
  if (req.output.byteLength > 0 && outcome !== null && outcome !== "SUCCESS") v.add(`${prefix}output`, "only a SUCCESS outcome carries output");
  const errBytes = utf8Length(req.error);
  if (errBytes > limits.maxErrorBytes) v.add(`${prefix}error`, `is ${errBytes} bytes; the limit is ${limits.maxErrorBytes}`);
  if (!outcome) return null;
  return { runId, token, attemptId, outcome, output: req.output, error: req.error };
}

function itemError(e: EngineError) {
  return create(BatchItemErrorSchema, { code: REASON_CODE[e.reason], reason: e.reason, message: e.message, metadata: { ...e.metadata } });
}

function heartbeatPb(h: HeartbeatResult) {
  return create(HeartbeatResponseSchema, {
    leaseExpiresAt: msToTs(h.leaseExpiresAt),
    state: stateToPb(h.state),
    stop: h.stop,
    stopReason: h.stopReason === "CANCELED" ? StopReason.CANCELED : h.stopReason === "SUSPENDED" ? StopReason.SUSPENDED : StopReason.UNSPECIFIED,
  });
}

function single<T>(results: ItemResult<T>[]): T {
  const r = results[0];
  if (!r) throw new EngineError("INTERNAL", "no result");
  if (!r.ok) throw r.error;
  return r.value;
}

function checkBatch(n: number, max: number, field: string, v: Violations): void {
  if (n < 1 || n > max) v.add(field, `must hold 1 to ${max} items`);
}

function duplicates(ids: readonly string[], field: string, v: Violations): void {
  const seen = new Set<string>();
  ids.forEach((id, i) => {
    if (seen.has(id)) v.add(`${field}[${i}].run_id`, "appears twice in the batch");
    seen.add(id);
  });
}

export function workerService(c: ServiceContext): ServiceImpl<typeof WorkerService> {
  const { engine } = c;
  const r = engine.reader;
  const runPb = (id: ReturnType<typeof asRun>) => {
    const run = r.getRun(id);
    if (!run) throw new EngineError("RUN_NOT_FOUND", `run ${id} not found`, { metadata: { run_id: id } });
    return runToPb(run, r.getLease(id));
  };
  return {
    async leaseRuns(req, ctx) {
      const v = new Violations();
      const leaseMs = durToMs(req.leaseDuration, "lease_duration", v, 1_000, 3_600_000) ?? DEFAULT_LEASE_MS;
      const waitMs = durToMs(req.wait, "wait", v, 0, 60_000) ?? 0;
      if (req.maxRuns < 0 || req.maxRuns > 1_000) v.add("max_runs", "must be 0 (means 1) to 1000");
      if (!v.empty) throw badRequest(v.list);
      const waiting = waitMs > 0;
      if (waiting && c.gauges.longPolls >= c.config.maxLongPolls) {
        throw new EngineError("OVERLOADED", `too many waiting LeaseRuns calls (limit ${c.config.maxLongPolls})`, { metadata: { limit: String(c.config.maxLongPolls) } });
      }
      if (waiting) c.gauges.longPolls++;
      try {
        const result = await engine.leaseRuns({
          queues: req.queues,
          workerId: req.workerId,
          capabilities: req.capabilities,
          maxRuns: req.maxRuns === 0 ? 1 : req.maxRuns,
          leaseDurationMs: leaseMs,
          waitMs,
          startAttempt: req.startAttempt,
          signal: ctx.signal,
        });
        return {
          runs: result.grants.map((g) =>
            create(LeasedRunSchema, {
              run: runToPb(g.run, g.lease),
              task: taskToPb(g.task),
              leaseToken: g.lease.token,
              leaseExpiresAt: msToTs(g.lease.expiresAt),
              ...(g.attempt ? { attempt: attemptToPb(g.attempt) } : {}),
            }),
          ),
          pausedQueues: result.pausedQueues,
        };
      } finally {
        if (waiting) c.gauges.longPolls--;
      }
    },

    async startAttempt(req) {
      const v = new Violations();
      const runId = asRun(requiredId(req.runId, "run_id", v));
      const token = requiredToken(req.leaseToken, "lease_token", v);
      if (!v.empty) throw badRequest(v.list);
      const s = await engine.startAttempt(runId, token);
      return { run: runToPb(s.run, r.getLease(runId)), attempt: attemptToPb(s.attempt) };
    },

    async heartbeat(req) {
      const v = new Violations();
      const item = heartbeatItem(req, "", v);
      if (!v.empty) throw badRequest(v.list);
      return heartbeatPb(single(await engine.heartbeat([item])));
    },

    async batchHeartbeat(req) {
      const v = new Violations();
      checkBatch(req.heartbeats.length, 1_000, "heartbeats", v);
      const items = req.heartbeats.map((h, i) => heartbeatItem(h, `heartbeats[${i}].`, v));
      duplicates(items.map((i) => i.runId), "heartbeats", v);
      if (!v.empty) throw badRequest(v.list);
      const results = await engine.heartbeat(items);
      return {
        results: results.map((res, i) => ({
          runId: items[i]?.runId ?? "",
          result: res.ok ? { case: "ok" as const, value: heartbeatPb(res.value) } : { case: "error" as const, value: itemError(res.error) },
        })),
      };
    },

    async completeAttempt(req) {
      const v = new Violations();
      const item = completionItem(req, "", v, engine.limits);
      if (!v.empty || !item) throw badRequest(v.list);
      const done = single(await engine.completeAttempts([item]));
      return { run: runToPb(done.run, undefined), attempt: attemptToPb(done.attempt) };
    },

    async batchCompleteAttempts(req) {
      const v = new Violations();
      checkBatch(req.completions.length, 1_000, "completions", v);
      const items = req.completions.map((x, i) => completionItem(x, `completions[${i}].`, v, engine.limits));
      duplicates(req.completions.map((x) => x.runId), "completions", v);
      if (!v.empty) throw badRequest(v.list);
      const results = await engine.completeAttempts(items as Completion[]);
      return {
        results: results.map((res, i) => ({
          runId: items[i]?.runId ?? "",
          result: res.ok
            ? { case: "ok" as const, value: { run: runToPb(res.value.run, undefined), attempt: attemptToPb(res.value.attempt) } }
            : { case: "error" as const, value: itemError(res.error) },
        })),
      };
    },

    async releaseLease(req) {
      const v = new Violations();
      const runId = asRun(requiredId(req.runId, "run_id", v));
      const token = requiredToken(req.leaseToken, "lease_token", v);
      if (!v.empty) throw badRequest(v.list);
      await engine.releaseLease(runId, token);
      return { run: runPb(runId) };
    },
  };
}
