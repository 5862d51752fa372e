/**
 * Streams and long polls over the network: WatchRuns progress, OUT_OF_RANGE for purged
 * history, RESOURCE_EXHAUSTED for a reader that stops reading, and long polls whose client
 * went away leave nothing behind (they never lease a run).
 */
import type * as grpc from "@grpc/grpc-js";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { connectGrpc, grpcErrorDetails, grpcJs, startServer } from "../support/server.js";

const payload = { data: new Uint8Array([1]), contentType: "application/octet-stream" };
/** Bounds waits for something that must happen; only a hang reaches it, never a slow machine. */
const HANG_MS = 30_000;

describe("WatchRuns over the network", () => {
  it("sends progress with the current revision while nothing matches", async () => {
    const server = await startServer();
    try {
      const c = connectGrpc(server.port);
      await c.tasks.submitTask({ spec: { queue: "elsewhere", payload } });
      const head = (await c.admin.getStats({})).revision;
      const ac = new AbortController();
      const seen: bigint[] = [];
      for await (const m of c.runs.watchRuns({ queues: ["nothing"], progressIntervalMs: 100 }, { signal: ac.signal })) {
        if (m.kind.case === "progress") seen.push(m.kind.value.revision);
        if (seen.length === 2) break;
      }
      ac.abort();
      expect(seen.every((r) => r === head)).toBe(true);
    } finally {
      await server.cleanup();
    }
  });

  it("answers OUT_OF_RANGE naming the oldest revision when history was purged", async () => {
    const server = await startServer({ args: ["--retention", "500ms", "--purge-interval", "100ms"] });
    try {
      const c = connectGrpc(server.port);
      await c.tasks.submitTask({ spec: { queue: "old", payload } });
      // Wait for the purge itself (however long the machine takes), not a fixed time.
      await vi.waitFor(async () => expect((await c.admin.getStats({})).oldestRevision).toBeGreaterThan(1n), { timeout: HANG_MS, interval: 50 });
      await c.tasks.submitTask({ spec: { queue: "new", payload } });
      // Purges go on every 100 ms, so the oldest revision may move while the watch is refused:
      // the one it names lies between what the stats said just before and just after.
      const before = (await c.admin.getStats({})).oldestRevision;
      const err = await (async () => {
        for await (const _ of c.runs.watchRuns({ startRevision: 1n })) {
          // must not stream
        }
      })().catch((e: unknown) => e as ConnectError);
      const after = (await c.admin.getStats({})).oldestRevision;
      expect(before).toBeGreaterThan(1n);
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.OutOfRange);
      const info = (err as ConnectError).findDetails(ErrorInfoSchema)[0];
      expect(info?.reason).toBe("REVISION_PURGED");
      const named = BigInt(info?.metadata.oldest_revision ?? "0");
      expect(named >= before && named <= after, `oldest_revision ${named} not within [${before}, ${after}]`).toBe(true);
    } finally {
      await server.cleanup();
    }
  });

  it("ends a stream whose reader stopped reading with RESOURCE_EXHAUSTED instead of buffering", async () => {
    const server = await startServer({ args: ["--watch-buffer", "50"] });
    const g = grpcJs(server.port);
    try {
      const call = (g.runs as unknown as { watchRuns(req: object): grpc.ClientReadableStream<unknown> }).watchRuns({ startRevision: "0" });
      let received = 0;
      call.on("data", () => {
        received++;
      });
      call.pause(); // the client stops reading: HTTP/2 flow control pushes back on the server
      const ended = new Promise<grpc.ServiceError>((resolve) => call.on("error", (e: grpc.ServiceError) => resolve(e)));
      const c = connectGrpc(server.port);
      for (let i = 0; i < 6; i++) {
        await c.tasks.batchSubmitTasks({ tasks: Array.from({ length: 1_000 }, () => ({ spec: { queue: "flood", payload } })) });
      }
      call.resume();
      const e = await ended;
      expect(e.code).toBe(8); // RESOURCE_EXHAUSTED
      expect((await grpcErrorDetails(e)).reason).toBe("WATCH_TOO_SLOW");
      // Not a speed bound: each batch of 1,000 events overflows the 50-event buffer in one go.
      expect(received).toBeLessThan(6_000);
      // The server is fine and a new watch can resume.
      const stats = await c.admin.getStats({ queues: ["flood"] });
      expect(stats.queues[0]?.runs?.ready).toBe(6_000n);
    } finally {
      g.close();
      await server.cleanup();
    }
  });
});

describe("long polls", () => {
  it("a long poll whose client went away never leases a run; a live worker gets it at once", async () => {
    const server = await startServer();
    try {
      const c = connectGrpc(server.port);
      const gone = Array.from({ length: 20 }, () => new AbortController());
      const polls = gone.map((ac) =>
        c.workers.leaseRuns({ queues: ["ghosts"], workerId: "ghost", wait: { seconds: 30n } }, { signal: ac.signal }).catch((e: unknown) => e),
      );
      // Time for the polls to reach the server and wait; if some have not, they are simply
      // not waiting, and nothing below can fail because of it.
      await new Promise((r) => setTimeout(r, 300));
      for (const ac of gone) ac.abort();
      const outcomes = await Promise.all(polls);
      expect(outcomes.every((o) => o instanceof ConnectError && o.code === Code.Canceled)).toBe(true);
      // No pause needed for the server to notice: every call here shares one HTTP/2
      // connection, so the ghosts' stream resets reach the server before the calls below.
      const live = c.workers.leaseRuns({ queues: ["ghosts"], workerId: "alive", wait: { seconds: BigInt(HANG_MS / 1_000) } });
      // Time for the live poll to start waiting (if it has not, it leases on its first try).
      await new Promise((r) => setTimeout(r, 100));
      await c.tasks.submitTask({ spec: { queue: "ghosts", payload } });
      // A long poll whose wait runs out is answered with no runs, so getting the run means the
      // submit woke it (no elapsed-time bound needed).
      const got = await live;
      expect(got.runs).toHaveLength(1);
      expect(got.runs[0]?.run?.lease?.workerId).toBe("alive");
      const stats = await c.admin.getStats({ queues: ["ghosts"] });
      expect(stats.queues[0]?.runs?.leased).toBe(1n);
    } finally {
      await server.cleanup();
    }
  });
});
