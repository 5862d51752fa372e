/**
 * createClient against the real server: each protocol (gRPC, Connect, gRPC-Web) submits and
 * reads back and throws typed errors decoded from what that protocol carries (trailers,
 * JSON error body, gRPC-Web trailer frame); `token` and `headers` reach the wire (seen
 * through a forwarding HTTP/2 proxy); TLS options; errors real server calls produce.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ActionQueueClients,
  ActionQueueError,
  AttemptOutcome,
  AttemptStateError,
  InvalidArgumentError,
  LeaseLostError,
  RunNotFoundError,
  TaskConflictError,
  createClient,
} from "../../../clients/typescript/src/index.js";
import { createWebClient, watchRuns } from "../../../clients/typescript/src/web.js";
import { type ServerProcess, startServer } from "../../support/server.js";
import { type H2Proxy, startH2Proxy } from "./h2-proxy.js";

const MISSING_RUN = "00000000-0000-7000-8000-000000000001";
const payload = (s: string) => ({ data: new TextEncoder().encode(s), contentType: "text/plain" });

let server: ServerProcess;
beforeAll(async () => {
  // A short grace: the server waits it out for idle HTTP/1.1 keep-alive connections (fetch's)
  // on shutdown, which would otherwise add 10 s to cleanup.
  server = await startServer({ args: ["--shutdown-grace", "2s"] });
});
afterAll(async () => {
  await server.cleanup();
});

/** The rejection of `p` (fails the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? String(x) : x))}`);
    },
    (e: unknown) => e,
  );
}

describe.each([
  ["grpc", undefined],
  ["connect", undefined],
  ["connect", "1.1"],
  ["grpc-web", undefined],
  ["grpc-web", "1.1"],
] as const)("createClient over %s (HTTP %s)", (protocol, httpVersion) => {
  const label = `${protocol}-${httpVersion ?? "2"}`;
  let aq: ActionQueueClients;
  beforeAll(() => {
    aq = createClient(server.url, { protocol, httpVersion, timeoutMs: 30_000 });
  });

  it("submits a task and reads it back", async () => {
    const r = await aq.tasks.submitTask({ spec: { queue: `client-${label}`, payload: payload(label) } });
    const id = r.task?.id as string;
    expect(id).not.toBe("");
    const got = await aq.tasks.getTask({ taskId: id });
    expect(got.task?.spec?.queue).toBe(`client-${label}`);
    expect(new TextDecoder().decode(got.task?.spec?.payload?.data)).toBe(label);
  });

  it("throws RunNotFoundError with the run id, the ConnectError as cause", async () => {
    const e = await rejection(aq.runs.getRun({ runId: MISSING_RUN }));
    expect(e).toBeInstanceOf(RunNotFoundError);
    expect(e).toMatchObject({ code: Code.NotFound, reason: "RUN_NOT_FOUND", runId: MISSING_RUN });
    expect((e as Error).cause).toMatchObject({ name: "ConnectError", code: Code.NotFound });
  });

  it("throws InvalidArgumentError naming the refused fields", async () => {
    const e = await rejection(aq.runs.getRun({ runId: "" }));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).fieldViolations.map((v) => v.field)).toEqual(["run_id"]);
  });

  it("maps errors met while reading a stream (WatchRuns with a bad filter)", async () => {
    const stream = aq.runs.watchRuns({ queues: ["not a valid queue name!"] });
    const e = await rejection(
      (async () => {
        for await (const m of stream) void m;
      })(),
    );
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).fieldViolations[0]?.field).toMatch(/^queues/);
  });
});

describe("errors from real calls", () => {
  const aq = () => createClient(server.url);

  it("gives LeaseLostError for a completion with a token that does not own the run", async () => {
    const q = "errors-lease";
    await aq().tasks.submitTask({ spec: { queue: q, payload: payload("x") } });
    const leased = (await aq().workers.leaseRuns({ queues: [q], workerId: "w1", startAttempt: true, leaseDuration: { seconds: 30n } })).runs[0];
    expect(leased).toBeDefined();
    const runId = leased?.run?.id as string;
    const e = await rejection(
      aq().workers.completeAttempt({ runId, leaseToken: `${leased?.leaseToken}x`, attemptId: leased?.attempt?.id as string, outcome: AttemptOutcome.SUCCESS }),
    );
    expect(e).toBeInstanceOf(LeaseLostError);
    expect(e).toMatchObject({ code: Code.FailedPrecondition, reason: "LEASE_LOST", runId });
  });

  it("gives AttemptStateError NO_ACTIVE_ATTEMPT for a completion before the attempt started", async () => {
    const q = "errors-attempt";
    await aq().tasks.submitTask({ spec: { queue: q, payload: payload("x") } });
    const leased = (await aq().workers.leaseRuns({ queues: [q], workerId: "w1", leaseDuration: { seconds: 30n } })).runs[0];
    const runId = leased?.run?.id as string;
    const e = await rejection(aq().workers.completeAttempt({ runId, leaseToken: leased?.leaseToken as string, attemptId: MISSING_RUN, outcome: AttemptOutcome.SUCCESS }));
    expect(e).toBeInstanceOf(AttemptStateError);
    expect(e).toMatchObject({ reason: "NO_ACTIVE_ATTEMPT", runId });
  });

  it("gives InvalidArgumentError with one violation per bad field", async () => {
    const e = await rejection(aq().tasks.submitTask({ taskId: "not a uuid", spec: { queue: "bad queue!", payload: payload("x") } }));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    const fields = (e as InvalidArgumentError).fieldViolations.map((v) => v.field).sort();
    expect(fields).toEqual(expect.arrayContaining(["spec.queue", "task_id"]));
    for (const v of (e as InvalidArgumentError).fieldViolations) expect(v.description).not.toBe("");
  });

  it("gives TaskConflictError for the same task id with another spec", async () => {
    const first = await aq().tasks.submitTask({ spec: { queue: "errors-conflict", payload: payload("a") } });
    const taskId = first.task?.id as string;
    const e = await rejection(aq().tasks.submitTask({ taskId, spec: { queue: "errors-conflict", payload: payload("b") } }));
    expect(e).toBeInstanceOf(TaskConflictError);
    expect(e).toMatchObject({ code: Code.AlreadyExists, taskId });
  });

  it("gives an UNAVAILABLE ActionQueueError without reason when nothing listens", async () => {
    const closed = await startServer();
    const url = closed.url;
    await closed.cleanup();
    const e = await rejection(createClient(url).admin.getStats({}));
    expect(ActionQueueError.is(e)).toBe(true);
    expect(e).toMatchObject({ code: Code.Unavailable, reason: "" });
  });

  it("applies timeoutMs to unary calls but not on top of a LeaseRuns long poll", async () => {
    const slow = createClient(server.url, { timeoutMs: 300 });
    // The poll waits 1.5 s for an empty queue: it must return empty, not DEADLINE_EXCEEDED.
    const r = await slow.workers.leaseRuns({ queues: ["errors-empty"], workerId: "w", wait: { seconds: 1n, nanos: 500_000_000 } });
    expect(r.runs).toEqual([]);
    // A call's own timeoutMs still wins: the 5 s poll ends at the 200 ms deadline. Usually the
    // client's own timer rejects it (DEADLINE_EXCEEDED); when the server's deadline fires first
    // its long poll ends and answers empty (the direct gRPC path answers a handler that
    // finished after the deadline with its result) — either way, long before the 5 s wait.
    const started = Date.now();
    const ended = await slow.workers.leaseRuns({ queues: ["errors-empty"], workerId: "w", wait: { seconds: 5n } }, { timeoutMs: 200 }).then(
      (v) => ({ runs: v.runs }),
      (e: unknown) => e,
    );
    if ("runs" in (ended as object)) expect((ended as { runs: unknown[] }).runs).toEqual([]);
    else expect(ended).toMatchObject({ code: Code.DeadlineExceeded });
    expect(Date.now() - started).toBeLessThan(4_500);
  });
});

describe("token and headers", () => {
  let proxy: H2Proxy;
  beforeAll(async () => {
    proxy = await startH2Proxy(server.url);
  });
  afterAll(async () => {
    await proxy.close();
  });

  it.each(["grpc", "connect", "grpc-web"] as const)("sends authorization: Bearer <token> and custom headers over %s", async (protocol) => {
    const aq = createClient(proxy.url, { protocol, token: "aq-test-proxy-token", headers: { "x-tenant": `t-${protocol}` } });
    const r = await aq.tasks.submitTask({ spec: { queue: `hdr-${protocol}`, payload: payload("h") } });
    expect(r.created).toBe(true);
    const mine = proxy.seen.filter((h) => h["x-tenant"] === `t-${protocol}`);
    expect(mine.length).toBeGreaterThan(0);
    for (const h of mine) expect(h.authorization).toBe("Bearer aq-test-proxy-token");
    // A header given to the call itself wins over the client's.
    await aq.tasks.getTask({ taskId: r.task?.id as string }, { headers: { "x-tenant": "per-call" } });
    expect(proxy.seen.at(-1)?.["x-tenant"]).toBe("per-call");
  });

  it("sends no authorization header without a token", async () => {
    await createClient(proxy.url, { headers: { "x-probe": "none" } }).admin.getStats({});
    const h = proxy.seen.find((x) => x["x-probe"] === "none");
    expect(h).toBeDefined();
    expect(h?.authorization).toBeUndefined();
  });
});

describe("TLS", () => {
  const DIR = join(import.meta.dirname, "..", "..", "fixtures", "tls");
  let tls: ServerProcess;
  beforeAll(async () => {
    tls = await startServer({ args: ["--tls-cert", join(DIR, "cert.pem"), "--tls-key", join(DIR, "key.pem")] });
  });
  afterAll(async () => {
    await tls.cleanup();
  });

  it("trusts a server certificate given as tls.ca, on each protocol", async () => {
    const ca = readFileSync(join(DIR, "cert.pem"));
    for (const protocol of ["grpc", "connect", "grpc-web"] as const) {
      const stats = await createClient(`https://localhost:${tls.port}`, { protocol, tls: { ca } }).admin.getStats({});
      expect(stats.revision).toBeGreaterThanOrEqual(0n);
    }
  });

  it("refuses an untrusted certificate unless rejectUnauthorized is false", async () => {
    const url = `https://localhost:${tls.port}`;
    const e = await rejection(createClient(url).admin.getStats({}));
    expect(ActionQueueError.is(e)).toBe(true);
    await expect(createClient(url, { tls: { rejectUnauthorized: false } }).admin.getStats({})).resolves.toBeDefined();
  });
});

describe("createWebClient (connect-web over Node's fetch)", () => {
  it.each(["connect", "grpc-web"] as const)("submits, reads back, throws typed errors and watches over %s", async (protocol) => {
    const aq = createWebClient(server.url, { protocol, headers: { "x-from": "web" } });
    const q = `web-${protocol}`;
    const r = await aq.tasks.submitTask({ spec: { queue: q, payload: payload("w") } });
    expect((await aq.tasks.getTask({ taskId: r.task?.id as string })).task?.spec?.queue).toBe(q);
    const e = await rejection(aq.runs.getRun({ runId: MISSING_RUN }));
    expect(e).toBeInstanceOf(RunNotFoundError);
    expect(e).toMatchObject({ runId: MISSING_RUN });
    // The server stream works over fetch too.
    for await (const ev of watchRuns(aq, { queues: [q] }, { fromRevision: 1n })) {
      expect(ev.runId).toBe(r.runs[0]?.id);
      break;
    }
  });
});

describe("option checks", () => {
  it("refuses a non-http URL and gRPC over HTTP/1.1", () => {
    expect(() => createClient("ftp://127.0.0.1:1")).toThrow(TypeError);
    expect(() => createClient("http://127.0.0.1:1", { protocol: "grpc", httpVersion: "1.1" })).toThrow(TypeError);
  });
});
