/** actionqueue.v1.RunService: decode, one engine call, encode. */
import type { ServiceImpl } from "@connectrpc/connect";
import { asRunId } from "../../domain/ids.js";
import type { RunState } from "../../domain/state.js";
import type { RunService } from "../../gen/actionqueue/v1/run_service_pb.js";
import type { ServiceContext } from "../context.js";
import { pbToState } from "../convert/enums.js";
import { attemptToPb, runToPb } from "../convert/views.js";
import { Violations, optionalRunId, optionalTaskId, runIdOf } from "../convert/wire.js";
import { badRequest } from "../errors.js";
import { decodeToken, encodeToken, filterPrint } from "../paging.js";
import { WatchEncoder, WatchStreams, binaryCodec } from "../watch-stream.js";

function statesOf(states: readonly number[], v: Violations): Set<RunState> {
  const out = new Set<RunState>();
  states.forEach((s, i) => {
    const st = pbToState(s, `states[${i}]`, v);
    if (st) out.add(st);
  });
  return out;
}

/** Largest WatchRunsRequest.max_events_per_message. */
const MAX_EVENTS_PER_MESSAGE = 1_000;

export function runService(c: ServiceContext): ServiceImpl<typeof RunService> {
  const { engine } = c;
  const watches = new WatchStreams(
    {
      maxWatches: c.config.maxWatches,
      stallTimeoutMs: c.config.watchStallTimeoutMs,
      onStall: (info) => c.log.info({ last_revision: info.lastRevision, stall_timeout_ms: info.stallTimeoutMs }, "watch stream not read for the stall timeout: reset (RESOURCE_EXHAUSTED)"),
    },
    c.gauges,
  );
  // JSON is larger than binary: a batch's binary size stays at a quarter of the message limit.
  const encoder = new WatchEncoder(Math.floor(c.config.maxMessageBytes / 4));
  /** A run id that must decode before anything else can happen. */
  const idOf = (raw: string) => {
    const v = new Violations();
    const id = runIdOf(raw, "run_id", v);
    if (!v.empty) throw badRequest(v.list);
    return id;
  };

  return {
    async getRun(req) {
      const id = idOf(req.runId);
      await engine.sync();
      const r = engine.queries.getRun(id);
      return { run: runToPb(r.run, r.lease), attempts: r.attempts.map(attemptToPb) };
    },

    async listRuns(req) {
      const v = new Violations();
      const taskId = optionalTaskId(req.taskId, "task_id", v);
      const states = statesOf(req.states, v);
      // The key joins the filters a token is bound to; left out when empty, so tokens made
      // before the key filter existed stay valid.
      const key = req.concurrencyKey;
      const print = filterPrint({ q: req.queue, t: taskId, s: [...states].sort(), ...(key !== "" ? { k: key } : {}) });
      const after = decodeToken(req.pageToken, print, v);
      if (v.empty) await engine.sync();
      const page = engine.queries.listRuns(
        { queue: req.queue, taskId, states, concurrencyKey: key },
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
      if (v.empty) await engine.sync();
      const page = engine.queries.listAttempts(id, { after, size: req.pageSize }, { decoded: v.list });
      return { attempts: page.items.map(attemptToPb), nextPageToken: page.next !== null ? encodeToken(page.next, print) : "" };
    },

    async cancelRun(req) {
      const run = await engine.cancelRun(idOf(req.runId));
      return { run: runToPb(run, undefined) };
    },

    async suspendRun(req, ctx) {
      const v = new Violations();
      const id = runIdOf(req.runId, "run_id", v);
      return { run: runToPb(await engine.suspendRun(id, req.reason, { decoded: v.list, signal: ctx.signal }), undefined) };
    },

    async resumeRun(req) {
      return { run: runToPb(await engine.resumeRun(idOf(req.runId)), undefined) };
    },

    async setRunPriority(req, ctx) {
      const v = new Violations();
      const id = runIdOf(req.runId, "run_id", v);
      return { run: runToPb(await engine.setRunPriority(id, req.priority, { decoded: v.list, signal: ctx.signal }), undefined) };
    },

    async *watchRuns(req, ctx) {
      const v = new Violations();
      const taskId = optionalTaskId(req.taskId, "task_id", v);
      const runId = optionalRunId(req.runId, "run_id", v);
      const states = statesOf(req.states, v);
      if (req.startRevision > BigInt(Number.MAX_SAFE_INTEGER)) v.add("start_revision", "is out of range");
      if (req.maxEventsPerMessage < 0 || req.maxEventsPerMessage > MAX_EVENTS_PER_MESSAGE) v.add("max_events_per_message", `must be 0 to ${MAX_EVENTS_PER_MESSAGE}`);
      // The slot's signal ends the engine subscription however the stream ends (see watch-stream.ts).
      const slot = watches.slot(ctx);
      // Validates the request; the subscription starts only when the stream is read.
      const stream = engine.watch(
        { queues: new Set(req.queues), ...(taskId ? { taskId } : {}), ...(runId ? { runId } : {}), states },
        Number(req.startRevision),
        {
          maxBuffer: c.config.watchBufferEvents,
          progressIntervalMs: req.progressIntervalMs,
          maxBatch: Math.max(1, req.maxEventsPerMessage),
          signal: slot.signal,
          decoded: v.list,
        },
      );
      slot.acquire();
      yield* slot.serve(stream, encoder.forStream(binaryCodec(ctx)));
    },
  };
}
