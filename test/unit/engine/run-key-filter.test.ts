/**
 * ListRuns' concurrency-key filter (src/engine/queries.ts, `#runsWithKey`) over the in-memory
 * reference store: following `next` from page to page yields exactly the runs of tasks with
 * the key that the other filters (queue, task, states) select, in id order, each once; no
 * page is longer than asked; and no call reads more than ten pages' worth of runs, so a page
 * may be short — even empty — with a next position. Random worlds and filters (fast-check),
 * then the bound on a sparse key. The engine writes the store; the queries read it through
 * a reader that counts run reads.
 */
import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import type { RunId, TaskId } from "../../../src/domain/ids.js";
import { DEFAULT_LIMITS } from "../../../src/domain/limits.js";
import type { RunState } from "../../../src/domain/state.js";
import { keySpec } from "../../../src/domain/task-spec.js";
import { Engine, type RunFilter } from "../../../src/engine/engine.js";
import type { StoreReader } from "../../../src/engine/ports.js";
import { Queries } from "../../../src/engine/queries.js";
import { MemoryStore } from "../../../src/storage/memory/memory-store.js";
import { ManualClock } from "../../support/clock.js";
import { leaseRequest, seededRandom, spec, submission } from "../../support/engine.js";
import { sequentialIds } from "../../support/ids.js";

interface World {
  readonly engine: Engine;
  readonly store: MemoryStore;
  readonly tasks: TaskId[];
}

/** Tasks of `shapes` (queue, key) submitted in order, then `leased` runs of each queue leased. */
async function world(shapes: ReadonlyArray<{ queue: string; key: string | null }>, leased: number): Promise<World> {
  const store = MemoryStore.open();
  const engine = await Engine.open({ store, clock: new ManualClock(), ids: sequentialIds(), random: seededRandom(7), autoTimers: false });
  const results = await engine.submitTasks(
    shapes.map((s) => submission(spec({ queue: s.queue, constraints: { concurrency: s.key === null ? null : keySpec(s.key, 2) } }))),
    { batch: true },
  );
  for (const queue of ["q1", "q2"]) if (leased > 0) await engine.leaseRuns(leaseRequest({ queues: [queue], maxRuns: leased }));
  return { engine, store, tasks: results.map((r) => r.task.id) };
}

/** The store's reader, counting getRun calls. */
function countingReader(reader: StoreReader): { reader: StoreReader; runReads: () => number } {
  let reads = 0;
  const counted = new Proxy(reader, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop === "getRun" && typeof value === "function") {
        return (id: RunId) => {
          reads++;
          return (value as StoreReader["getRun"]).call(target, id);
        };
      }
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { reader: counted, runReads: () => reads };
}

/** Every page of `f` at `size`, following `next`; checks each call's length and reads. */
function walk(w: World, f: RunFilter, size: number): { ids: RunId[]; calls: number; shortWithNext: number } {
  const { reader, runReads } = countingReader(w.store.reader);
  const queries = new Queries(reader, DEFAULT_LIMITS);
  const ids: RunId[] = [];
  let after: RunId | undefined;
  let calls = 0;
  let shortWithNext = 0;
  for (;;) {
    const before = runReads();
    const page = queries.listRuns(f, { after, size });
    calls++;
    expect(page.items.length).toBeLessThanOrEqual(size);
    // Ten pages' worth of runs scanned, each read once, plus nothing else.
    expect(runReads() - before).toBeLessThanOrEqual(size * 10);
    ids.push(...page.items.map((x) => x.run.id));
    if (page.next === null) break;
    if (page.items.length < size) shortWithNext++;
    after = page.next as RunId;
    expect(calls).toBeLessThan(10_000);
  }
  return { ids, calls, shortWithNext };
}

/** What the filter selects, from every run of the store. */
function expected(w: World, f: RunFilter): RunId[] {
  const r = w.store.reader;
  return r
    .runIds()
    .map((id) => r.getRun(id))
    .filter((run) => run !== undefined)
    .filter((run) => run.keySlots?.key === f.concurrencyKey)
    .filter((run) => f.queue === "" || run.queue === f.queue)
    .filter((run) => f.taskId === null || run.taskId === f.taskId)
    .filter((run) => f.states.size === 0 || f.states.has(run.state))
    .map((run) => run.id);
}

/** Mostly tasks without a key, so that a key's runs are often more than a call's scan apart. */
const arbKey = fc.oneof({ arbitrary: fc.constant(null), weight: 6 }, { arbitrary: fc.constant("a"), weight: 1 }, { arbitrary: fc.constant("b"), weight: 1 });
const arbShapes = fc.array(fc.record({ queue: fc.constantFrom("q1", "q2"), key: arbKey }), { minLength: 20, maxLength: 80 });
const arbFilter = fc.record({
  key: fc.constantFrom("a", "b", "nobody"),
  queue: fc.constantFrom("", "q1"),
  states: fc.constantFrom<RunState[]>([], ["READY"], ["LEASED"], ["READY", "LEASED"]),
  // Mostly no task filter (a task has one run here: the filter then reads at most one).
  task: fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, { arbitrary: fc.nat(), weight: 1 }),
  size: fc.integer({ min: 1, max: 4 }),
});

describe("ListRuns with a concurrency key", () => {
  fcTest.prop([arbShapes, fc.integer({ min: 0, max: 6 }), arbFilter], { numRuns: 150 })(
    "pages through exactly the matching runs, in id order, each once, within the scan bound",
    async (shapes, leased, g) => {
      const w = await world(shapes, leased);
      try {
        const f: RunFilter = { queue: g.queue, taskId: g.task === null ? null : (w.tasks[g.task % w.tasks.length] as TaskId), states: new Set(g.states), concurrencyKey: g.key };
        const { ids } = walk(w, f, g.size);
        expect(ids).toEqual(expected(w, f));
        expect([...ids].sort()).toEqual(ids);
      } finally {
        await w.engine.close();
      }
    },
  );

  it("answers short pages with a next position while a sparse key's runs are far apart", async () => {
    // 60 tasks without a key, then one with "rare", 60 more without, one more with "rare".
    const none = Array.from({ length: 60 }, () => ({ queue: "q1", key: null }));
    const w = await world([...none, { queue: "q1", key: "rare" }, ...none, { queue: "q1", key: "rare" }], 0);
    try {
      for (const queue of ["", "q1"]) {
        const { ids, calls, shortWithNext } = walk(w, { queue, taskId: null, states: new Set(), concurrencyKey: "rare" }, 2);
        expect(ids).toEqual(expected(w, { queue, taskId: null, states: new Set(), concurrencyKey: "rare" }));
        expect(ids).toHaveLength(2);
        // 122 runs at most 20 per call: at least 7 calls, most of them short (empty) with a next.
        expect(calls).toBeGreaterThanOrEqual(7);
        expect(shortWithNext).toBeGreaterThanOrEqual(5);
      }
    } finally {
      await w.engine.close();
    }
  });

  it("refuses a key out of bounds, naming concurrency_key", async () => {
    const w = await world([{ queue: "q1", key: "a" }], 0);
    try {
      for (const key of ["k".repeat(257), "a\u0007b"]) {
        let caught: unknown;
        try {
          w.engine.queries.listRuns({ queue: "", taskId: null, states: new Set(), concurrencyKey: key }, { after: undefined, size: 10 });
        } catch (e) {
          caught = e;
        }
        expect(caught).toMatchObject({ reason: "INVALID_ARGUMENT", violations: [{ field: "concurrency_key" }] });
      }
    } finally {
      await w.engine.close();
    }
  });
});
