/** actionqueue.v1.AdminService: decode, one engine call, encode. */
import type { ServiceImpl } from "@connectrpc/connect";
import { RUN_STATES, type RunState } from "../../domain/state.js";
import type { AdminService } from "../../gen/actionqueue/v1/admin_service_pb.js";
import type { ServiceContext } from "../context.js";
import { callerOf } from "../auth/caller.js";
import { countsToPb, keyToPb, queueStatsToPb, queueToPb } from "../convert/views.js";
import { Violations, msToTs } from "../convert/wire.js";
import { decodeToken, encodeToken, filterPrint } from "../paging.js";

export function adminService(c: ServiceContext): ServiceImpl<typeof AdminService> {
  const { engine } = c;
  return {
    async pauseEngine() {
      return { paused: await engine.pauseEngine() };
    },
    async resumeEngine() {
      return { paused: await engine.resumeEngine() };
    },
    async pauseQueue(req) {
      return { queue: queueToPb(await engine.pauseQueue(req.queue)) };
    },
    async resumeQueue(req) {
      return { queue: queueToPb(await engine.resumeQueue(req.queue)) };
    },
    async setQueueRateLimit(req) {
      return { queue: queueToPb(await engine.setQueueRateLimit(req.queue, req.runsPerSecond, req.burst)) };
    },
    async getStats(req) {
      await engine.sync();
      const s = engine.stats(req.queues);
      const total = Object.fromEntries(RUN_STATES.map((k) => [k, 0])) as Record<RunState, number>;
      for (const q of s.queues) for (const k of RUN_STATES) total[k] += q.counts[k];
      return {
        queues: s.queues.map(queueStatsToPb),
        total: countsToPb(total),
        enginePaused: s.enginePaused,
        revision: BigInt(s.revision),
        oldestRevision: BigInt(s.oldestRevision),
        storageBytes: BigInt(s.storageBytes),
        storageQuotaBytes: BigInt(s.storageQuotaBytes),
        tasks: BigInt(s.tasks),
        startedAt: msToTs(s.startedAt),
      };
    },
    async getConcurrencyKey(req) {
      await engine.sync();
      return { key: keyToPb(engine.queries.getKey(req.key)) };
    },
    async listConcurrencyKeys(req) {
      const v = new Violations();
      const print = filterPrint({});
      const after = decodeToken(req.pageToken, print, v);
      if (v.empty) await engine.sync();
      const page = engine.queries.listKeys({ after, size: req.pageSize }, { decoded: v.list });
      return { keys: page.items.map(keyToPb), nextPageToken: page.next !== null ? encodeToken(page.next, print) : "" };
    },
    async getCaller(_req, ctx) {
      // The guard put the authenticated caller in ctx (auth/caller.ts); no second check here.
      return callerOf(ctx);
    },
  };
}
