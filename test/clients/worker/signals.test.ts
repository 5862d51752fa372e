/**
 * The handler's AbortSignal and the outcome mapping, against a real server: cancel, lease
 * loss after a blocked event loop, attempt timeout, NonRetryableError, SuspendError and
 * retries that follow the task's backoff.
 */
import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AttemptOutcome,
  type LeaseLostEvent,
  NonRetryableError,
  RunAbortedError,
  RunState,
  SuspendError,
  type Worker,
  createWorker,
} from "../../../clients/typescript/src/index.js";
import { connectGrpc, type ServerProcess, startServer } from "../../support/server.js";
import { aborted, attemptsOf, countingClients, deferred, outputText, retrying, submitOne, waitFor, waitForState, within } from "./helpers.js";

let server: ServerProcess;
const workers: Worker[] = [];
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.close({ timeoutMs: 0 })));
  await server.cleanup();
});

const utf8 = new TextEncoder();

/** Starts a worker (closed in afterAll if the test fails before closing it). */
function start(w: Worker): Promise<void> {
  workers.push(w);
  return w.run();
}

describe("worker signals", () => {
  it("aborts the handler's signal with CANCELED on the first heartbeat after CancelRun, and does not complete the run", async () => {
    const c = connectGrpc(server.port);
    const { clients, log } = countingClients(c);
    const runId = await submitOne(c, { queue: "cancel", payload: { data: utf8.encode("x") } });
    const started = deferred<AbortSignal>();
    const lost: LeaseLostEvent[] = [];
    let completions = 0;
    let manual: unknown;
    const worker = createWorker({
      clients,
      queues: ["cancel"],
      // A lease far longer than the test's wait: only a heartbeat reply can abort the signal.
      leaseDurationMs: 120_000,
      heartbeatIntervalMs: 100,
      handler: async (job) => {
        // A manual heartbeat renews the lease while the run is held.
        await job.heartbeat();
        started.resolve(job.signal);
        await aborted(job.signal);
        // After the stop, heartbeat() says why.
        manual = await job.heartbeat().catch((e: unknown) => e);
        return "finished anyway";
      },
      hooks: { onLeaseLost: (e) => lost.push(e), onCompleted: () => completions++, onFailed: () => completions++ },
    });
    const done = start(worker);
    const signal = await started.promise;
    expect(signal.aborted).toBe(false);
    await c.runs.cancelRun({ runId });
    const roundsStartedBefore = log.heartbeatsStarted;
    // 20 s: 200 heartbeat intervals, yet far shorter than the 120 s lease.
    const reason = await within(aborted(signal), 20_000, "the signal to abort");
    // Ordering, not time: the abort came from at most the first heartbeat round that started
    // after CancelRun returned (one round in flight during the cancel may already see it).
    expect(log.heartbeatsStarted - roundsStartedBefore).toBeLessThanOrEqual(1);
    expect(reason).toBeInstanceOf(RunAbortedError);
    expect((reason as RunAbortedError).reason).toBe("CANCELED");
    expect((reason as RunAbortedError).runId).toBe(runId);
    await waitFor("the lease-lost event", () => (lost.length > 0 ? true : undefined));
    expect(lost[0]).toMatchObject({ runId, reason: "CANCELED", source: "heartbeat" });
    await waitFor("the run to be let go", () => (worker.held === 0 ? true : undefined));
    await worker.close();
    await done;
    expect(completions).toBe(0);
    expect((manual as RunAbortedError).reason).toBe("CANCELED");
    const attempts = await attemptsOf(c, runId);
    expect((await c.runs.getRun({ runId })).run?.state).toBe(RunState.CANCELED);
    expect(attempts.map((a) => a.outcome)).toEqual([AttemptOutcome.CANCELED]);
  });

  it("aborts with LEASE_LOST when the handler blocks the event loop past the lease, has the late completion refused, and the run is retried", async () => {
    const c = connectGrpc(server.port);
    const runId = await submitOne(c, { queue: "blocked", payload: { data: utf8.encode("x") }, constraints: retrying(3, 0) });
    const signals: AbortSignal[] = [];
    const lost: LeaseLostEvent[] = [];
    const worker = createWorker({
      clients: c,
      queues: ["blocked"],
      leaseDurationMs: 1_000,
      heartbeatIntervalMs: 200,
      handler: async (job) => {
        signals.push(job.signal);
        if (job.attempt.number === 1) {
          // Blocks the whole process (no timer, no heartbeat) for three leases.
          const until = Date.now() + 3_000;
          while (Date.now() < until) {
            // busy
          }
          await new Promise((r) => setTimeout(r, 0));
          return "too late";
        }
        return "second try";
      },
      hooks: { onLeaseLost: (e) => lost.push(e) },
    });
    const done = start(worker);
    await waitForState(c, runId, RunState.COMPLETED, 30_000);
    await worker.close();
    await done;

    expect(signals).toHaveLength(2);
    expect(signals[0]?.aborted).toBe(true);
    expect((signals[0]?.reason as RunAbortedError).reason).toBe("LEASE_LOST");
    expect(signals[1]?.aborted).toBe(false);
    // The worker noticed by its own clock, then the server refused the late completion.
    expect(lost.map((e) => [e.reason, e.source])).toEqual([
      ["LEASE_LOST", "clock"],
      ["LEASE_LOST", "completion"],
    ]);
    expect((lost[1]?.error as { reason?: string }).reason).toBe("LEASE_LOST");
    const run = (await c.runs.getRun({ runId })).run;
    expect(run?.attemptCount).toBe(2);
    const attempts = await attemptsOf(c, runId);
    expect(attempts.map((a) => a.outcome)).toEqual([AttemptOutcome.TIMEOUT, AttemptOutcome.SUCCESS]);
    expect(outputText(attempts[1])).toBe("second try");
  });

  it("does not take a run leased at the end of a long poll (longer than a lease) for lost", async () => {
    const c = connectGrpc(server.port);
    const { clients, log } = countingClients(c);
    const lost: LeaseLostEvent[] = [];
    let signal: AbortSignal | undefined;
    const worker = createWorker({
      clients,
      queues: ["late-arrival"],
      leaseDurationMs: 2_000,
      heartbeatIntervalMs: 200,
      pollWaitMs: 5_000,
      handler: async (job) => {
        signal = job.signal;
        // Several heartbeat rounds' worth of work.
        await new Promise((r) => setTimeout(r, 1_500));
        return "fine";
      },
      hooks: { onLeaseLost: (e) => lost.push(e) },
    });
    const done = start(worker);
    await waitFor("the long poll", () => (log.leasesStarted > 0 ? true : undefined));
    // The poll has waited longer than a lease when the run arrives.
    await new Promise((r) => setTimeout(r, 2_500));
    const runId = await submitOne(c, { queue: "late-arrival" });
    await waitForState(c, runId, RunState.COMPLETED);
    await worker.close();
    await done;
    expect(lost).toEqual([]);
    expect(signal?.aborted).toBe(false);
    expect((await attemptsOf(c, runId)).map((a) => a.outcome)).toEqual([AttemptOutcome.SUCCESS]);
  });

  it("aborts with TIMEOUT at the task's attempt timeout and reports a TIMEOUT outcome", async () => {
    const c = connectGrpc(server.port);
    const runId = await submitOne(c, { queue: "timeout", constraints: { maxAttempts: 1, attemptTimeout: durationFromMs(1_000) } });
    let reason: unknown;
    const worker = createWorker({
      clients: c,
      queues: ["timeout"],
      leaseDurationMs: 60_000,
      handler: async (job) => {
        expect(job.attemptTimeoutMs).toBe(1_000);
        reason = await aborted(job.signal);
        throw reason;
      },
    });
    const done = start(worker);
    await waitForState(c, runId, RunState.FAILED, 30_000);
    await worker.close();
    await done;
    expect((reason as RunAbortedError).reason).toBe("TIMEOUT");
    const attempts = await attemptsOf(c, runId);
    expect(attempts.map((a) => a.outcome)).toEqual([AttemptOutcome.TIMEOUT]);
  });

  it("maps NonRetryableError to one TERMINAL_FAILURE attempt and a FAILED run", async () => {
    const c = connectGrpc(server.port);
    const runId = await submitOne(c, { queue: "terminal", constraints: retrying(5, 0) });
    let calls = 0;
    const worker = createWorker({
      clients: c,
      queues: ["terminal"],
      handler: () => {
        calls++;
        throw new NonRetryableError("bad input");
      },
    });
    const done = start(worker);
    await waitForState(c, runId, RunState.FAILED);
    await worker.close();
    await done;
    const attempts = await attemptsOf(c, runId);
    expect(calls).toBe(1);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]?.outcome).toBe(AttemptOutcome.TERMINAL_FAILURE);
    expect(attempts[0]?.error).toBe("NonRetryableError: bad input");
  });

  it("maps SuspendError to a SUSPENDED run whose attempt does not count", async () => {
    const c = connectGrpc(server.port);
    const runId = await submitOne(c, { queue: "suspend", constraints: retrying(1, 0) });
    const worker = createWorker({
      clients: c,
      queues: ["suspend"],
      handler: () => {
        throw new SuspendError("WAITING_FOR_APPROVAL");
      },
    });
    const done = start(worker);
    const run = await waitForState(c, runId, RunState.SUSPENDED);
    await worker.close();
    await done;
    expect(run.stateReason).toBe("WAITING_FOR_APPROVAL");
    expect(run.countedAttempts).toBe(0);
    expect((await attemptsOf(c, runId)).map((a) => a.outcome)).toEqual([AttemptOutcome.SUSPENDED]);
  });

  it("retries a thrown error per the task's exponential backoff, each gap at least the policy's delay", async () => {
    const c = connectGrpc(server.port);
    const baseMs = 300;
    const runId = await submitOne(c, {
      queue: "retry",
      payload: { data: utf8.encode("p") },
      constraints: { maxAttempts: 3, backoff: { kind: { case: "exponential", value: { base: durationFromMs(baseMs), max: durationFromMs(10_000) } } } },
    });
    const worker = createWorker({
      clients: c,
      queues: ["retry"],
      handler: (job) => {
        if (job.attempt.number < 3) throw new TypeError(`boom ${job.attempt.number}`);
        return { ok: true, payload: job.payload.text() };
      },
    });
    const done = start(worker);
    await waitForState(c, runId, RunState.COMPLETED);
    await worker.close();
    await done;
    const attempts = await attemptsOf(c, runId);
    expect(attempts.map((a) => a.outcome)).toEqual([AttemptOutcome.RETRYABLE_FAILURE, AttemptOutcome.RETRYABLE_FAILURE, AttemptOutcome.SUCCESS]);
    expect(attempts.map((a) => a.error)).toEqual(["TypeError: boom 1", "TypeError: boom 2", ""]);
    expect(outputText(attempts[2])).toBe('{"ok":true,"payload":"p"}');
    // Server timestamps on both ends of each gap: min(max, base * 2^(n-1)) after attempt n.
    const gaps = [0, 1].map((i) => timestampMs(attempts[i + 1]!.startedAt!) - timestampMs(attempts[i]!.finishedAt!));
    expect(gaps[0]).toBeGreaterThanOrEqual(baseMs);
    expect(gaps[1]).toBeGreaterThanOrEqual(2 * baseMs);
  });
});
