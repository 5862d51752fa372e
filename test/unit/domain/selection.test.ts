import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { KeyGate } from "../../../src/domain/keys.js";
import { type Candidate, compareReady, eligibility, selectByScan } from "../../../src/domain/selection.js";
import { runId } from "../../support/ids.js";

function cand(n: number, over: Partial<Candidate> = {}): Candidate {
  return { runId: runId(n), effectivePriority: 0, createdAt: n, queue: "q", requiredCapabilities: [], key: null, ...over };
}
const asker = { queues: new Set(["q"]), capabilities: new Set<string>() };
const flags = { enginePaused: false, pausedQueues: new Set<string>() };

describe("hand-out order", () => {
  it("orders by higher priority, then earlier created_at, then run id", () => {
    const runs = [
      cand(1, { effectivePriority: 0, createdAt: 5 }),
      cand(2, { effectivePriority: 10, createdAt: 9 }),
      cand(3, { effectivePriority: 0, createdAt: 1 }),
      cand(5, { effectivePriority: 0, createdAt: 5 }),
      cand(4, { effectivePriority: 0, createdAt: 5 }),
    ];
    expect([...runs].sort(compareReady).map((r) => r.runId)).toEqual([runId(2), runId(3), runId(1), runId(4), runId(5)]);
  });

  const arbKey = fc.record({
    effectivePriority: fc.integer({ min: -3, max: 3 }),
    createdAt: fc.integer({ min: 0, max: 5 }),
    runId: fc.integer({ min: 1, max: 20 }).map(runId),
  });
  fcTest.prop([arbKey, arbKey, arbKey])("is a total order (antisymmetric, transitive, zero only for equal keys)", (a, b, c) => {
    // Antisymmetric (written as a sum so 0 and -0 compare equal).
    expect(Math.sign(compareReady(a, b)) + Math.sign(compareReady(b, a))).toBe(0);
    if (compareReady(a, b) <= 0 && compareReady(b, c) <= 0) expect(compareReady(a, c)).toBeLessThanOrEqual(0);
    if (compareReady(a, b) === 0) expect(a).toEqual(b);
  });
});

describe("eligibility", () => {
  it("refuses other queues, paused engine, paused queue, missing capability and full keys", () => {
    const gate = new KeyGate();
    gate.acquire("k", runId(99), 1, "HELD", 0);
    expect(eligibility(cand(1, { queue: "other" }), asker, gate, flags)).toBe("WRONG_QUEUE");
    expect(eligibility(cand(1), asker, gate, { enginePaused: true, pausedQueues: new Set() })).toBe("ENGINE_PAUSED");
    expect(eligibility(cand(1), asker, gate, { enginePaused: false, pausedQueues: new Set(["q"]) })).toBe("QUEUE_PAUSED");
    expect(eligibility(cand(1, { requiredCapabilities: ["gpu"] }), asker, gate, flags)).toBe("MISSING_CAPABILITY");
    expect(eligibility(cand(1, { key: { key: "k", slots: 1 } }), asker, gate, flags)).toBe("KEY_FULL");
    expect(eligibility(cand(1, { key: { key: "k", slots: 2 } }), asker, gate, flags)).toBe("OK");
    expect(eligibility(cand(99, { key: { key: "k", slots: 1 } }), asker, gate, flags)).toBe("OK");
  });

  it("hands capability-bound runs only to workers declaring all of them", () => {
    const gate = new KeyGate();
    const gpu = { queues: new Set(["q"]), capabilities: new Set(["gpu", "linux"]) };
    expect(eligibility(cand(1, { requiredCapabilities: ["gpu", "linux"] }), gpu, gate, flags)).toBe("OK");
    expect(eligibility(cand(1, { requiredCapabilities: ["gpu", "arm"] }), gpu, gate, flags)).toBe("MISSING_CAPABILITY");
  });
});

describe("reference selection", () => {
  it("skips runs of a full key without starving other keys", () => {
    const gate = new KeyGate();
    const runs = [
      cand(1, { key: { key: "a", slots: 1 }, effectivePriority: 5 }),
      cand(2, { key: { key: "a", slots: 1 }, effectivePriority: 5 }),
      cand(3, { key: { key: "a", slots: 1 }, effectivePriority: 5 }),
      cand(4, { key: { key: "b", slots: 1 } }),
      cand(5),
    ];
    expect(selectByScan(runs, asker, gate, flags, 10).map((r) => r.runId)).toEqual([runId(1), runId(4), runId(5)]);
  });

  it("takes up to N runs of an N-slot key in one selection", () => {
    const gate = new KeyGate();
    const runs = [1, 2, 3, 4].map((n) => cand(n, { key: { key: "t", slots: 3 } }));
    expect(selectByScan(runs, asker, gate, flags, 10)).toHaveLength(3);
  });
});
