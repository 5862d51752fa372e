/**
 * Two reads the dashboard leans on, against a real store (LMDB here; the in-memory reference
 * store in the "engine-on-memory" project): GetStats' oldest READY instant per queue, and
 * ListRuns filtered by concurrency key — paged across short pages, combined with queue,
 * task and states — through the engine's query API, before and after a restart.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { RunId } from "../../../src/domain/ids.js";
import { keySpec } from "../../../src/domain/task-spec.js";
import type { Engine, RunFilter, RunView } from "../../../src/engine/engine.js";
import { leaseRequest, openTestEngine, spec, submission, type TestEngine } from "../../support/engine.js";

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const oldest = (engine: Engine, queue: string) => engine.stats([queue]).queues[0]?.oldestReadyAt;

async function submit(engine: Engine, queue: string, key: string | null = null, over: Parameters<typeof spec>[0] = {}) {
  return engine.submitTask(submission(spec({ queue, ...over, constraints: { concurrency: key === null ? null : keySpec(key, 10), ...over.constraints } })));
}

/** Every page of `f` at `size`, following `next`; the ids and the length of each page. */
function pages(engine: Engine, f: Partial<RunFilter>, size: number): { ids: RunId[]; lengths: number[] } {
  const filter: RunFilter = { queue: "", taskId: null, states: new Set(), ...f };
  const ids: RunId[] = [];
  const lengths: number[] = [];
  let after: RunId | undefined;
  for (let i = 0; i < 1_000; i++) {
    const page = engine.queries.listRuns(filter, { after, size });
    ids.push(...page.items.map((x: RunView) => x.run.id));
    lengths.push(page.items.length);
    if (page.next === null) return { ids, lengths };
    after = page.next as RunId;
  }
  throw new Error("paging did not end");
}

describe("oldest READY instant per queue (GetStats)", () => {
  it("is null for a queue with no READY run, and for an unknown queue", async () => {
    t = await openTestEngine();
    const { engine, clock } = t;
    expect(oldest(engine, "never")).toBeNull();
    await submit(engine, "q", null, { policy: { kind: "ONCE", startAt: clock.now() + 60_000 } });
    await submit(engine, "q");
    await engine.leaseRuns(leaseRequest({ queues: ["q"] }));
    const s = engine.stats(["q"]).queues[0];
    expect(s?.counts).toMatchObject({ SCHEDULED: 1, READY: 0, LEASED: 1 });
    expect(s?.oldestReadyAt).toBeNull();
  });

  it("is the first READY run's instant in a first-in first-out queue, moving on as runs are leased", async () => {
    t = await openTestEngine();
    const { engine, clock } = t;
    const t0 = clock.now();
    for (let i = 0; i < 3; i++) {
      await submit(engine, "fifo");
      clock.advance(100);
    }
    await submit(engine, "other");
    expect(oldest(engine, "fifo")).toBe(t0);
    await engine.leaseRuns(leaseRequest({ queues: ["fifo"], maxRuns: 1 }));
    expect(oldest(engine, "fifo")).toBe(t0 + 100);
    // Every queue of an unfiltered GetStats carries its own.
    const all = new Map(engine.stats().queues.map((q) => [q.queue.name, q.oldestReadyAt]));
    expect(all).toEqual(new Map([["fifo", t0 + 100], ["other", t0 + 300]]));
    await engine.leaseRuns(leaseRequest({ queues: ["fifo"], maxRuns: 10 }));
    expect(oldest(engine, "fifo")).toBeNull();
  });

  it("counts a retried run from when it became READY again, not from its creation, across a restart", async () => {
    t = await openTestEngine();
    const { engine, clock } = t;
    const t0 = clock.now();
    const retried = await submit(engine, "r", null, { constraints: { maxAttempts: 3, backoff: { kind: "FIXED", intervalMs: 1_000 } } });
    const [g] = (await engine.leaseRuns(leaseRequest({ queues: ["r"], startAttempt: true }))).grants;
    expect(g?.run.taskId).toBe(retried.task.id);
    clock.advance(500);
    await submit(engine, "r");
    clock.advance(500);
    await engine.completeAttempts([{ runId: g!.run.id, token: g!.lease.token, attemptId: g!.attempt!.id, outcome: "RETRYABLE_FAILURE", output: new Uint8Array(), error: "try again" }]);
    clock.advance(1_000);
    await engine.tick();
    expect(engine.reader.getRun(g!.run.id)).toMatchObject({ state: "READY", createdAt: t0, lastStateChangeAt: t0 + 2_000 });
    // The younger run has waited since t0 + 500; the old one only since t0 + 2000.
    expect(oldest(engine, "r")).toBe(t0 + 500);
    t = await t.reopen();
    expect(oldest(t.engine, "r")).toBe(t0 + 500);
    // Hand-out order is by priority and creation: the retried run goes first, the younger one stays.
    const [next] = (await t.engine.leaseRuns(leaseRequest({ queues: ["r"], maxRuns: 1 }))).grants;
    expect(next?.run.id).toBe(g!.run.id);
    expect(oldest(t.engine, "r")).toBe(t0 + 500);
  });
});

describe("ListRuns by concurrency key", () => {
  it("pages across short pages to every run of the key, in id order", async () => {
    t = await openTestEngine();
    const { engine } = t;
    const want: RunId[] = [];
    for (let i = 0; i < 45; i++) {
      const r = await submit(engine, "q", i % 15 === 14 ? "tenant-7" : i % 2 === 0 ? "tenant-9" : null);
      if (i % 15 === 14) want.push(r.runs[0]!.id);
    }
    // Three runs of the key, 15 apart; pages of 1 read at most 10 runs each.
    const { ids, lengths } = pages(engine, { concurrencyKey: "tenant-7" }, 1);
    expect(ids).toEqual(want);
    expect(lengths.filter((n) => n === 0).length).toBeGreaterThan(0);
    expect(lengths.every((n) => n <= 1)).toBe(true);
    // A larger page finds them all at once.
    expect(pages(engine, { concurrencyKey: "tenant-7" }, 100)).toEqual({ ids: want, lengths: [3] });
    // A key no run has: nothing, after as many short pages as the scan takes.
    expect(pages(engine, { concurrencyKey: "nobody" }, 5).ids).toEqual([]);
  });

  it("combines with queue, states and task", async () => {
    t = await openTestEngine();
    const { engine } = t;
    const a1 = await submit(engine, "a", "k");
    const a2 = await submit(engine, "a", "k");
    await submit(engine, "a", "other");
    const b1 = await submit(engine, "b", "k");
    await submit(engine, "b");
    // Lease the first run of queue "a" (a1).
    const [g] = (await engine.leaseRuns(leaseRequest({ queues: ["a"], maxRuns: 1 }))).grants;
    expect(g?.run.id).toBe(a1.runs[0]!.id);
    const id = (r: typeof a1) => r.runs[0]!.id;
    expect(pages(engine, { concurrencyKey: "k" }, 2).ids).toEqual([id(a1), id(a2), id(b1)]);
    expect(pages(engine, { concurrencyKey: "k", queue: "a" }, 2).ids).toEqual([id(a1), id(a2)]);
    expect(pages(engine, { concurrencyKey: "k", queue: "a", states: new Set(["READY"]) }, 2).ids).toEqual([id(a2)]);
    expect(pages(engine, { concurrencyKey: "k", states: new Set(["LEASED"]) }, 2).ids).toEqual([id(a1)]);
    expect(pages(engine, { concurrencyKey: "k", states: new Set(["READY"]) }, 1).ids).toEqual([id(a2), id(b1)]);
    expect(pages(engine, { concurrencyKey: "k", taskId: b1.task.id }, 2).ids).toEqual([id(b1)]);
    expect(pages(engine, { concurrencyKey: "other", taskId: b1.task.id }, 2).ids).toEqual([]);
    expect(pages(engine, { concurrencyKey: "k", queue: "b", taskId: a1.task.id }, 2).ids).toEqual([]);
    // Each listed run carries its key (the record's keySlots) and its live lease.
    const page = engine.queries.listRuns({ queue: "a", taskId: null, states: new Set(), concurrencyKey: "k" }, { after: undefined, size: 10 });
    expect(page.items.map((x) => [x.run.keySlots?.key, x.lease?.workerId])).toEqual([
      ["k", "w1"],
      ["k", undefined],
    ]);
  });
});
