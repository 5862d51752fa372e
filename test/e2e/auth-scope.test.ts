/**
 * Queue scoping end to end (issue 11, SPEC §12) against a real server with
 * test/fixtures/auth/auth.json: a submitter for `emails` cannot submit to `billing`; a worker
 * for `emails` cannot lease from `billing` nor heartbeat, start, complete or release a
 * `billing` run (its queue looked up by the server); a reader for `emails` lists, gets,
 * watches and counts only `emails`. Refusals change nothing. Then start-up: bad auth files
 * and the loopback rule, each one line on stderr and exit code 2. No line a server writes
 * contains a token.
 */
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ActionQueueClients, createActionQueueClients } from "../../clients/typescript/src/index.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { type ServerProcess, connectJson, startServer } from "../support/server.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/auth");
const tokenOf = (name: string) => `aq-test-${name}-token`;
const USED = ["admin", "worker-emails", "submitter-emails", "reader-emails"];
const as = (name: string) => ({ headers: { authorization: `Bearer ${tokenOf(name)}` } });
const payload = { data: new Uint8Array([1]), contentType: "application/octet-stream" };

/** The code and ErrorInfo of a refused call (throws when the call succeeds). */
async function refused(p: Promise<unknown>): Promise<{ code: Code; reason: string | undefined; metadata: Record<string, string> }> {
  try {
    await p;
  } catch (e) {
    const ce = ConnectError.from(e);
    const info = ce.findDetails(ErrorInfoSchema)[0];
    return { code: ce.code, reason: info?.reason, metadata: info?.metadata ?? {} };
  }
  throw new Error("the call was accepted");
}

describe("queue scoping", () => {
  let server: ServerProcess;
  let c: ActionQueueClients;
  let emailsRun: string;
  let billingRun: string;
  let billingTask: string;

  beforeAll(async () => {
    server = await startServer({ args: ["--auth-file", join(FIXTURES, "auth.json"), "--log-level", "debug"] });
    c = createActionQueueClients(createGrpcTransport({ baseUrl: server.url }));
    const e = await c.tasks.submitTask({ spec: { queue: "emails", payload } }, as("submitter-emails"));
    const b = await c.tasks.submitTask({ spec: { queue: "billing", payload } }, as("admin"));
    emailsRun = e.runs[0]?.id ?? "";
    billingRun = b.runs[0]?.id ?? "";
    billingTask = b.task?.id ?? "";
  });

  afterAll(async () => {
    await server?.cleanup();
  });

  it("refuses a submission to another queue, naming the queue, and creates nothing", async () => {
    const r = await refused(c.tasks.submitTask({ spec: { queue: "billing", payload } }, as("submitter-emails")));
    expect(r).toMatchObject({ code: Code.PermissionDenied, reason: "PERMISSION_DENIED", metadata: { method: "actionqueue.v1.TaskService/SubmitTask", queue: "billing" } });
    const batch = await refused(c.tasks.batchSubmitTasks({ tasks: [{ spec: { queue: "emails", payload } }, { spec: { queue: "billing", payload } }] }, as("submitter-emails")));
    expect(batch.metadata.queue).toBe("billing");
    const billing = await c.tasks.listTasks({ queue: "billing" }, as("admin"));
    expect(billing.tasks.map((t) => t.id)).toEqual([billingTask]);
    expect((await c.tasks.listTasks({ queue: "emails" }, as("admin"))).tasks).toHaveLength(1);
  });

  it("refuses a cancel of a task of another queue", async () => {
    const r = await refused(c.tasks.cancelTask({ taskId: billingTask }, as("submitter-emails")));
    expect(r).toMatchObject({ code: Code.PermissionDenied, metadata: { task_id: billingTask } });
  });

  it("refuses a lease of another queue and leases its own", async () => {
    expect((await refused(c.workers.leaseRuns({ queues: ["billing"], workerId: "w", maxRuns: 1 }, as("worker-emails")))).metadata.queue).toBe("billing");
    expect((await refused(c.workers.leaseRuns({ queues: ["emails", "billing"], workerId: "w", maxRuns: 1 }, as("worker-emails")))).code).toBe(Code.PermissionDenied);
    const mine = await c.workers.leaseRuns({ queues: ["emails"], workerId: "w", maxRuns: 10, startAttempt: true }, as("worker-emails"));
    expect(mine.runs.map((r) => r.run?.id)).toEqual([emailsRun]);
    // Its own run: heartbeat and completion go through.
    const leased = mine.runs[0];
    const lease = { runId: emailsRun, leaseToken: leased?.leaseToken ?? "" };
    await c.workers.heartbeat(lease, as("worker-emails"));
    const done = await c.workers.completeAttempt({ ...lease, attemptId: leased?.attempt?.id ?? "", outcome: 1 }, as("worker-emails"));
    expect(done.run?.id).toBe(emailsRun);
  });

  it("refuses heartbeat, start, complete and release of a run of another queue, changing nothing", async () => {
    const got = await c.workers.leaseRuns({ queues: ["billing"], workerId: "admin-w", maxRuns: 1 }, as("admin"));
    const lease = { runId: billingRun, leaseToken: got.runs[0]?.leaseToken ?? "" };
    expect(got.runs[0]?.run?.id).toBe(billingRun);
    const calls: [string, Promise<unknown>][] = [
      ["Heartbeat", c.workers.heartbeat(lease, as("worker-emails"))],
      ["StartAttempt", c.workers.startAttempt(lease, as("worker-emails"))],
      ["CompleteAttempt", c.workers.completeAttempt({ ...lease, attemptId: "00000000-0000-7000-8000-000000000001", outcome: 1 }, as("worker-emails"))],
      ["ReleaseLease", c.workers.releaseLease(lease, as("worker-emails"))],
      ["BatchHeartbeat", c.workers.batchHeartbeat({ heartbeats: [lease] }, as("worker-emails"))],
      ["BatchCompleteAttempts", c.workers.batchCompleteAttempts({ completions: [{ ...lease, attemptId: "00000000-0000-7000-8000-000000000001", outcome: 1 }] }, as("worker-emails"))],
    ];
    for (const [method, p] of calls) {
      const r = await refused(p);
      expect(r, method).toMatchObject({ code: Code.PermissionDenied, reason: "PERMISSION_DENIED", metadata: { method: `actionqueue.v1.WorkerService/${method}`, run_id: billingRun } });
      expect(r.metadata.queue, method).toBeUndefined();
    }
    // Still leased to the admin's worker, no attempt started.
    const run = await c.runs.getRun({ runId: billingRun }, as("admin"));
    expect(run.run?.lease?.workerId).toBe("admin-w");
    expect(run.attempts).toHaveLength(0);
  });

  it("shows a reader only its queues: lists, gets, stats", async () => {
    const reader = as("reader-emails");
    expect((await c.runs.listRuns({ queue: "emails" }, reader)).runs.map((r) => r.id)).toEqual([emailsRun]);
    expect((await refused(c.runs.listRuns({ queue: "billing" }, reader))).metadata.queue).toBe("billing");
    // A listing of every queue is refused rather than silently narrowed.
    expect((await refused(c.runs.listRuns({}, reader))).code).toBe(Code.PermissionDenied);
    expect((await refused(c.tasks.listTasks({}, reader))).code).toBe(Code.PermissionDenied);
    expect((await refused(c.runs.listRuns({ taskId: billingTask }, reader))).metadata.task_id).toBe(billingTask);
    expect((await c.runs.getRun({ runId: emailsRun }, reader)).run?.queue).toBe("emails");
    expect((await refused(c.runs.getRun({ runId: billingRun }, reader))).metadata.run_id).toBe(billingRun);
    expect((await refused(c.tasks.getTask({ taskId: billingTask }, reader))).metadata.task_id).toBe(billingTask);
    expect((await refused(c.runs.listAttempts({ runId: billingRun }, reader))).code).toBe(Code.PermissionDenied);
    // GetStats without queues counts only the reader's.
    expect((await c.admin.getStats({}, reader)).queues.map((q) => q.queue?.name)).toEqual(["emails"]);
    expect((await refused(c.admin.getStats({ queues: ["billing"] }, reader))).metadata.queue).toBe("billing");
    // Concurrency keys span queues: refused to a reader limited to queues.
    expect((await refused(c.admin.listConcurrencyKeys({}, reader))).code).toBe(Code.PermissionDenied);
    // An unknown run id is NOT_FOUND as for anyone.
    expect((await refused(c.runs.getRun({ runId: "00000000-0000-7000-8000-00000000abcd" }, reader))).code).toBe(Code.NotFound);
  });

  it("narrows a reader's watch without queues to its queues and refuses another queue", async () => {
    const reader = as("reader-emails");
    const target = (await c.admin.getStats({}, as("admin"))).revision;
    const queues = new Set<string>();
    const ctrl = new AbortController();
    for await (const m of c.runs.watchRuns({ startRevision: 1n, progressIntervalMs: 100 }, { ...reader, signal: ctrl.signal })) {
      if (m.kind.case === "event") queues.add(m.kind.value.queue);
      const rev = m.kind.case === "event" ? m.kind.value.revision : m.kind.case === "progress" ? m.kind.value.revision : 0n;
      if (rev >= target) break;
    }
    ctrl.abort();
    expect([...queues]).toEqual(["emails"]);
    const watch = async () => {
      for await (const _ of c.runs.watchRuns({ queues: ["emails", "billing"], startRevision: 1n }, reader)) break;
    };
    expect((await refused(watch())).metadata.queue).toBe("billing");
    // The same over the Connect protocol (HTTP/1.1, JSON).
    const json = connectJson(server.port);
    const watchJson = async () => {
      for await (const _ of json.runs.watchRuns({ queues: ["billing"], startRevision: 1n }, reader)) break;
    };
    expect((await refused(watchJson())).code).toBe(Code.PermissionDenied);
  });

  it("never writes a token to its logs (debug level)", () => {
    const lines = [...server.logs, ...server.stderr().split("\n")];
    expect(lines.length).toBeGreaterThan(5);
    for (const name of USED) expect(lines.filter((l) => l.includes(tokenOf(name)))).toEqual([]);
  });
});

describe("start-up checks", () => {
  /** Starts a server that must fail; returns its stderr. */
  async function failure(args: string[]): Promise<string> {
    const e = await startServer({ args }).then(
      async (s) => {
        await s.cleanup();
        throw new Error(`server started with ${args.join(" ")}`);
      },
      (x: unknown) => x as Error,
    );
    expect(e.message).toMatch(/^server exited with 2 before serving: /);
    const stderr = e.message.replace(/^server exited with 2 before serving: /, "");
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    return stderr;
  }

  it("refuses a bad auth file with one line naming the entry, exit 2", async () => {
    expect(await failure(["--auth-file", join(FIXTURES, "bad-role.json")])).toContain('tokens[0] ("ci"): role "root" is not defined');
    const digest = await failure(["--auth-file", join(FIXTURES, "bad-digest.json")]);
    expect(digest).toContain('tokens[0] ("ci"): "digest" must be "sha256:"');
    expect(digest).not.toContain("aq-test-plain-token");
    expect(await failure(["--auth-file", join(FIXTURES, "not-json.json")])).toContain("not valid JSON");
    expect(await failure(["--auth-file", join(FIXTURES, "missing.json")])).toContain("cannot be read (no such file)");
  });

  it("refuses a non-loopback listen address without an auth file, exit 2", async () => {
    expect(await failure(["--listen", "0.0.0.0:0"])).toContain("not a loopback address and no --auth-file is given");
  });

  it("serves a non-loopback address with an auth file, or with --allow-unauthenticated true", async () => {
    for (const args of [["--listen", "0.0.0.0:0", "--auth-file", join(FIXTURES, "auth.json")], ["--listen", "0.0.0.0:0", "--allow-unauthenticated", "true"]]) {
      const s = await startServer({ args });
      try {
        const stats = createActionQueueClients(createGrpcTransport({ baseUrl: s.url })).admin.getStats({}, as("admin"));
        await expect(stats).resolves.toBeDefined();
      } finally {
        await s.cleanup();
      }
    }
  });
});
