/**
 * The worker's lifecycle against a real server: the state union and wrong-state calls,
 * option validation, a graceful close that leaves no run leased, and a server restart
 * survived with every run completed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import {
  ActionQueueError,
  AttemptOutcome,
  RunAbortedError,
  RunState,
  type Worker,
  type WorkerState,
  WorkerStateError,
  createWorker,
} from "../../../clients/typescript/src/index.js";
import { connectGrpc, type ServerProcess, startServer } from "../../support/server.js";
import { aborted, attemptsOf, deferred, listRuns, outputText, retrying, submitMany, waitFor } from "./helpers.js";

let server: ServerProcess;
const workers: Worker[] = [];
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.close({ timeoutMs: 0 })));
  await server.cleanup();
});

describe("worker lifecycle", () => {
  it("moves created → running → draining → closed and refuses run() outside created, naming the state", async () => {
    const states: WorkerState[] = [];
    const worker = createWorker({
      clients: connectGrpc(server.port),
      queues: ["states"],
      handler: () => undefined,
      hooks: { onStateChange: (e) => states.push(e.to) },
    });
    workers.push(worker);
    expect(worker.state).toBe("created");
    const done = worker.run();
    expect(worker.state).toBe("running");
    const second = await worker.run().catch((e: unknown) => e);
    expect(second).toBeInstanceOf(WorkerStateError);
    expect((second as WorkerStateError).state).toBe("running");
    expect((second as Error).message).toContain('"running"');
    const closing = worker.close();
    expect(worker.close()).toBe(closing);
    await closing;
    await done;
    expect(states).toEqual(["running", "draining", "closed"]);
    const again = await worker.run().catch((e: unknown) => e);
    expect((again as WorkerStateError).state).toBe("closed");
    expect((again as Error).message).toContain('"closed"');

    const unused = createWorker({ clients: connectGrpc(server.port), queues: ["states"], handler: () => undefined });
    await unused.close();
    expect(unused.state).toBe("closed");
  });

  it("stops and rejects run() with the server's error when leasing cannot work (UNIMPLEMENTED: wrong URL path)", async () => {
    const errors: unknown[] = [];
    const worker = createWorker({ url: `${server.url}/not-actionqueue/`, queues: ["fatal"], handler: () => undefined, hooks: { onError: (e) => errors.push(e) } });
    workers.push(worker);
    const err = await worker.run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ActionQueueError);
    expect((err as ActionQueueError).code).toBe(Code.Unimplemented);
    expect(worker.state).toBe("closed");
    expect(errors).toEqual([err]);
  });

  it("rejects bad options at createWorker", () => {
    const clients = connectGrpc(server.port);
    const handler = () => undefined;
    expect(() => createWorker({ clients, queues: [], handler })).toThrow(TypeError);
    expect(() => createWorker({ clients, queues: ["bad queue"], handler })).toThrow(/queue name/);
    expect(() => createWorker({ clients, queues: ["q"], handler, concurrency: 0 })).toThrow(RangeError);
    expect(() => createWorker({ clients, queues: ["q"], handler, leaseDurationMs: 500 })).toThrow(/leaseDurationMs/);
    expect(() => createWorker({ clients, queues: ["q"], handler, leaseDurationMs: 3_000, heartbeatIntervalMs: 2_000 })).toThrow(/heartbeatIntervalMs/);
    expect(() => createWorker({ queues: ["q"], handler })).toThrow(/url and clients/);
    expect(() => createWorker({ url: "ftp://x", queues: ["q"], handler })).toThrow(TypeError);
    expect(() => createWorker({ clients, queues: ["q"], handler: "nope" as never })).toThrow(/handler/);
  });

  it("close() waits for running handlers, then aborts the rest with SHUTDOWN and gives their runs back: nothing stays LEASED or RUNNING", async () => {
    const c = connectGrpc(server.port);
    const queue = "drain";
    await submitMany(c, queue, 10);
    const quick = deferred();
    const signals = new Map<string, AbortSignal>();
    const released: string[] = [];
    const worker = createWorker({
      clients: c,
      queues: [queue],
      concurrency: 4,
      handler: async (job) => {
        signals.set(job.runId, job.signal);
        // Payloads 0 and 1 finish once the test lets them (after close() began); the others
        // ignore their signal and never finish on their own.
        if (Number(job.payload.text()) < 2) {
          await quick.promise;
          return "done";
        }
        await new Promise(() => undefined);
        return "never";
      },
      hooks: { onReleased: (e) => released.push(e.runId) },
    });
    const done = worker.run();
    await waitFor("4 held runs", () => (signals.size === 4 ? true : undefined));
    const closing = worker.close({ timeoutMs: 1_500 });
    expect(worker.state).toBe("draining");
    // close() aborts nothing at first.
    expect([...signals.values()].some((s) => s.aborted)).toBe(false);
    quick.resolve();
    await closing;
    await done;
    expect(worker.state).toBe("closed");

    const runs = await listRuns(c, queue);
    const byId = new Map(runs.map((r) => [r.id, r]));
    expect(runs.filter((r) => r.state === RunState.LEASED || r.state === RunState.RUNNING)).toEqual([]);
    const completed = runs.filter((r) => r.state === RunState.COMPLETED);
    expect(completed).toHaveLength(2);
    for (const r of completed) expect(signals.get(r.id)?.aborted).toBe(false);
    const givenBack = [...signals.keys()].filter((id) => byId.get(id)?.state !== RunState.COMPLETED);
    expect(givenBack).toHaveLength(2);
    expect(released.sort()).toEqual([...givenBack].sort());
    for (const id of givenBack) {
      const reason = signals.get(id)?.reason as RunAbortedError;
      expect(reason).toBeInstanceOf(RunAbortedError);
      expect(reason.reason).toBe("SHUTDOWN");
      // Back in the queue without spending an attempt.
      expect(byId.get(id)?.state).toBe(RunState.READY);
      expect(byId.get(id)?.countedAttempts).toBe(0);
      expect((await attemptsOf(c, id)).map((a) => a.outcome)).toEqual([AttemptOutcome.SUSPENDED]);
    }
    // The runs never leased are untouched, and a second worker finishes everything.
    expect(runs.filter((r) => r.state === RunState.READY)).toHaveLength(8);
    const second = createWorker({ clients: c, queues: [queue], concurrency: 8, handler: () => "second" });
    const secondDone = second.run();
    await waitFor("all runs completed", async () => ((await listRuns(c, queue, [RunState.COMPLETED])).length === 10 ? true : undefined));
    await second.close();
    await secondDone;
  });

  it("aborts every held handler with SHUTDOWN at once with timeoutMs 0, and the close resolves", async () => {
    const c = connectGrpc(server.port);
    const queue = "drain-now";
    await submitMany(c, queue, 3);
    const signals: AbortSignal[] = [];
    const worker = createWorker({
      clients: c,
      queues: [queue],
      concurrency: 3,
      handler: async (job) => {
        signals.push(job.signal);
        // Honors the signal: throws its reason.
        throw await aborted(job.signal);
      },
    });
    const done = worker.run();
    await waitFor("3 handlers", () => (signals.length === 3 ? true : undefined));
    await worker.close({ timeoutMs: 0 });
    await done;
    expect(signals.map((s) => (s.reason as RunAbortedError).reason)).toEqual(["SHUTDOWN", "SHUTDOWN", "SHUTDOWN"]);
    const runs = await listRuns(c, queue);
    expect(runs.map((r) => r.state)).toEqual([RunState.READY, RunState.READY, RunState.READY]);
  });
});

describe("worker close racing a lease", () => {
  it("leaves every run READY with no counted attempt when close() interrupts a long poll that is being answered", async () => {
    const c = connectGrpc(server.port);
    for (let round = 0; round < 5; round++) {
      const queue = `race-${round}`;
      let handled = 0;
      const worker = createWorker({
        clients: c,
        queues: [queue],
        concurrency: 4,
        // A lease far longer than the test: a run left behind would stay LEASED or RUNNING.
        leaseDurationMs: 120_000,
        handler: async (job) => {
          handled++;
          throw await aborted(job.signal);
        },
      });
      const done = worker.run();
      // The worker is in its long poll; the submit wakes it, and close() lands at some point
      // of the answer (before, during or after the server commits the lease).
      const submitted = submitMany(c, queue, 4);
      await new Promise((r) => setTimeout(r, round * 3));
      await worker.close({ timeoutMs: 0 });
      await done;
      await submitted;
      const runs = await waitFor(`round ${round}: no run LEASED or RUNNING`, async () => {
        const all = await listRuns(c, queue);
        return all.length === 4 && all.every((r) => r.state === RunState.READY) ? all : undefined;
      }, 20_000);
      expect(runs.map((r) => r.countedAttempts)).toEqual([0, 0, 0, 0]);
      expect(handled).toBeLessThanOrEqual(4);
    }
  });

  it("closes when its shutdownSignal aborts", async () => {
    const ac = new AbortController();
    const worker = createWorker({ clients: connectGrpc(server.port), queues: ["signal"], handler: () => undefined, shutdownSignal: ac.signal });
    workers.push(worker);
    const done = worker.run();
    ac.abort();
    await done;
    expect(worker.state).toBe("closed");
  });
});

describe("worker across a server restart", () => {
  it("reconnects after the server is killed and restarted on the same port and data, and every run ends COMPLETED", async () => {
    const first = await startServer({ keepData: true });
    const { port, dataDir } = first;
    let second: ServerProcess | undefined;
    try {
      const admin = connectGrpc(port);
      const queue = "restart";
      await submitMany(admin, queue, 60, { constraints: retrying(10, 100) });
      let finished = 0;
      const errors: unknown[] = [];
      const worker = createWorker({
        // Built from the URL: the worker's own client reconnects by itself.
        url: `http://127.0.0.1:${port}`,
        queues: [queue],
        concurrency: 8,
        leaseDurationMs: 5_000,
        reconnectMaxDelayMs: 500,
        handler: async (job) => {
          await new Promise((r) => setTimeout(r, 20 + (Number(job.payload.text()) % 5) * 10));
          finished++;
          return `restart-${job.payload.text()}`;
        },
        hooks: { onError: (e) => errors.push(e) },
      });
      workers.push(worker);
      const done = worker.run();
      await waitFor("some runs done", () => (finished >= 10 ? true : undefined));
      expect(await first.stop("SIGKILL")).not.toBe(0);
      // Let the worker meet the closed port before the server comes back.
      await waitFor("the worker to notice", () => (errors.length > 0 ? true : undefined));
      second = await startServer({ dataDir, args: ["--listen", `127.0.0.1:${port}`] });
      expect(second.port).toBe(port);
      await waitFor(
        "every run completed after the restart",
        async () => ((await listRuns(admin, queue, [RunState.COMPLETED])).length === 60 ? true : undefined),
        90_000,
      );
      await worker.close();
      await done;
      const runs = await listRuns(admin, queue);
      expect(runs.filter((r) => r.state !== RunState.COMPLETED)).toEqual([]);
      const tasks = new Map((await admin.tasks.listTasks({ queue, pageSize: 100 })).tasks.map((t) => [t.id, new TextDecoder().decode(t.spec?.payload?.data)]));
      for (const r of runs) {
        const attempts = await attemptsOf(admin, r.id);
        expect(outputText(attempts.at(-1))).toBe(`restart-${tasks.get(r.taskId)}`);
      }
    } finally {
      await first.stop("SIGKILL");
      await second?.cleanup();
    }
  }, 120_000);
});
