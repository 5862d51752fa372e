import { describe, expect, it } from "vitest";
import { NeedRows, RowCache, type RowKeys } from "../../../src/engine/commit/rows.js";
import { Replay } from "../../../src/engine/commit/replay.js";
import type { RunId, TaskId } from "../../../src/domain/ids.js";
import type { AttemptRecord, LeaseRecord, ReservationRecord, RunRecord, TaskRecord } from "../../../src/engine/records.js";

const T1 = "t1" as TaskId;
const T2 = "t2" as TaskId;
const R1 = "r1" as RunId;
const R2 = "r2" as RunId;
const R3 = "r3" as RunId;
const task = { id: T1 } as unknown as TaskRecord;
const run = { id: R1 } as unknown as RunRecord;
const lease = { runId: R1 } as unknown as LeaseRecord;
const attempt = { runId: R1, number: 2 } as unknown as AttemptRecord;
const reservation = { taskId: T2 } as unknown as ReservationRecord;

/** The keys of the NeedRows `fn` throws. */
function missOf(fn: () => unknown): RowKeys {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NeedRows);
    return (e as NeedRows).keys;
  }
  throw new Error("expected NeedRows");
}

describe("RowCache", () => {
  it("starts empty: every one of the eight reads misses, naming its key", () => {
    const c = new RowCache();
    expect(missOf(() => c.getTask(T1)).tasks).toEqual([T1]);
    expect(missOf(() => c.getRun(R1)).runs).toEqual([R1]);
    expect(missOf(() => c.getLease(R1)).leases).toEqual([R1]);
    expect(missOf(() => c.getAttempt(R1, 2)).attempts).toEqual([[R1, 2]]);
    expect(missOf(() => c.getReservation(T2)).reservations).toEqual([T2]);
    expect(missOf(() => c.runIdsOfTask(T1, undefined, 5)).runIdsOfTask).toEqual([[T1, 5]]);
    expect(missOf(() => c.childTaskIds(T1)).childTaskIds).toEqual([T1]);
    expect(missOf(() => c.dependentTaskIds(T1)).dependentTaskIds).toEqual([T1]);
    // Each throw names one key; the cache remembers all of them until taken.
    const missed = c.takeMissed();
    expect(missed?.size).toBe(8);
    expect(missed?.keys.attempts).toEqual([[R1, 2]]);
    expect(c.takeMissed()).toBeNull();
  });

  it("answers what was filled, absent rows included, and misses the rest", () => {
    const c = new RowCache();
    c.fill({
      tasks: [
        [T1, task],
        [T2, undefined],
      ],
      runs: [[R1, run]],
      leases: [[R1, lease]],
      attempts: [[R1, 2, attempt]],
      reservations: [[T2, reservation]],
      childTaskIds: [[T1, [T2]]],
      dependentTaskIds: [[T1, []]],
    });
    expect(c.getTask(T1)).toBe(task);
    expect(c.getTask(T2)).toBeUndefined();
    expect(c.getRun(R1)).toBe(run);
    expect(c.getLease(R1)).toBe(lease);
    expect(c.getAttempt(R1, 2)).toBe(attempt);
    expect(c.getReservation(T2)).toBe(reservation);
    expect(c.childTaskIds(T1)).toEqual([T2]);
    expect(c.dependentTaskIds(T1)).toEqual([]);
    expect(c.takeMissed()).toBeNull();
    // Not filled: still misses.
    expect(missOf(() => c.getRun(R2)).runs).toEqual([R2]);
    expect(missOf(() => c.getAttempt(R1, 1)).attempts).toEqual([[R1, 1]]);
    expect(missOf(() => c.getLease(R2)).leases).toEqual([R2]);
    expect(missOf(() => c.childTaskIds(T2)).childTaskIds).toEqual([T2]);
    expect(c.takeMissed()?.size).toBe(4);
  });

  it("answers a run-id list read with a limit from a read as long or complete, and misses a longer one", () => {
    const c = new RowCache();
    c.fill({ runIdsOfTask: [[T1, 2, [R1, R2]]] });
    expect(c.runIdsOfTask(T1, undefined, 2)).toEqual([R1, R2]);
    expect(c.runIdsOfTask(T1, undefined, 1)).toEqual([R1]);
    // Two of at most two: there may be more.
    expect(missOf(() => c.runIdsOfTask(T1)).runIdsOfTask).toEqual([[T1, Number.MAX_SAFE_INTEGER]]);
    c.fill({ runIdsOfTask: [[T1, Number.MAX_SAFE_INTEGER, [R1, R2, R3]]] });
    expect(c.runIdsOfTask(T1)).toEqual([R1, R2, R3]);
    expect(c.runIdsOfTask(T1, undefined, 2)).toEqual([R1, R2]);
    // A complete list (fewer than its limit) answers any limit.
    c.fill({ runIdsOfTask: [[T2, 10, [R3]]] });
    expect(c.runIdsOfTask(T2)).toEqual([R3]);
    expect(c.takeMissed()?.size).toBe(1);
  });

  it("says whether a fetch answered what a miss asked", () => {
    const c = new RowCache();
    missOf(() => c.getTask(T1));
    missOf(() => c.getAttempt(R1, 2));
    const need = c.takeMissed() as NeedRows;
    expect(need.message).toContain("task t1");
    c.fill({ tasks: [[T1, undefined]] });
    expect(c.answers(need)).toBe(false);
    c.fill({ attempts: [[R1, 2, undefined]] });
    expect(c.answers(need)).toBe(true);
  });

  it("hands out copies of id lists (a caller cannot change what it holds)", () => {
    const c = new RowCache();
    c.fill({ childTaskIds: [[T1, [T2]]] });
    c.childTaskIds(T1).push(T1);
    expect(c.childTaskIds(T1)).toEqual([T2]);
  });
});

describe("Replay", () => {
  it("gives a re-run the draws of the run before it, then draws afresh", () => {
    let n = 0;
    const r = new Replay();
    const ids = r.ids({ runId: () => `run${++n}` as RunId, taskId: () => `task${++n}` as TaskId, attemptId: () => `a${++n}` as never, leaseToken: () => `l${++n}` as never });
    const random = r.random({ next: () => ++n / 100 });
    expect(ids.runId()).toBe("run1"); // outside a command: passed through
    r.begin();
    expect([ids.taskId(), random.next()]).toEqual(["task2", 0.03]);
    r.rewind();
    expect([ids.taskId(), random.next(), ids.runId()]).toEqual(["task2", 0.03, "run4"]);
    r.rewind();
    // A re-run that went another way draws afresh from where it differs.
    expect([ids.taskId(), ids.attemptId()]).toEqual(["task2", "a5"]);
    r.end();
    expect(ids.taskId()).toBe("task6");
  });
});
