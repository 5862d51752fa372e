/** actionqueue.v1.AdminService over the engine. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { RunId } from "../../domain/ids.js";
import type { RunState } from "../../domain/state.js";
import { checkConcurrencyKey, checkQueueName } from "../../domain/task-spec.js";
import { type AdminService, type ConcurrencyKeyInfo, ConcurrencyKeyInfoSchema, RunCountsSchema } from "../../gen/actionqueue/v1/admin_service_pb.js";
import { KeyHold } from "../../gen/actionqueue/v1/run_pb.js";
import type { ServiceContext } from "../context.js";
import { Violations, msToTs, queueToPb, stateToPb } from "../convert.js";
import { badRequest } from "../errors.js";
import { decodeToken, encodeToken, filterPrint, pageSize } from "../paging.js";

function counts(c: Record<RunState, number>) {
  return create(RunCountsSchema, {
    scheduled: BigInt(c.SCHEDULED),
    ready: BigInt(c.READY),
    leased: BigInt(c.LEASED),
    running: BigInt(c.RUNNING),
    retryWait: BigInt(c.RETRY_WAIT),
    suspended: BigInt(c.SUSPENDED),
    completed: BigInt(c.COMPLETED),
    failed: BigInt(c.FAILED),
    canceled: BigInt(c.CANCELED),
  });
}

export function adminService(c: ServiceContext): ServiceImpl<typeof AdminService> {
  const { engine } = c;
  const r = engine.reader;
  const queueOf = (name: string) => {
    const v = new Violations();
    checkQueueName(v.list, "queue", name);
    if (!v.empty) throw badRequest(v.list);
    return name;
  };
  const keyInfo = (key: string): ConcurrencyKeyInfo =>
    create(ConcurrencyKeyInfoSchema, {
      key,
      holders: r.keyHolders(key).map((h) => {
        const run = r.getRun(h.runId as RunId);
        return {
          runId: h.runId,
          hold: h.hold === "HELD" ? KeyHold.HELD : KeyHold.RESERVED,
          since: msToTs(h.since),
          ...(run ? { state: stateToPb(run.state) } : {}),
          slots: h.slots,
        };
      }),
    });
  return {
    async pauseEngine() {
      return { paused: await engine.pauseEngine() };
    },
    async resumeEngine() {
      return { paused: await engine.resumeEngine() };
    },
    async pauseQueue(req) {
      return { queue: queueToPb(await engine.pauseQueue(queueOf(req.queue))) };
    },
    async resumeQueue(req) {
      return { queue: queueToPb(await engine.resumeQueue(queueOf(req.queue))) };
    },
    async setQueueRateLimit(req) {
      const v = new Violations();
      checkQueueName(v.list, "queue", req.queue);
      if (!Number.isFinite(req.runsPerSecond) || req.runsPerSecond < 0 || req.runsPerSecond > 1_000_000 || (req.runsPerSecond > 0 && req.runsPerSecond < 0.001)) {
        v.add("runs_per_second", "must be 0 (no limit) or 0.001 to 1000000");
      }
      if (req.burst < 0 || req.burst > 1_000_000) v.add("burst", "must be 0 to 1000000");
      if (!v.empty) throw badRequest(v.list);
      return { queue: queueToPb(await engine.setQueueRateLimit(req.queue, req.runsPerSecond, req.burst)) };
    },
    async getStats(req) {
      const v = new Violations();
      req.queues.forEach((q, i) => checkQueueName(v.list, `queues[${i}]`, q));
      if (req.queues.length > 1_000) v.add("queues", "at most 1000 queues");
      if (!v.empty) throw badRequest(v.list);
      const s = engine.stats(req.queues);
      const total = Object.fromEntries(["SCHEDULED", "READY", "LEASED", "RUNNING", "RETRY_WAIT", "SUSPENDED", "COMPLETED", "FAILED", "CANCELED"].map((k) => [k, 0])) as Record<RunState, number>;
      for (const q of s.queues) for (const [k, n] of Object.entries(q.counts)) total[k as RunState] += n;
      return {
        queues: s.queues.map((q) => ({ queue: queueToPb(q.queue), runs: counts(q.counts) })),
        total: counts(total),
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
      const v = new Violations();
      checkConcurrencyKey(v.list, "key", req.key);
      if (!v.empty) throw badRequest(v.list);
      return { key: keyInfo(req.key) };
    },
    async listConcurrencyKeys(req) {
      const v = new Violations();
      const size = pageSize(req.pageSize, engine.limits.maxPageSize, v);
      const print = filterPrint({});
      const after = decodeToken(req.pageToken, print, v);
      if (!v.empty) throw badRequest(v.list);
      const keys = r.occupiedKeys(after, size + 1);
      const page = keys.slice(0, size);
      const last = page.at(-1);
      return { keys: page.map(keyInfo), nextPageToken: keys.length > size && last !== undefined ? encodeToken(last, print) : "" };
    },
  };
}
