/** actionqueue.v1.RunService: decode, one engine call, encode. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { asRunId } from "../../domain/ids.js";
import type { RunState } from "../../domain/state.js";
import { EngineError } from "../../engine/errors.js";
import { type RunService, WatchProgressSchema, WatchRunsResponseSchema } from "../../gen/actionqueue/v1/run_service_pb.js";
import type { ServiceContext } from "../context.js";
import { pbToState } from "../convert/enums.js";
import { attemptToPb, eventToPb, runToPb } from "../convert/views.js";
import { Violations, optionalRunId, optionalTaskId, runIdOf } from "../convert/wire.js";
import { badRequest } from "../errors.js";
import { decodeToken, encodeToken, filterPrint } from "../paging.js";

function statesOf(states: readonly number[], v: Violations): Set<RunState> {
  const out = new Set<RunState>();
  states.forEach((s, i) => {
    const st = pbToState(s, `states[${i}]`, v);
    if (st) out.add(st);
  });
  return out;
}

export function runService(c: ServiceContext): ServiceImpl<typeof RunService> {
  const { engine } = c;
  /** A run id that must decode before anything else can happen. */
  const idOf = (raw: string) => {
    const v = new Violations();
    const id = runIdOf(raw, "run_id", v);
    if (!v.empty) throw badRequest(v.list);
    return id;
  };

  return {
    async getRun(req) {
      const r = engine.queries.getRun(idOf(req.runId));
      return { run: runToPb(r.run, r.lease), attempts: r.attempts.map(attemptToPb) };
    },

    async listRuns(req) {
      const v = new Violations();
      const taskId = optionalTaskId(req.taskId, "task_id", v);
      const states = statesOf(req.states, v);
      const print = filterPrint({ q: req.queue, t: taskId, s: [...states].sort() });
      const after = decodeToken(req.pageToken, print, v);
      const page = engine.queries.listRuns(
        { queue: req.queue, taskId, states },
        { after: after === undefined ? undefined : asRunId(after), size: req.pageSize },
        { decoded: v.list },
      );
      return { runs: page.items.map((x) => runToPb(x.run, x.lease)), nextPageToken: page.next !== null ? encodeToken(page.next, print) : "" };
    },

    async listAttempts(req) {
      const v = new Violations();
      const id = runIdOf(req.runId, "run_id", v);
      const print = filterPrint({ r: req.runId });
      const token = decodeToken(req.pageToken, print, v);
      let after: number | undefined;
      if (token !== undefined) {
        after = Number(token);
        if (!Number.isSafeInteger(after) || after < 0) v.add("page_token", "is not a page token issued by this server");
      }
      const page = engine.queries.listAttempts(id, { after, size: req.pageSize }, { decoded: v.list });
      return { attempts: page.items.map(attemptToPb), nextPageToken: page.next !== null ? encodeToken(page.next, print) : "" };
    },

    async cancelRun(req) {
      const run = await engine.cancelRun(idOf(req.runId));
      return { run: runToPb(run, undefined) };
    },

    async suspendRun(req) {
      const v = new Violations();
      const id = runIdOf(req.runId, "run_id", v);
      return { run: runToPb(await engine.suspendRun(id, req.reason, { decoded: v.list }), undefined) };
    },

    async resumeRun(req) {
      return { run: runToPb(await engine.resumeRun(idOf(req.runId)), undefined) };
    },

    async setRunPriority(req) {
      const v = new Violations();
      const id = runIdOf(req.runId, "run_id", v);
      return { run: runToPb(await engine.setRunPriority(id, req.priority, { decoded: v.list }), undefined) };
    },

    async *watchRuns(req, ctx) {
      const v = new Violations();
      const taskId = optionalTaskId(req.taskId, "task_id", v);
      const runId = optionalRunId(req.runId, "run_id", v);
      const states = statesOf(req.states, v);
      if (req.startRevision > BigInt(Number.MAX_SAFE_INTEGER)) v.add("start_revision", "is out of range");
      // Validates the request; the subscription starts only when the stream is read.
      const stream = engine.watch(
        { queues: new Set(req.queues), ...(taskId ? { taskId } : {}), ...(runId ? { runId } : {}), states },
        Number(req.startRevision),
        { maxBuffer: c.config.watchBufferEvents, progressIntervalMs: req.progressIntervalMs, signal: ctx.signal, decoded: v.list },
      );
      if (c.gauges.watches >= c.config.maxWatches) {
        throw new EngineError("OVERLOADED", `too many watch streams (limit ${c.config.maxWatches})`, { metadata: { limit: String(c.config.maxWatches) } });
      }
      c.gauges.watches++;
      try {
        for await (const item of stream) {
          yield create(WatchRunsResponseSchema, {
            kind:
              item.kind === "event"
                ? { case: "event", value: eventToPb(item.event) }
                : { case: "progress", value: create(WatchProgressSchema, { revision: BigInt(item.revision) }) },
          });
        }
      } finally {
        c.gauges.watches--;
      }
    },
  };
}
