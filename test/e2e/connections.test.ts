/**
 * Connection hardening (src/server/connections.ts), against real server processes with raw
 * node:http2 / node:net clients on loopback:
 *  - rapid reset (CVE-2023-44487 style) with the client reconnecting after each GOAWAY, under
 *    `ulimit -n 128`: the abusive connections are closed, descriptors come back, others are served;
 *  - a flood of streams past the advertised limit: refused, memory bounded, health answers;
 *  - idle HTTP/2 and HTTP/1.1 connections and silent TCP sockets are closed, while a long poll
 *    and a watch on an otherwise idle connection are not cut;
 *  - a stalled upload is reset after the stall timeout;
 *  - past --max-connections, a connection is accepted and closed at once.
 * Time bounds are generous: they check that things end, not how fast.
 */
import { readdirSync, readFileSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectGrpc, type ServerProcess, startServer } from "../support/server.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HEALTH = "/grpc.health.v1.Health/Check";

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) / 1024;
}

/** Polls `check` every 100 ms until it is true or `ms` passed; returns its last value. */
async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await sleep(100);
  }
  return check();
}

/** A gRPC unary call on `session` with an empty message; resolves with its grpc-status. */
function grpcStatus(session: http2.ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    let status: string | undefined;
    req.on("response", (h) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
    });
    req.on("trailers", (h) => {
      status = String(h["grpc-status"]);
    });
    req.on("error", reject);
    req.on("close", () => resolve(status));
    req.resume();
    req.end(Buffer.alloc(5));
  });
}

/** Health/Check on a fresh HTTP/2 connection (closed afterwards). */
async function healthOnNewConnection(port: number, timeoutMs = 10_000): Promise<string | undefined> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => undefined);
  try {
    return await Promise.race([grpcStatus(session, HEALTH), sleep(timeoutMs).then(() => "timeout")]);
  } finally {
    session.destroy();
  }
}

/**
 * Resolves when `socket` closes, with the milliseconds it took; "open" after `ms`. The socket
 * is read (and the bytes dropped) so that data left unread cannot hold back its end.
 */
function closedWithin(socket: net.Socket, ms: number): Promise<number | "open"> {
  const started = Date.now();
  socket.resume();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("open"), ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

/** HPACK: a literal header field without indexing, new name (lengths below 127, no Huffman). */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** A HEADERS frame (END_HEADERS, no END_STREAM) opening a gRPC call to `path` with no body. */
function openStream(streamId: number, path: string): Buffer {
  const block = Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http
    literal(":path", path),
    literal(":authority", "127.0.0.1"),
    literal("content-type", "application/grpc"),
    literal("te", "trailers"),
  ]);
  return frame(0x1, 0x4, streamId, block);
}

describe("rapid reset with reconnects under ulimit -n 128", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ maxOpenFiles: 128 });
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it("ends each abusive connection (GOAWAY, then closed), keeps serving, and gives back its descriptors", async () => {
    const pid = server.child.pid as number;
    expect(await healthOnNewConnection(server.port)).toBe("0");
    await sleep(300);
    const baseline = fdCount(pid);

    let goaways = 0;
    let connections = 0;
    // Five abusive connections ended by the server (or 20 s, whichever comes first).
    const until = Date.now() + 20_000;
    while (goaways < 5 && Date.now() < until) {
      connections++;
      const session = http2.connect(`http://127.0.0.1:${server.port}`);
      session.on("error", () => undefined);
      session.on("goaway", () => goaways++);
      const ended = new Promise<void>((resolve) => session.once("close", () => resolve()));
      await Promise.race([new Promise((r) => session.once("connect", r)), ended]);
      for (let i = 0; i < 5_000 && !session.closed && !session.destroyed && Date.now() < until; i++) {
        try {
          const req = session.request({ ":method": "POST", ":path": HEALTH, "content-type": "application/grpc" });
          req.on("error", () => undefined);
          req.close(http2.constants.NGHTTP2_CANCEL);
        } catch {
          break;
        }
        if (i % 50 === 49) await new Promise((r) => setImmediate(r));
      }
      // Reconnect at once after the GOAWAY (or when the session ends); leave the old one to the server.
      await Promise.race([ended, new Promise((r) => session.once("goaway", r)), sleep(2_000)]);
      session.destroy();
    }
    expect(connections).toBeGreaterThanOrEqual(3);
    expect(goaways).toBeGreaterThanOrEqual(3);
    // Served on a new connection, and descriptors back near the baseline.
    expect(await healthOnNewConnection(server.port)).toBe("0");
    const back = await eventually(() => fdCount(pid) <= baseline + 4, 15_000);
    expect({ back, fds: fdCount(pid), baseline }).toMatchObject({ back: true });
    expect(server.stderr()).not.toMatch(/Error|Warning/);
  });
});

describe("stream flood past the advertised limit", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ args: ["--max-streams-per-connection", "100"] });
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it("advertises MAX_CONCURRENT_STREAMS, refuses the rest, keeps memory bounded and answers health meanwhile", async () => {
    const pid = server.child.pid as number;
    // The advertised limit, as a well-behaved client sees it.
    const probe = http2.connect(`http://127.0.0.1:${server.port}`);
    probe.on("error", () => undefined);
    const settings = await new Promise<http2.Settings>((r) => probe.once("remoteSettings", r));
    expect(settings.maxConcurrentStreams).toBe(100);
    probe.destroy();

    const rssBefore = rssMiB(pid);
    const socket = net.connect(server.port, "127.0.0.1");
    socket.on("error", () => undefined);
    let received = 0;
    socket.on("data", (d: Buffer) => {
      received += d.length;
    });
    const closed = closedWithin(socket, 30_000);
    await new Promise((r) => socket.once("connect", r));
    socket.write(Buffer.concat([PREFACE, frame(0x4, 0, 0, Buffer.alloc(0))]));
    const frames: Buffer[] = [];
    for (let i = 0; i < 20_000; i++) frames.push(openStream(1 + 2 * i, HEALTH));
    socket.write(Buffer.concat(frames));
    // Health from another connection while the flood is handled.
    expect(await healthOnNewConnection(server.port)).toBe("0");
    // The flooding connection is ended (too many refused streams) or its streams refused.
    expect(await closed).not.toBe("open");
    expect(received).toBeGreaterThan(0);
    expect(rssMiB(pid) - rssBefore).toBeLessThan(200);
    expect(await healthOnNewConnection(server.port)).toBe("0");
  });
});

describe("idle, silent and stalled connections", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ args: ["--idle-timeout", "1s", "--handshake-timeout", "1s", "--stall-timeout", "1s"] });
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it("closes an idle HTTP/2 connection after the idle timeout (GOAWAY)", async () => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    session.on("error", () => undefined);
    let goaway = false;
    session.on("goaway", () => (goaway = true));
    expect(await grpcStatus(session, HEALTH)).toBe("0");
    const closed = await new Promise<number | "open">((resolve) => {
      const t = setTimeout(() => resolve("open"), 10_000);
      session.once("close", () => {
        clearTimeout(t);
        resolve(0);
      });
    });
    expect(closed).not.toBe("open");
    expect(goaway).toBe(true);
  });

  it("closes an idle HTTP/1.1 keep-alive connection after the idle timeout", async () => {
    const socket = net.connect(server.port, "127.0.0.1");
    socket.on("error", () => undefined);
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    const closed = closedWithin(socket, 10_000);
    socket.write("POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    expect(await closed).not.toBe("open");
    expect(text).toMatch(/^HTTP\/1\.1 200/);
  });

  it("closes a TCP connection that sends nothing, or never completes its request headers, after the handshake timeout", async () => {
    const silent = net.connect(server.port, "127.0.0.1");
    silent.on("error", () => undefined);
    const partialH1 = net.connect(server.port, "127.0.0.1");
    partialH1.on("error", () => undefined);
    partialH1.write("POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\n");
    const partialH2 = net.connect(server.port, "127.0.0.1");
    partialH2.on("error", () => undefined);
    partialH2.write("PRI * HTTP/2.0\r\n");
    const results = await Promise.all([closedWithin(silent, 10_000), closedWithin(partialH1, 10_000), closedWithin(partialH2, 10_000)]);
    expect(results.map((r) => r === "open")).toEqual([false, false, false]);
  });

  it("closes a keep-alive HTTP/1.1 connection whose second request never completes its headers, after the handshake timeout", async () => {
    // A long idle timeout, so that only the headers timeout can close the connection.
    const patient = await startServer({ args: ["--idle-timeout", "120s", "--handshake-timeout", "1s"] });
    try {
      await secondRequestCut(patient.port);
    } finally {
      await patient.cleanup();
    }
  });

  async function secondRequestCut(port: number): Promise<void> {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => undefined);
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    socket.write("POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    expect(await eventually(() => /^HTTP\/1\.1 200/.test(text) && text.includes("SERVING"), 10_000)).toBe(true);
    // The second request's headers never end: Node's headersTimeout (the handshake timeout)
    // must cut it, which it only checks on a server whose connection tracking was started.
    socket.write("POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\n");
    expect(await closedWithin(socket, 10_000)).not.toBe("open");
  }

  it("does not cut a long poll or a watch on an otherwise idle connection", async () => {
    const c = connectGrpc(server.port);
    const started = Date.now();
    const leased = await c.workers.leaseRuns({ queues: ["idle-test"], workerId: "w", maxRuns: 1, leaseDuration: { seconds: 30n }, wait: { seconds: 3n } });
    expect(leased.runs).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_500);

    // A server stream (Health/Watch) held for 3 s: no data flows after the first message.
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    session.on("error", () => undefined);
    const req = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Watch", "content-type": "application/grpc", te: "trailers" });
    let rst: number | null = null;
    req.on("close", () => (rst = req.rstCode));
    req.on("error", () => undefined);
    req.resume();
    req.end(Buffer.alloc(5));
    await sleep(3_000);
    expect(rst).toBeNull();
    expect(session.closed).toBe(false);
    req.close(http2.constants.NGHTTP2_CANCEL);
    session.close();
  });

  it("resets an upload that stalls (HTTP/2 stream and HTTP/1.1 connection)", async () => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    session.on("error", () => undefined);
    const req = session.request({ ":method": "POST", ":path": "/actionqueue.v1.TaskService/SubmitTask", "content-type": "application/grpc", te: "trailers" });
    req.on("error", () => undefined);
    req.resume();
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(4 * 1024 * 1024 - 1024, 1);
    req.write(Buffer.concat([prefix, Buffer.alloc(64 * 1024)]));
    const h2Closed = await new Promise<number | "open">((resolve) => {
      const t = setTimeout(() => resolve("open"), 10_000);
      req.once("close", () => {
        clearTimeout(t);
        resolve(req.rstCode ?? 0);
      });
    });
    expect(h2Closed).not.toBe("open");
    session.destroy();

    const socket = net.connect(server.port, "127.0.0.1");
    socket.on("error", () => undefined);
    const closed = closedWithin(socket, 10_000);
    socket.write(`POST /actionqueue.v1.TaskService/SubmitTask HTTP/1.1\r\nHost: x\r\nContent-Type: application/proto\r\nContent-Length: ${4 * 1024 * 1024 - 1024}\r\n\r\n`);
    socket.write(Buffer.alloc(64 * 1024));
    expect(await closed).not.toBe("open");
    expect(await healthOnNewConnection(server.port)).toBe("0");
  });
});

describe("connection cap", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ args: ["--max-connections", "5"] });
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it("accepts and closes at once a connection past --max-connections; serves again once one closes", async () => {
    const held: http2.ClientHttp2Session[] = [];
    for (let i = 0; i < 5; i++) {
      const s = http2.connect(`http://127.0.0.1:${server.port}`);
      s.on("error", () => undefined);
      held.push(s);
      expect(await grpcStatus(s, HEALTH)).toBe("0");
    }
    const extra = net.connect(server.port, "127.0.0.1");
    extra.on("error", () => undefined);
    expect(await closedWithin(extra, 5_000)).not.toBe("open");
    for (const s of held) s.destroy();
    await sleep(300);
    expect(await healthOnNewConnection(server.port)).toBe("0");
  });
});

describe("shutdown with an idle HTTP/1.1 keep-alive connection", () => {
  it("does not wait out the grace period for a connection with nothing in flight", async () => {
    // A grace far longer than the test's bound: the exit must come from closing the idle
    // connection, not from the grace period running out.
    const server = await startServer({ args: ["--shutdown-grace", "300s", "--idle-timeout", "300s"] });
    try {
      const socket = net.connect(server.port, "127.0.0.1");
      socket.on("error", () => undefined);
      let text = "";
      socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
      socket.write("POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
      expect(await eventually(() => text.includes("SERVING"), 10_000)).toBe(true);
      const closed = closedWithin(socket, 120_000);
      const exit = await Promise.race([server.stop("SIGTERM"), sleep(120_000).then(() => "still running" as const)]);
      expect(exit).toBe(0);
      expect(await closed).not.toBe("open");
    } finally {
      await server.cleanup();
    }
  });
});
