/**
 * WatchRuns under pressure, over the network (real server process, loopback):
 *  - streams cancelled while backlogged give their slot back (the --max-watches gauge),
 *  - a client that stops reading is ended after --watch-stall-timeout even if it never reads
 *    again (RST_STREAM ENHANCE_YOUR_CALM = RESOURCE_EXHAUSTED) and its slot is freed,
 *  - many watchers during load get every event once, in order.
 * No speed assertions: waits are bounded only to catch hangs.
 */
import http2 from "node:http2";
import type * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import type { ActionQueueClients } from "../../clients/typescript/src/index.js";
import { WatchRunsRequestSchema } from "../../src/gen/actionqueue/v1/run_service_pb.js";
import { connectGrpc, connectJson, grpcJs, startServer } from "../support/server.js";

const payload = { data: new Uint8Array([1]), contentType: "application/octet-stream" };
/** Bounds waits for something that must happen; only a hang reaches it, never a slow machine. */
const HANG_MS = 30_000;

/** Submits `batches` × `size` tasks on `queue` (one event each); a batch the server sheds (OVERLOADED) is retried. */
async function flood(c: ActionQueueClients, queue: string, batches: number, size: number): Promise<void> {
  for (let i = 0; i < batches; i++) {
    for (let attempt = 0; ; attempt++) {
      try {
        await c.tasks.batchSubmitTasks({ tasks: Array.from({ length: size }, () => ({ spec: { queue, payload } })) });
        break;
      } catch (e) {
        if (!(e instanceof ConnectError && e.code === Code.ResourceExhausted) || attempt > 100) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}

/** Opens a watch and resolves once the server answered (first progress message), or rejects. */
async function openWatch(c: ActionQueueClients, signal: AbortSignal): Promise<void> {
  for await (const m of c.runs.watchRuns({ queues: ["idle"], progressIntervalMs: 100 }, { signal })) {
    if (m.kind.case === "progress") return;
  }
  throw new Error("watch ended without a message");
}

/**
 * A raw HTTP/2 WatchRuns call (gRPC framing) whose client never reads the response: a 1 KiB
 * stream window that is never opened again, so the server's writes stop draining.
 */
function rawNonReadingWatch(port: number): { closed: Promise<{ rstCode: number }>; session: http2.ClientHttp2Session } {
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 1024 } });
  session.on("error", () => {});
  const body = toBinary(WatchRunsRequestSchema, create(WatchRunsRequestSchema, { queues: ["flood"] }));
  const frame = Buffer.alloc(5 + body.byteLength);
  frame.writeUInt32BE(body.byteLength, 1);
  frame.set(body, 5);
  const stream = session.request({
    ":method": "POST",
    ":path": "/actionqueue.v1.RunService/WatchRuns",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.on("error", () => {});
  stream.pause(); // never read: no 'data' listener, never resumed
  stream.end(frame);
  const closed = new Promise<{ rstCode: number }>((resolve) => stream.on("close", () => resolve({ rstCode: stream.rstCode ?? -1 })));
  return { closed, session };
}

describe("WatchRuns hardening", () => {
  it("gives the slots of watches cancelled while backlogged back: every --max-watches slot opens again", async () => {
    const server = await startServer({ args: ["--max-watches", "5", "--watch-buffer", "1000000", "--watch-stall-timeout", "10m"] });
    const g = grpcJs(server.port);
    try {
      const c = connectGrpc(server.port);
      // Five watches whose clients stop reading after they started: the server's writes back up.
      type Call = grpc.ClientReadableStream<unknown>;
      const calls: Call[] = [];
      const started: Promise<void>[] = [];
      for (let i = 0; i < 5; i++) {
        const call = (g.runs as unknown as { watchRuns(req: object): Call }).watchRuns({ queues: ["flood"], progressIntervalMs: 100 });
        started.push(new Promise((resolve) => call.once("data", () => resolve())));
        call.on("error", () => {});
        calls.push(call);
      }
      await Promise.all(started);
      for (const call of calls) call.pause();
      // The gauge is full now.
      const refused = await openWatch(c, new AbortController().signal).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ConnectError);
      expect((refused as ConnectError).code).toBe(Code.ResourceExhausted);
      // Events the paused clients do not read: far more than their flow-control windows hold.
      await flood(c, "flood", 5, 1_000);
      for (const call of calls) call.cancel();
      // All five slots are free again (each new watch answers; none is refused).
      // The server frees the slots as it notices the cancellations: retry until all five open,
      // closing a failed attempt's watches and starting the next with fresh controllers.
      let again: AbortController[] = [];
      await vi.waitFor(
        async () => {
          again = Array.from({ length: 5 }, () => new AbortController());
          const opened = await Promise.allSettled(again.map((ac) => openWatch(c, ac.signal)));
          const failed = opened.filter((o) => o.status === "rejected");
          if (failed.length > 0) for (const ac of again) ac.abort();
          expect(failed).toEqual([]);
        },
        { timeout: HANG_MS, interval: 200 },
      );
      for (const ac of again) ac.abort();
    } finally {
      g.close();
      await server.cleanup();
    }
  });

  it("ends a watch whose client never reads again after --watch-stall-timeout and frees its slot", async () => {
    const server = await startServer({ args: ["--max-watches", "1", "--watch-buffer", "1000000", "--watch-stall-timeout", "1s"] });
    const raw = rawNonReadingWatch(server.port);
    try {
      const c = connectGrpc(server.port);
      // The only slot is taken.
      await vi.waitFor(
        async () => {
          const e = await openWatch(c, new AbortController().signal).catch((x: unknown) => x);
          expect((e as ConnectError).code).toBe(Code.ResourceExhausted);
        },
        { timeout: HANG_MS, interval: 100 },
      );
      await flood(c, "flood", 3, 1_000);
      // The client never reads, yet its stream is reset: ENHANCE_YOUR_CALM, which gRPC maps
      // to RESOURCE_EXHAUSTED.
      const { rstCode } = await raw.closed;
      expect(rstCode).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      await vi.waitFor(() => expect(server.logs.some((l) => l.includes("watch stream not read for the stall timeout"))).toBe(true), { timeout: HANG_MS });
      // Its slot is free again.
      const ac = new AbortController();
      await openWatch(c, ac.signal);
      ac.abort();
    } finally {
      raw.session.destroy();
      await server.cleanup();
    }
  });

  it("a paused gRPC client is told RESOURCE_EXHAUSTED after the stall timeout without reading on", async () => {
    const server = await startServer({ args: ["--watch-buffer", "1000000", "--watch-stall-timeout", "1s"] });
    const g = grpcJs(server.port);
    try {
      const call = (g.runs as unknown as { watchRuns(req: object): grpc.ClientReadableStream<unknown> }).watchRuns({ queues: ["flood"], progressIntervalMs: 100 });
      await new Promise<void>((resolve) => call.once("data", () => resolve()));
      call.pause();
      const ended = new Promise<grpc.ServiceError>((resolve) => call.on("error", (e: grpc.ServiceError) => resolve(e)));
      const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
      await flood(connectGrpc(server.port), "flood", 3, 1_000);
      const s = await Promise.race([status, ended]);
      expect(s.code).toBe(8); // RESOURCE_EXHAUSTED
    } finally {
      g.close();
      await server.cleanup();
    }
  });

  it("ends a too-slow watch with RESOURCE_EXHAUSTED / WATCH_TOO_SLOW over Connect JSON too (shared messages, not shared bytes)", async () => {
    const server = await startServer({ args: ["--watch-buffer", "50", "--watch-stall-timeout", "1m"] });
    try {
      const j = connectJson(server.port);
      const it = j.runs.watchRuns({ queues: ["flood"], startRevision: 1n })[Symbol.asyncIterator]();
      await flood(connectGrpc(server.port), "flood", 2, 500);
      const err = await (async () => {
        for (;;) {
          const n = await it.next();
          if (n.done) return null;
          expect(n.value.kind.case).toBe("event");
          await new Promise((r) => setTimeout(r, 20)); // a slow reader
        }
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.ResourceExhausted);
      expect((err as ConnectError).message).toContain("fell more than 50 events behind");
    } finally {
      await server.cleanup();
    }
  });

  it("50 watchers during load each get every event exactly once, in order (history then live)", async () => {
    const server = await startServer();
    try {
      const producer = connectGrpc(server.port);
      await flood(producer, "load", 2, 100); // some history
      const clients = Array.from({ length: 5 }, () => connectGrpc(server.port));
      const watchers = Array.from({ length: 50 }, () => ({ revisions: [] as number[], ac: new AbortController() }));
      let target = Number.MAX_SAFE_INTEGER;
      const done = watchers.map(async (w, i) => {
        const c = clients[i % clients.length] as ActionQueueClients;
        try {
          for await (const m of c.runs.watchRuns({ startRevision: 1n, progressIntervalMs: 100 }, { signal: w.ac.signal })) {
            if (m.kind.case === "event") w.revisions.push(Number(m.kind.value.revision));
            const last = m.kind.case === "event" ? Number(m.kind.value.revision) : m.kind.case === "progress" ? Number(m.kind.value.revision) : 0;
            if (last >= target) return;
          }
        } catch (e) {
          if (!(e instanceof ConnectError && e.code === Code.Canceled)) throw e;
        }
      });
      await Promise.all([flood(producer, "load", 20, 50), flood(producer, "load2", 20, 25)]);
      target = Number((await producer.admin.getStats({})).revision);
      const all = Promise.all(done);
      const timer = setTimeout(() => {
        for (const w of watchers) w.ac.abort();
      }, HANG_MS);
      await all;
      clearTimeout(timer);
      const expected = Array.from({ length: target }, (_, i) => i + 1);
      for (const w of watchers) expect(w.revisions).toEqual(expected);
    } finally {
      await server.cleanup();
    }
  });

  it("max_events_per_message: a watcher behind gets several events per message, each once and in order, in binary and JSON", async () => {
    const server = await startServer();
    try {
      const producer = connectGrpc(server.port);
      await flood(producer, "batched", 3, 200);
      const head = Number((await producer.admin.getStats({})).revision);
      for (const c of [connectGrpc(server.port), connectJson(server.port)]) {
        const revisions: number[] = [];
        let batches = 0;
        const ac = new AbortController();
        for await (const m of c.runs.watchRuns({ startRevision: 1n, maxEventsPerMessage: 50 }, { signal: ac.signal })) {
          if (m.kind.case === "events") {
            batches++;
            expect(m.kind.value.events.length).toBeGreaterThanOrEqual(2);
            expect(m.kind.value.events.length).toBeLessThanOrEqual(50);
            revisions.push(...m.kind.value.events.map((e) => Number(e.revision)));
          } else if (m.kind.case === "event") revisions.push(Number(m.kind.value.revision));
          if ((revisions.at(-1) ?? 0) >= head) break;
        }
        ac.abort();
        expect(revisions).toEqual(Array.from({ length: head }, (_, i) => i + 1));
        expect(batches).toBeGreaterThan(0); // 600 events of history come in batches
      }
      // Out of range is refused.
      const err = await (async () => {
        for await (const _ of producer.runs.watchRuns({ maxEventsPerMessage: 1_001 })) {
          // must not stream
        }
      })().catch((e: unknown) => e);
      expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    } finally {
      await server.cleanup();
    }
  });
});
