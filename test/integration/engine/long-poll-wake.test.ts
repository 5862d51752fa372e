/**
 * A waiting LeaseRuns is handed the run a commit makes available in that same commit: its
 * lease attempt joins the batch being assembled (PipelineHooks.afterCommands), so the run
 * reaches the worker with one flush, not the waker's and then its own.
 */
import { rmSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Engine } from "../../../src/engine/engine.js";
import type { Store, StoreVerb } from "../../../src/engine/ports.js";
import { LmdbStore } from "../../../src/storage/lmdb/store.js";
import { MemoryStore } from "../../../src/storage/memory/memory-store.js";
import { ManualClock } from "../../support/clock.js";
import { TEST_STORE, leaseRequest, seededRandom, spec, submission, tempDir } from "../../support/engine.js";
import { sequentialIds } from "../../support/ids.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** An engine whose store records each commit (its verb names), and can be made to fail. */
async function open(): Promise<{ engine: Engine; commits: string[][]; failNext: () => void }> {
  const dir = tempDir();
  const inner: Store = TEST_STORE === "memory" ? MemoryStore.open() : await LmdbStore.open({ path: dir });
  const commits: string[][] = [];
  let fail = false;
  const store: Store = {
    reader: inner.reader,
    commit(verbs: readonly StoreVerb[]) {
      if (fail) {
        fail = false;
        return Promise.reject(new Error("disk on fire"));
      }
      commits.push(verbs.map((v) => v.verb));
      return inner.commit(verbs);
    },
    close: () => inner.close(),
  };
  const engine = await Engine.open({ store, clock: new ManualClock(), ids: sequentialIds(), random: seededRandom(7), autoTimers: false });
  cleanups.push(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { engine, commits, failNext: () => (fail = true) };
}

describe("a long poll woken by a commit", () => {
  it("gets the submitted run, leased and started, in the submit's own commit", async () => {
    const { engine, commits } = await open();
    const pending = engine.leaseRuns(leaseRequest({ queues: ["wake"], waitMs: 30_000, startAttempt: true }));
    await vi.waitFor(() => expect(engine.waitingWorkers).toBe(1));
    commits.length = 0;
    const s = await engine.submitTask(submission(spec({ queue: "wake" })));
    const r = await pending;
    expect(r.grants.map((g) => g.run.id)).toEqual([s.runs[0]!.id]);
    expect(r.grants[0]!.run.state).toBe("RUNNING");
    // One commit carried the task, the run, its lease and its attempt.
    expect(commits).toHaveLength(1);
    expect(commits[0]).toEqual(expect.arrayContaining(["createTask", "createRun", "updateRun"]));
    expect(engine.queries.run(s.runs[0]!.id).run.state).toBe("RUNNING");
    expect(engine.waitingWorkers).toBe(0);
  });

  it("of two waiters on one run, one gets it and the other keeps waiting for the next", async () => {
    const { engine } = await open();
    const a = engine.leaseRuns(leaseRequest({ queues: ["two"], workerId: "a", waitMs: 30_000 }));
    const b = engine.leaseRuns(leaseRequest({ queues: ["two"], workerId: "b", waitMs: 30_000 }));
    await vi.waitFor(() => expect(engine.waitingWorkers).toBe(2));
    const first = await engine.submitTask(submission(spec({ queue: "two" })));
    const winner = await Promise.race([a.then((r) => ({ w: "a", r })), b.then((r) => ({ w: "b", r }))]);
    expect(winner.r.grants.map((g) => g.run.id)).toEqual([first.runs[0]!.id]);
    expect(engine.waitingWorkers).toBe(1);
    const second = await engine.submitTask(submission(spec({ queue: "two" })));
    const other = await (winner.w === "a" ? b : a);
    expect(other.grants.map((g) => g.run.id)).toEqual([second.runs[0]!.id]);
  });

  it("goes on waiting when the commit it joined fails, and gets the next run", async () => {
    const { engine, commits, failNext } = await open();
    const pending = engine.leaseRuns(leaseRequest({ queues: ["ff"], waitMs: 30_000 }));
    await vi.waitFor(() => expect(engine.waitingWorkers).toBe(1));
    failNext();
    await expect(engine.submitTask(submission(spec({ queue: "ff" })))).rejects.toMatchObject({ reason: "STORAGE_IO" });
    // The lease attempt that shared the failed commit runs again on its own and finds nothing
    // (memory was rebuilt from disk, where neither the task nor a lease is): still waiting.
    expect(engine.waitingWorkers).toBe(1);
    expect(commits.flat()).not.toContain("createTask");
    const s = await engine.submitTask(submission(spec({ queue: "ff" })));
    expect((await pending).grants.map((g) => g.run.id)).toEqual([s.runs[0]!.id]);
  });
});
