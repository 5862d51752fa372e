/**
 * The runs view's live model (ui/src/runs-model.ts): matching the filter, applying a
 * WatchRuns event to a shown row (never an older one), where a newly matching run goes on
 * the page shown, which events may bring one, and a key's free slots.
 */
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { type RunEvent, RunEventSchema, RunEventType, RunSchema, RunState } from "../../../clients/typescript/src/gen/actionqueue/v1/run_pb.js";
import { NO_FILTER } from "../../../ui/src/route.js";
import { applyEvent, insertAt, insertionIndex, matchesFilter, mayNewlyMatch, slotsOf } from "../../../ui/src/runs-model.js";

const run = () => create(RunSchema, { id: "r1", taskId: "t1", queue: "q", state: RunState.READY, revision: 10n, concurrencyKey: "k" });
const event = (over: Partial<Omit<RunEvent, "$typeName">> = {}) =>
  create(RunEventSchema, { runId: "r1", taskId: "t1", queue: "q", type: RunEventType.TRANSITION, fromState: RunState.READY, toState: RunState.LEASED, revision: 11n, ...over });

describe("filter", () => {
  it("matches on queue, task, key and states", () => {
    expect(matchesFilter(run(), NO_FILTER)).toBe(true);
    expect(matchesFilter(run(), { ...NO_FILTER, queue: "q", taskId: "t1", key: "k", states: [RunState.READY] })).toBe(true);
    expect(matchesFilter(run(), { ...NO_FILTER, queue: "other" })).toBe(false);
    expect(matchesFilter(run(), { ...NO_FILTER, taskId: "t2" })).toBe(false);
    expect(matchesFilter(run(), { ...NO_FILTER, key: "k2" })).toBe(false);
    expect(matchesFilter(run(), { ...NO_FILTER, states: [RunState.RUNNING, RunState.FAILED] })).toBe(false);
  });
});

describe("applying events", () => {
  it("moves the row to the event's state with its time, reason, priority and attempt number", () => {
    const time = { $typeName: "google.protobuf.Timestamp" as const, seconds: 1_700_000_000n, nanos: 0 };
    const r = applyEvent(run(), event({ toState: RunState.RUNNING, time, reason: "", effectivePriority: 3, attempt: { $typeName: "actionqueue.v1.AttemptSummary", id: "a", number: 2, outcome: 0, error: "", workerId: "w" } }));
    expect(r).toMatchObject({ state: RunState.RUNNING, revision: 11n, effectivePriority: 3, attemptCount: 2, lastStateChangeAt: time });
  });

  it("changes only the priority on a priority event", () => {
    const r = applyEvent(run(), event({ type: RunEventType.PRIORITY_CHANGED, toState: RunState.READY, effectivePriority: 9 }));
    expect(r).toMatchObject({ state: RunState.READY, effectivePriority: 9, revision: 11n });
  });

  it("skips events not newer than the row and events of other runs", () => {
    const r = run();
    expect(applyEvent(r, event({ revision: 10n }))).toBe(r);
    expect(applyEvent(r, event({ revision: 9n }))).toBe(r);
    expect(applyEvent(r, event({ runId: "r2" }))).toBe(r);
  });
});

describe("placing newly matching runs (rows in id order)", () => {
  const ids = ["b", "d", "f"];
  it("inserts inside the page's id range", () => {
    expect(insertionIndex(ids, "c", { isFirstPage: false, hasNextPage: true })).toBe(1);
    expect(insertionIndex(ids, "e", { isFirstPage: true, hasNextPage: false })).toBe(2);
  });

  it("inserts before the first id only on the first page, after the last only on the last page", () => {
    expect(insertionIndex(ids, "a", { isFirstPage: true, hasNextPage: true })).toBe(0);
    expect(insertionIndex(ids, "a", { isFirstPage: false, hasNextPage: true })).toBe(-1);
    expect(insertionIndex(ids, "g", { isFirstPage: false, hasNextPage: false })).toBe(3);
    expect(insertionIndex(ids, "g", { isFirstPage: true, hasNextPage: true })).toBe(-1);
  });

  it("fills an empty single page and never duplicates a row", () => {
    expect(insertionIndex([], "a", { isFirstPage: true, hasNextPage: false })).toBe(0);
    expect(insertionIndex([], "a", { isFirstPage: false, hasNextPage: false })).toBe(-1);
    expect(insertionIndex(ids, "d", { isFirstPage: true, hasNextPage: false })).toBe(-1);
    expect(insertAt(ids, 1, "c")).toEqual(["b", "c", "d", "f"]);
    expect(ids).toEqual(["b", "d", "f"]);
  });

  it("looks at created runs without a state filter and at runs entering a filtered state with one", () => {
    expect(mayNewlyMatch(event({ type: RunEventType.CREATED, toState: RunState.READY }), NO_FILTER)).toBe(true);
    expect(mayNewlyMatch(event(), NO_FILTER)).toBe(false);
    const failed = { ...NO_FILTER, states: [RunState.FAILED] };
    expect(mayNewlyMatch(event({ toState: RunState.FAILED }), failed)).toBe(true);
    expect(mayNewlyMatch(event({ toState: RunState.COMPLETED }), failed)).toBe(false);
    expect(mayNewlyMatch(event({ type: RunEventType.PRIORITY_CHANGED, toState: RunState.FAILED }), failed)).toBe(false);
    expect(mayNewlyMatch(event({ type: RunEventType.CREATED, queue: "other" }), { ...NO_FILTER, queue: "q" })).toBe(false);
    expect(mayNewlyMatch(event({ type: RunEventType.CREATED, taskId: "t9" }), { ...NO_FILTER, taskId: "t1" })).toBe(false);
  });
});

describe("key slots", () => {
  it("takes the declared slot limit (at least 1) and never shows negative free slots", () => {
    expect(slotsOf({ holders: [] })).toEqual({ slots: 1, free: 1 });
    expect(slotsOf({ holders: [{ slots: 3 }] })).toEqual({ slots: 3, free: 2 });
    expect(slotsOf({ holders: [{ slots: 1 }, { slots: 1 }] })).toEqual({ slots: 1, free: 0 });
  });
});
