/** actionqueue.v1.WorkerService: decode, one engine call, encode. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Completion, HeartbeatItem, HeartbeatResult, ItemResult } from "../../engine/api.js";
import { EngineError as Failure, type EngineError } from "../../engine/errors.js";
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
import { pbToWorkerOutcome, stateToPb } from "../convert/enums.js";
import { attemptToPb, runToPb, taskToPb } from "../convert/views.js";
import { Violations, attemptIdOf, durToMs, msToTs, runIdOf, tokenOf } from "../convert/wire.js";
import { REASON_CODE, badRequest } from "../errors.js";

function heartbeatItem(req: HeartbeatRequest, prefix: string, v: Violations): HeartbeatItem {
  return {
    runId: runIdOf(req.runId, `${prefix}run_id`, v),
    token: tokenOf(req.leaseToken, `${prefix}lease_token`, v),
    extendByMs: durToMs(req.extendBy, `${prefix}extend_by`, v),
  };
}

function completionItem(req: CompleteAttemptRequest, prefix: string, v: Violations): Completion {
  return {
    runId: runIdOf(req.runId, `${prefix}run_id`, v),
    token: tokenOf(req.leaseToken, `${prefix}lease_token`, v),
    attemptId: attemptIdOf(req.attemptId, `${prefix}attempt_id`, v),
    // An invalid outcome is a violation already; SUCCESS stands in so the other checks run.
    outcome: pbToWorkerOutcome(req.outcome, `${prefix}outcome`, v) ?? "SUCCESS",
    output: req.output,
    error: req.error,
  };
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
  if (!r) throw new Failure("INTERNAL", "no result");
  if (!r.ok) throw r.error;
  return r.value;
}

/** Batch items must name distinct runs. */
function duplicates(ids: readonly string[], field: string, v: Violations): void {
  const seen = new Set<string>();
  ids.forEach((id, i) => {
    if (seen.has(id)) v.add(`${field}[${i}].run_id`, "appears twice in the batch");
    seen.add(id);
  });
}

export function workerService(c: ServiceContext): ServiceImpl<typeof WorkerService> {
  const { engine } = c;
  return {
    async leaseRuns(req, ctx) {
      const v = new Violations();
      const leaseDurationMs = durToMs(req.leaseDuration, "lease_duration", v);
      const waitMs = durToMs(req.wait, "wait", v);
      const waiting = (waitMs ?? 0) > 0;
      if (waiting && v.empty && c.gauges.longPolls >= c.config.maxLongPolls) {
        throw new Failure("OVERLOADED", `too many waiting LeaseRuns calls (limit ${c.config.maxLongPolls})`, { metadata: { limit: String(c.config.maxLongPolls) } });
      }
      if (waiting) c.gauges.longPolls++;
      try {
        const result = await engine.leaseRuns(
          { queues: req.queues, workerId: req.workerId, capabilities: req.capabilities, maxRuns: req.maxRuns, leaseDurationMs, waitMs, startAttempt: req.startAttempt, signal: ctx.signal },
          { decoded: v.list },
        );
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
      const runId = runIdOf(req.runId, "run_id", v);
      const token = tokenOf(req.leaseToken, "lease_token", v);
      if (!v.empty) throw badRequest(v.list);
      const s = await engine.startAttempt(runId, token);
      return { run: runToPb(s.run, engine.queries.run(runId).lease), attempt: attemptToPb(s.attempt) };
    },

    async heartbeat(req, ctx) {
      const v = new Violations();
      const item = heartbeatItem(req, "", v);
      return heartbeatPb(single(await engine.heartbeat([item], { decoded: v.list, signal: ctx.signal, itemPrefix: () => "" })));
    },

    async batchHeartbeat(req, ctx) {
      const v = new Violations();
      const items = req.heartbeats.map((h, i) => heartbeatItem(h, `heartbeats[${i}].`, v));
      duplicates(items.map((i) => i.runId), "heartbeats", v);
      const results = await engine.heartbeat(items, { decoded: v.list, signal: ctx.signal, itemPrefix: (i) => `heartbeats[${i}].` });
      return {
        results: results.map((res, i) => ({
          runId: items[i]?.runId ?? "",
          result: res.ok ? { case: "ok" as const, value: heartbeatPb(res.value) } : { case: "error" as const, value: itemError(res.error) },
        })),
      };
    },

    async completeAttempt(req, ctx) {
      const v = new Violations();
      const item = completionItem(req, "", v);
      const done = single(await engine.completeAttempts([item], { decoded: v.list, signal: ctx.signal, itemPrefix: () => "" }));
      return { run: runToPb(done.run, undefined), attempt: attemptToPb(done.attempt) };
    },

    async batchCompleteAttempts(req, ctx) {
      const v = new Violations();
      const items = req.completions.map((x, i) => completionItem(x, `completions[${i}].`, v));
      duplicates(req.completions.map((x) => x.runId), "completions", v);
      const results = await engine.completeAttempts(items, { decoded: v.list, signal: ctx.signal, itemPrefix: (i) => `completions[${i}].` });
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
      const runId = runIdOf(req.runId, "run_id", v);
      const token = tokenOf(req.leaseToken, "lease_token", v);
      if (!v.empty) throw badRequest(v.list);
      return { run: runToPb(await engine.releaseLease(runId, token), undefined) };
    },
  };
}
