/**
 * The engine's selection index against the domain's reference selection (a full scan): for
 * random READY sets, key occupancies, pauses and worker capabilities, the index hands out
 * exactly the run the scan would, one run after another.
 */
import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { KeyGate } from "../../../src/domain/keys.js";
import { type Candidate, compareReady, selectByScan } from "../../../src/domain/selection.js";
import { ReadyIndex } from "../../../src/engine/memory/ready-index.js";
import { runId } from "../../support/ids.js";

const QUEUES = ["q1", "q2"];
const CAPS = ["gpu", "arm"];
const KEYS = [
  { key: "a", slots: 1 },
  { key: "b", slots: 2 },
];

const arbCandidate = (n: number): fc.Arbitrary<Candidate> =>
  fc.record({
    runId: fc.constant(runId(n)),
    effectivePriority: fc.integer({ min: -2, max: 2 }),
    createdAt: fc.integer({ min: 0, max: 5 }),
    queue: fc.constantFrom(...QUEUES),
    requiredCapabilities: fc.subarray(CAPS).map((c) => [...c].sort()),
    key: fc.option(fc.constantFrom(...KEYS), { nil: null }),
  });

const arbWorld = fc
  .integer({ min: 1, max: 40 })
  .chain((n) =>
    fc.record({
      runs: fc.tuple(...Array.from({ length: n }, (_, i) => arbCandidate(i + 1))),
      held: fc.array(fc.tuple(fc.constantFrom(...KEYS), fc.integer({ min: 100, max: 110 })), { maxLength: 3 }),
      paused: fc.subarray(QUEUES),
      askQueues: fc.subarray(QUEUES, { minLength: 1 }),
      askCaps: fc.subarray(CAPS),
      take: fc.integer({ min: 1, max: 50 }),
      removals: fc.array(fc.nat({ max: 60 }), { maxLength: 5 }),
    }),
  );

describe("ready index", () => {
  fcTest.prop([arbWorld], { numRuns: 300 })("hands out runs in exactly the order of the reference scan", (w) => {
    const gate = new KeyGate();
    for (const [k, holder] of w.held) gate.acquire(k.key, runId(holder), k.slots, "HELD", 0);
    const index = new ReadyIndex((key, slots) => gate.occupancy(key) >= slots);
    let ready: Candidate[] = [...w.runs];
    for (const r of ready) index.add({ runId: r.runId, queue: r.queue, effectivePriority: r.effectivePriority, createdAt: r.createdAt, capabilities: r.requiredCapabilities, key: r.key });
    for (const i of w.removals) {
      const victim = ready[i % Math.max(1, ready.length)];
      if (!victim) continue;
      index.remove(victim.runId);
      ready = ready.filter((r) => r.runId !== victim.runId);
    }
    expect(index.size).toBe(ready.length);
    const asker = { queues: new Set(w.askQueues), capabilities: new Set(w.askCaps) };
    const flags = { enginePaused: false, pausedQueues: new Set(w.paused) };
    for (let i = 0; i < w.take; i++) {
      const expected = selectByScan(ready, asker, gate, flags, 1)[0];
      const got = index.best(w.askQueues, asker.capabilities, (q) => flags.pausedQueues.has(q));
      expect(got?.runId).toBe(expected?.runId);
      if (!expected) break;
      // Hand it out: the run leaves the index and reserves its key slot, as the engine does.
      index.remove(expected.runId);
      ready = ready.filter((r) => r.runId !== expected.runId);
      if (expected.key) {
        gate.acquire(expected.key.key, expected.runId, expected.key.slots, "RESERVED", 0);
        index.keyChanged(expected.key.key);
      }
    }
  });

  it("orders entries exactly as the domain's compareReady (priority, created_at, run id)", () => {
    const index = new ReadyIndex(() => false);
    const infos = [
      { runId: runId(3), effectivePriority: 0, createdAt: 5 },
      { runId: runId(1), effectivePriority: 9, createdAt: 9 },
      { runId: runId(2), effectivePriority: 0, createdAt: 5 },
      { runId: runId(4), effectivePriority: 0, createdAt: 1 },
    ];
    for (const i of infos) index.add({ ...i, queue: "q", capabilities: [], key: null });
    const order: string[] = [];
    for (let next = index.best(["q"], new Set(), () => false); next; next = index.best(["q"], new Set(), () => false)) {
      order.push(next.runId);
      index.remove(next.runId);
    }
    expect(order).toEqual([...infos].sort(compareReady).map((i) => i.runId));
  });

  it("brings a full key's runs back when a slot frees, without scanning them meanwhile", () => {
    const gate = new KeyGate();
    const index = new ReadyIndex((key, slots) => gate.occupancy(key) >= slots);
    gate.acquire("k", runId(99), 1, "HELD", 0);
    index.add({ runId: runId(1), queue: "q", effectivePriority: 5, createdAt: 0, capabilities: [], key: { key: "k", slots: 1 } });
    index.add({ runId: runId(2), queue: "q", effectivePriority: 0, createdAt: 0, capabilities: [], key: null });
    expect(index.best(["q"], new Set(), () => false)?.runId).toBe(runId(2));
    gate.release("k", runId(99));
    index.keyChanged("k");
    expect(index.best(["q"], new Set(), () => false)?.runId).toBe(runId(1));
  });
});
