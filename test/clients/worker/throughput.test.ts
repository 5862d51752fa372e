/**
 * The worker SDK against a real server: many runs at a bounded concurrency, every output
 * checked, and the batching of leases, heartbeats and completions.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CompletedEvent, RunState, createWorker } from "../../../clients/typescript/src/index.js";
import { connectGrpc, type ServerProcess, startServer } from "../../support/server.js";
import { attemptsOf, countingClients, listRuns, submitMany, waitFor } from "./helpers.js";

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.cleanup();
});

describe("worker throughput", () => {
  it("completes 1,000 runs at concurrency 32 with the right outputs, never running more than 32 handlers", async () => {
    const c = connectGrpc(server.port);
    const queue = "thousand";
    await submitMany(c, queue, 1_000);
    let running = 0;
    let maxRunning = 0;
    let maxHeld = 0;
    let handled = 0;
    const completed: CompletedEvent[] = [];
    const errors: unknown[] = [];
    const worker = createWorker({
      clients: c,
      queues: [queue],
      concurrency: 32,
      handler: async (job) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        maxHeld = Math.max(maxHeld, worker.held);
        try {
          // Long enough (5-25 ms) that handlers overlap the next lease call: the cap is exercised.
          await new Promise((r) => setTimeout(r, 5 + (handled++ % 5) * 5));
          return `out-${job.payload.text()}-attempt-${job.attempt.number}`;
        } finally {
          running--;
        }
      },
      hooks: { onCompleted: (e) => completed.push(e), onError: (e) => errors.push(e) },
    });
    const done = worker.run();
    await waitFor("1,000 completions", () => (completed.length >= 1_000 ? true : undefined), 110_000);
    await worker.close();
    await done;

    expect(maxRunning).toBeGreaterThan(1);
    expect(maxRunning).toBeLessThanOrEqual(32);
    expect(maxHeld).toBeLessThanOrEqual(32);
    expect(errors).toEqual([]);
    const runs = await listRuns(c, queue);
    expect(runs).toHaveLength(1_000);
    expect(runs.filter((r) => r.state !== RunState.COMPLETED)).toEqual([]);
    expect(new Set(completed.map((e) => e.runId)).size).toBe(1_000);
    // Every run's single attempt carries the output computed from its own payload.
    const tasks = new Map<string, string>();
    let pageToken = "";
    do {
      const page = await c.tasks.listTasks({ queue, pageSize: 1_000, pageToken });
      for (const t of page.tasks) tasks.set(t.id, new TextDecoder().decode(t.spec?.payload?.data));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(tasks.size).toBe(1_000);
    const bad: string[] = [];
    for (let i = 0; i < runs.length; i += 50) {
      await Promise.all(
        runs.slice(i, i + 50).map(async (r) => {
          const attempts = await attemptsOf(c, r.id);
          const out = new TextDecoder().decode(attempts[0]?.output);
          if (attempts.length !== 1 || out !== `out-${tasks.get(r.taskId)}-attempt-1`) bad.push(`${r.id}: ${attempts.length} attempts, output ${out}`);
        }),
      );
    }
    expect(bad).toEqual([]);
  }, 120_000);

  it("renews every held lease with one BatchHeartbeat call per round", async () => {
    const c = connectGrpc(server.port);
    const queue = "heartbeat-batch";
    await submitMany(c, queue, 5);
    const { clients, log } = countingClients(c);
    let started = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const worker = createWorker({
      clients,
      queues: [queue],
      concurrency: 5,
      leaseDurationMs: 1_000,
      heartbeatIntervalMs: 100,
      handler: async () => {
        started++;
        await gate;
      },
    });
    const done = worker.run();
    await waitFor("5 handlers", () => (started === 5 ? true : undefined));
    const from = log.heartbeatsStarted;
    // Several rounds while all five runs are held; each round is one call with all five.
    await waitFor("3 heartbeat rounds", () => (log.heartbeatsStarted >= from + 3 ? true : undefined));
    release();
    await worker.close();
    await done;
    expect(log.heartbeatSizes.slice(from, from + 3)).toEqual([5, 5, 5]);
    // No two heartbeat calls overlap.
    let open = 0;
    for (const e of log.entries) {
      open += e.startsWith("start:") ? 1 : -1;
      expect(open).toBeLessThanOrEqual(1);
    }
    const runs = await listRuns(c, queue);
    expect(runs.map((r) => r.state)).toEqual(Array(5).fill(RunState.COMPLETED));
  });
});
