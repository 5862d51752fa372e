/** actionqueue.v1.RunService over the engine. */
import type { ServiceImpl } from "@connectrpc/connect";
import type { RunId } from "../../domain/ids.js";
import { RUN_STATES, type RunState } from "../../domain/state.js";
import { EngineError } from "../../engine/errors.js";
import { checkQueueName } from "../../domain/task-spec.js";
import { create } from "@bufbuild/protobuf";
import { type RunService, WatchProgressSchema, WatchRunsResponseSchema } from "../../gen/actionqueue/v1/run_service_pb.js";
import type { ServiceContext } from "../context.js";
import { Violations, asRun, asTask, attemptToPb, eventToPb, optionalId, pbToState, requiredId, runToPb } from "../convert.js";
import { badRequest } from "../errors.js";
import { decodeToken, encodeToken, filterPrint, pageSize } from "../paging.js";

/** Most attempts returned with GetRun. */
const ATTEMPTS_IN_GET = 100;

export function runService(c: ServiceContext): ServiceImpl<typeof RunService> {
  const { engine } = c;
  const r = engine.reader;
  const view = (id: RunId) => {
    const run = r.getRun(id);
    if (!run) throw new EngineError("RUN_NOT_FOUND", `run ${id} not found`, { metadata: { run_id: id } });
    return runToPb(run, r.getLease(id));
  };
  const idOf = (raw: string) => {
    const v = new Violations();
    const id = requiredId(raw, "run_id", v);
    if (!v.empty) throw badRequest(v.list);
    return asRun(id);
  };

  /** Run ids matching the filters in id order after `after`, at most `limit`. */
  function matchingRunIds(queue: string, taskId: string | null, states: ReadonlySet<RunState>, after: RunId | undefined, limit: number): RunId[] {
    if (taskId !== null) {
      const out: RunId[] = [];
      let cursor = after;
      while (out.length < limit) {
        const ids = r.runIdsOfTask(asTask(taskId), cursor, limit * 4);
        if (ids.length === 0) break;
        for (const id of ids) {
          cursor = id;
          const run = r.getRun(id);
          if (run && (queue === "" || run.queue === queue) && (states.size === 0 || states.has(run.state))) out.push(id);
          if (out.length >= limit) break;
        }
      }
      return out;
    }
    if (queue !== "") {
      // Merge the per-state indexes of the queue (each in id order).
      const wanted = states.size > 0 ? [...states] : [...RUN_STATES];
      const streams = wanted.map((s) => r.runIdsByState(queue, s, after, limit));
      const merged = streams.flat().sort();
      return merged.slice(0, limit);
    }
    const out: RunId[] = [];
    let cursor = after;
    while (out.length < limit) {
      const ids = r.runIds(cursor, limit * 4);
      if (ids.length === 0) break;
      for (const id of ids) {
        cursor = id;
        if (states.size === 0 || states.has(r.getRun(id)?.state as RunState)) out.push(id);
        if (out.length >= limit) break;
      }
      if (states.size === 0) break;
    }
    return out;
  }

  return {
    async getRun(req) {
      const id = idOf(req.runId);
      const run = view(id);
      const count = r.getRun(id)?.attemptCount ?? 0;
      const attempts = r.attempts(id, Math.max(0, count - ATTEMPTS_IN_GET), ATTEMPTS_IN_GET).map(attemptToPb);
      return { run, attempts };
    },

    async listRuns(req) {
      const v = new Violations();
      if (req.queue !== "") checkQueueName(v.list, "queue", req.queue);
      const taskId = optionalId(req.taskId, "task_id", v);
      const states = new Set<RunState>();
      req.states.forEach((s, i) => {
        const st = pbToState(s, `states[${i}]`, v);
        if (st) states.add(st);
      });
      const size = pageSize(req.pageSize, engine.limits.maxPageSize, v);
      const print = filterPrint({ q: req.queue, t: taskId, s: [...states].sort() });
      const after = decodeToken(req.pageToken, print, v) as RunId | undefined;
      if (!v.empty) throw badRequest(v.list);
      const ids = matchingRunIds(req.queue, taskId, states, after, size + 1);
      const page = ids.slice(0, size);
      const runs = page.flatMap((id) => {
        const run = r.getRun(id);
        return run ? [runToPb(run, r.getLease(id))] : [];
      });
      const last = page.at(-1);
      return { runs, nextPageToken: ids.length > size && last ? encodeToken(last, print) : "" };
    },

    async listAttempts(req) {
      const v = new Violations();
      const id = requiredId(req.runId, "run_id", v);
      const size = pageSize(req.pageSize, engine.limits.maxPageSize, v);
      const print = filterPrint({ r: id });
      const after = decodeToken(req.pageToken, print, v);
      let from = 0;
      if (after !== undefined) {
        from = Number(after);
        if (!Number.isSafeInteger(from) || from < 0) v.add("page_token", "is not a page token issued by this server");
      }
      if (!v.empty) throw badRequest(v.list);
      view(asRun(id));
      const attempts = r.attempts(asRun(id), from, size + 1);
      const page = attempts.slice(0, size);
      const last = page.at(-1);
      return { attempts: page.map(attemptToPb), nextPageToken: attempts.length > size && last ? encodeToken(String(last.number), print) : "" };
    },

    async cancelRun(req) {
      const run = await engine.cancelRun(idOf(req.runId));
      return { run: runToPb(run, r.getLease(run.id)) };
    },

    async suspendRun(req) {
      const v = new Violations();
      const id = requiredId(req.runId, "run_id", v);
      if (req.reason.length > 256) v.add("reason", "at most 256 characters");
      if (!v.empty) throw badRequest(v.list);
      const run = await engine.suspendRun(asRun(id), req.reason);
      return { run: runToPb(run, undefined) };
    },

    async resumeRun(req) {
      const run = await engine.resumeRun(idOf(req.runId));
      return { run: runToPb(run, undefined) };
    },

    async setRunPriority(req) {
      const v = new Violations();
      const id = requiredId(req.runId, "run_id", v);
      if (req.priority < -1_000_000 || req.priority > 1_000_000) v.add("priority", "must be from -1000000 to 1000000");
      if (!v.empty) throw badRequest(v.list);
      const run = await engine.setRunPriority(asRun(id), req.priority);
      return { run: runToPb(run, undefined) };
    },

    async *watchRuns(req, ctx) {
      const v = new Violations();
      const queues = new Set<string>();
      req.queues.forEach((q, i) => {
        checkQueueName(v.list, `queues[${i}]`, q);
        queues.add(q);
      });
      const taskId = optionalId(req.taskId, "task_id", v);
      const runId = optionalId(req.runId, "run_id", v);
      const states = new Set<RunState>();
      req.states.forEach((s, i) => {
        const st = pbToState(s, `states[${i}]`, v);
        if (st) states.add(st);
      });
      if (req.startRevision > BigInt(Number.MAX_SAFE_INTEGER)) v.add("start_revision", "is out of range");
      const interval = req.progressIntervalMs === 0 ? 5_000 : req.progressIntervalMs;
      if (interval < 100 || interval > 60_000) v.add("progress_interval_ms", "must be 0 (default 5000) or 100 to 60000");
      if (!v.empty) throw badRequest(v.list);
      if (c.gauges.watches >= c.config.maxWatches) {
        throw new EngineError("OVERLOADED", `too many watch streams (limit ${c.config.maxWatches})`, { metadata: { limit: String(c.config.maxWatches) } });
      }
      const start = Number(req.startRevision);
      const stream = engine.watch(
        { queues, ...(taskId ? { taskId: asTask(taskId) } : {}), ...(runId ? { runId: asRun(runId) } : {}), states },
        start,
        { maxBuffer: c.config.watchBufferEvents, progressIntervalMs: interval, signal: ctx.signal },
      );
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
