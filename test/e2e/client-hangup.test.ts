/**
 * A client hanging up is not a server error (SPEC §12): a watch stream closed by its reader,
 * a long poll abandoned mid-wait, a process killed mid-call (`buf curl` and Ctrl-C) — on every
 * protocol — leave no error- or warning-level line in the server's log, and the server keeps
 * serving.
 */
import { spawn } from "node:child_process";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ActionQueueClients, LeaseRunsRequestSchema, WatchRunsRequestSchema } from "../../clients/typescript/src/index.js";
import { ServerReflectionRequestSchema } from "../../src/gen/grpc/reflection/v1/reflection_pb.js";
import { connectGrpc, connectJson, grpcJs, type GrpcJsClients, type ServerProcess, startServer, unary } from "../support/server.js";

const ROOT = join(import.meta.dirname, "..", "..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: ServerProcess;
let g: GrpcJsClients;
beforeAll(async () => {
  server = await startServer();
  g = grpcJs(server.port);
});
afterAll(async () => {
  g.close();
  await server.cleanup();
});

/** Log lines (parsed) at `level` or above, from index `from` on. */
function linesAtOrAbove(level: number, from = 0): Array<Record<string, unknown>> {
  return server.logs
    .slice(from)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => typeof l.level === "number" && l.level >= level);
}

/** Waits until the server has seen the hang-up: the call's log lines (if any) are written. */
async function settle(): Promise<void> {
  await sleep(500);
}

/** The server still answers: health SERVING and a submit/get round trip. */
async function expectHealthy(): Promise<void> {
  await expect(unary(g.health, "check", { service: "" })).resolves.toEqual({ status: "SERVING" });
  const c = connectGrpc(server.port);
  const t = await c.tasks.submitTask({ spec: { queue: "after-hangup", payload: { data: new Uint8Array([1]), contentType: "application/octet-stream" } } });
  expect((await c.tasks.getTask({ taskId: t.task?.id ?? "" })).task?.id).toBe(t.task?.id);
}

/** Runs `hangUp`, then checks that no warn/error/fatal line appeared and the server is healthy. */
async function expectQuietHangUp(hangUp: () => Promise<void>): Promise<void> {
  const from = server.logs.length;
  await hangUp();
  await settle();
  expect(linesAtOrAbove(40, from)).toEqual([]);
  await expectHealthy();
}

/** Opens a gRPC call on `session` writing one message; the request body ends only if `end`. */
function grpcCall(session: http2.ClientHttp2Session, path: string, message: Uint8Array, end: boolean): http2.ClientHttp2Stream {
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
  req.on("error", () => {});
  req.resume();
  if (end) req.end(frame);
  else req.write(frame);
  return req;
}

/** A call promise that settles either way (its rejection is the expected cancellation). */
const settled = (p: Promise<unknown>) => p.then(
  () => undefined,
  () => undefined,
);

const connectKinds: Array<[string, () => ActionQueueClients]> = [
  ["Connect over gRPC (HTTP/2)", () => connectGrpc(server.port)],
  ["Connect JSON (HTTP/1.1)", () => connectJson(server.port)],
];

describe("a client hanging up is not a server error", () => {
  it.each(connectKinds)("closing a WatchRuns stream: %s", async (_, clients) => {
    await expectQuietHangUp(async () => {
      const ac = new AbortController();
      const c = clients();
      const watching = settled(
        (async () => {
          for await (const _m of c.runs.watchRuns({ queues: ["hangup"], progressIntervalMs: 100 }, { signal: ac.signal })) {
            // progress messages until the abort
          }
        })(),
      );
      await sleep(400);
      ac.abort();
      await watching;
    });
  });

  it.each(connectKinds)("aborting a LeaseRuns long poll (wait 5s): %s", async (_, clients) => {
    await expectQuietHangUp(async () => {
      const ac = new AbortController();
      const polling = settled(clients().workers.leaseRuns({ queues: ["hangup-idle"], workerId: "w", wait: { seconds: 5n } }, { signal: ac.signal }));
      await sleep(400);
      ac.abort();
      await polling;
    });
  });

  it("cancelling a WatchRuns stream and a LeaseRuns long poll: grpc-js", async () => {
    await expectQuietHangUp(async () => {
      const watch = (g.runs as unknown as { watchRuns(req: object): grpc.ClientReadableStream<unknown> }).watchRuns({ queues: ["hangup"], progressIntervalMs: 100 });
      watch.on("data", () => {});
      const watchEnded = new Promise<void>((resolve) => watch.on("error", () => resolve()).on("end", () => resolve()));
      const poll = (g.workers as unknown as { leaseRuns(req: object, cb: (e: unknown) => void): grpc.ClientUnaryCall }).leaseRuns(
        { queues: ["hangup-idle"], workerId: "w", wait: { seconds: 5 } },
        () => {},
      );
      await sleep(400);
      watch.cancel();
      poll.cancel();
      await watchEnded;
    });
  });

  it.each<[string, "reset" | "drop"]>([
    ["every stream reset with CANCEL", "reset"],
    ["a client process killed: the connection dropped without a reset", "drop"],
  ])("raw HTTP/2 gRPC, request bodies still open (reflection, WatchRuns, LeaseRuns): %s", async (_, how) => {
    await expectQuietHangUp(async () => {
      const socket = net.connect(server.port, "127.0.0.1");
      socket.on("error", () => {});
      const session = http2.connect(server.url, { createConnection: () => socket });
      session.on("error", () => {});
      // Like buf curl: the reflection stream stays open (it is bidirectional), and calls are
      // in flight when the process goes away. Each request's body is written but not ended,
      // except the last WatchRuns and LeaseRuns, which are running.
      const streams = [
        grpcCall(session, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", toBinary(ServerReflectionRequestSchema, create(ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } })), false),
        grpcCall(session, "/actionqueue.v1.RunService/WatchRuns", toBinary(WatchRunsRequestSchema, create(WatchRunsRequestSchema, { queues: ["hangup"], progressIntervalMs: 100 })), false),
        grpcCall(session, "/actionqueue.v1.RunService/WatchRuns", toBinary(WatchRunsRequestSchema, create(WatchRunsRequestSchema, { queues: ["hangup"], progressIntervalMs: 100 })), true),
        grpcCall(session, "/actionqueue.v1.WorkerService/LeaseRuns", toBinary(LeaseRunsRequestSchema, create(LeaseRunsRequestSchema, { queues: ["hangup-idle"], workerId: "w", wait: { seconds: 5n } })), true),
      ];
      await sleep(400);
      if (how === "reset") {
        for (const st of streams) st.close(http2.constants.NGHTTP2_CANCEL);
        await sleep(100);
        session.close();
      } else {
        socket.destroy();
      }
    });
  });

  it("Ctrl-C on buf curl in a WatchRuns stream and in a LeaseRuns long poll", async () => {
    await expectQuietHangUp(async () => {
      // Ctrl-C signals the terminal's foreground process group: buf's Node launcher and the
      // buf binary it runs. Each buf curl gets a group of its own (detached) to signal.
      const bufCurl = (path: string, body: object) =>
        spawn(join(ROOT, "node_modules", ".bin", "buf"), ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", JSON.stringify(body), `${server.url}${path}`], {
          cwd: ROOT,
          detached: true,
          stdio: ["ignore", "pipe", "pipe"],
        });
      const watch = bufCurl("/actionqueue.v1.RunService/WatchRuns", { queues: ["hangup"], progressIntervalMs: 100 });
      const poll = bufCurl("/actionqueue.v1.WorkerService/LeaseRuns", { queues: ["hangup-idle"], workerId: "w", wait: "5s" });
      const exited = [watch, poll].map((child) => new Promise<void>((resolve) => child.on("exit", () => resolve())));
      // The watch is streaming once its first progress message is out; then Ctrl-C both.
      await new Promise<void>((resolve) => {
        watch.stdout.once("data", () => resolve());
        watch.on("exit", () => resolve());
      });
      poll.stdout.resume();
      await sleep(300);
      for (const child of [watch, poll]) {
        try {
          process.kill(-(child.pid as number), "SIGINT");
        } catch {
          // already gone
        }
      }
      await Promise.all(exited);
    });
  });

  it("a client process killed mid-call (connection dropped): HTTP/1.1 Connect", async () => {
    await expectQuietHangUp(async () => {
      const req = http.request({
        host: "127.0.0.1",
        port: server.port,
        path: "/actionqueue.v1.WorkerService/LeaseRuns",
        method: "POST",
        headers: { "content-type": "application/json" },
      });
      req.on("error", () => {});
      req.end(JSON.stringify({ queues: ["hangup-idle"], workerId: "w", wait: "5s" }));
      await sleep(400);
      req.destroy();
    });
  });
});
