/**
 * The oldest-READY rule (src/domain/oldest-ready.ts): examples of where the scan stops, and
 * properties over random queues — runs created in id order, each READY since some instant no
 * earlier than its creation — checked against the plain minimum over every run (or over the
 * runs within the bound), with the number of runs pulled from the source counted.
 */
import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { OLDEST_READY_SCAN, type ReadySince, oldestReadyAt } from "../../../src/domain/oldest-ready.js";

/** `runs` as a lazy source that counts what was pulled from it. */
function counted(runs: readonly ReadySince[]): { source: Iterable<ReadySince>; pulled: () => number } {
  let pulled = 0;
  return {
    source: (function* () {
      for (const r of runs) {
        pulled++;
        yield r;
      }
    })(),
    pulled: () => pulled,
  };
}

const run = (createdAt: number, lastStateChangeAt = createdAt): ReadySince => ({ createdAt, lastStateChangeAt });

describe("oldestReadyAt", () => {
  it("is null without READY runs", () => {
    expect(oldestReadyAt([])).toBeNull();
  });

  it("stops after two runs in a first-in first-out queue", () => {
    const c = counted([run(100), run(200), run(300), run(400)]);
    expect(oldestReadyAt(c.source)).toBe(100);
    expect(c.pulled()).toBe(2);
  });

  it("finds a younger run that has waited longer than an old retried one, and stops after it", () => {
    // Created at 100, READY again at 900 (a retry); created at 200, READY since 200.
    const c = counted([run(100, 900), run(200), run(300), run(400)]);
    expect(oldestReadyAt(c.source)).toBe(200);
    expect(c.pulled()).toBe(3);
  });

  it("reads on while runs were created before the oldest READY instant seen", () => {
    const c = counted([run(100, 1_000), run(200, 950), run(300, 990), run(400, 500), run(600), run(700)]);
    expect(oldestReadyAt(c.source)).toBe(500);
    // 600 >= 500: the fifth run ends the scan.
    expect(c.pulled()).toBe(5);
  });

  it("answers the oldest among the runs within the bound", () => {
    const runs = Array.from({ length: 50 }, (_, i) => run(i, 10_000 - i));
    const c = counted(runs);
    expect(oldestReadyAt(c.source, 10)).toBe(10_000 - 9);
    expect(c.pulled()).toBe(10);
    expect(oldestReadyAt(runs)).toBe(10_000 - 49);
  });

  it("bounds the scan at 10,000 runs by default", () => {
    expect(OLDEST_READY_SCAN).toBe(10_000);
    const c = counted(Array.from({ length: 20_000 }, (_, i) => run(i, 1_000_000 - i)));
    expect(oldestReadyAt(c.source)).toBe(1_000_000 - 9_999);
    expect(c.pulled()).toBe(10_000);
  });
});

/** A queue's READY runs in id order: creation times never decrease, READY since no earlier. */
const arbQueue = fc
  .array(fc.record({ gap: fc.integer({ min: 0, max: 50 }), waitedFor: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000 })) }), { maxLength: 60 })
  .map((xs) => {
    let t = 1_000;
    return xs.map(({ gap, waitedFor }) => {
      t += gap;
      return run(t, t + waitedFor);
    });
  });

const minOf = (runs: readonly ReadySince[]): number | null => (runs.length === 0 ? null : Math.min(...runs.map((r) => r.lastStateChangeAt)));

describe("oldestReadyAt properties", () => {
  fcTest.prop([arbQueue], { numRuns: 500 })("equals the smallest lastStateChangeAt of every READY run", (runs) => {
    expect(oldestReadyAt(runs)).toBe(minOf(runs));
  });

  fcTest.prop([arbQueue, fc.integer({ min: 1, max: 70 })], { numRuns: 500 })("within a bound, equals the smallest among the runs within it, pulling no more", (runs, bound) => {
    const c = counted(runs);
    expect(oldestReadyAt(c.source, bound)).toBe(minOf(runs.slice(0, bound)));
    expect(c.pulled()).toBeLessThanOrEqual(Math.min(bound, runs.length));
  });

  fcTest.prop([arbQueue], { numRuns: 500 })("pulls at most one run created after the answer (the one that ends the scan)", (runs) => {
    const c = counted(runs);
    const answer = oldestReadyAt(c.source);
    if (answer === null) return;
    const createdBy = runs.filter((r) => r.createdAt <= answer).length;
    expect(c.pulled()).toBeLessThanOrEqual(Math.min(runs.length, createdBy + 1));
  });
});
