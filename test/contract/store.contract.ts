/**
 * The storage contract: what every implementation of the engine's Store port must do, tested
 * through the port only (no engine). A runner calls `storeContract` with a fixture opener;
 * each test gets a fresh, empty store. Records and verbs are built by hand (records.ts), so
 * each test states exactly what it commits and what the reader must answer.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunState } from "../../src/domain/state.js";
import { RUN_STATES } from "../../src/domain/state.js";
import { EngineError } from "../../src/engine/errors.js";
import type { MetaRecord, Store, StoreVerb } from "../../src/engine/ports.js";
import type { RunRecord, TaskRecord } from "../../src/engine/records.js";
import { attemptId, runId, taskId } from "../support/ids.js";
import {
  BOGUS_VERB,
  CRON_POLICY,
  attemptRec,
  createRun,
  createTask,
  dropTimer,
  eventRec,
  holderRec,
  leaseRec,
  purgeEvents,
  purgeRun,
  purgeTask,
  queueRec,
  releaseReservation,
  reservationRec,
  runRec,
  saveQueue,
  taskRec,
  updateRun,
  updateRuns,
  updateTask,
} from "./records.js";

/** An opened store for one test. */
export interface StoreFixture {
  readonly store: Store;
  /** Closes the store (whichever `reopen` returned last) and removes what it left behind. */
  cleanup(): Promise<void>;
  /** Closes the store and opens it again on the same data (persistent stores only). */
  reopen?: () => Promise<Store>;
  /**
   * The store assigns revisions at commit (PostgreSQL with concurrent commits): a commit's
   * events get the next revisions of its counter, in the order they were stamped, whatever
   * the verbs carried, and its records are moved to them in place (ports.ts shiftRevisions).
   * Tests that store arbitrary revisions do not apply to it; "assigns revisions at commit"
   * applies only to it.
   */
  readonly assignsRevisions?: boolean;
}

const ZERO_COUNTS = Object.fromEntries(RUN_STATES.map((s) => [s, 0])) as Record<RunState, number>;

function countsWith(over: Partial<Record<RunState, number>>): Record<RunState, number> {
  return { ...ZERO_COUNTS, ...over };
}

/** Registers the contract tests for one Store implementation. */
export function storeContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${name}`, () => {
    let fx: StoreFixture;
    let store: Store;
    const r = () => store.reader;
    const commit = (...verbs: StoreVerb[]) => store.commit(verbs);

    beforeEach(async () => {
      fx = await open();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    /** Creates tasks 1..n (n >= 1) on queue "default". */
    async function tasks(...ns: number[]): Promise<TaskRecord[]> {
      const recs = ns.map((n) => taskRec(n));
      await store.commit(recs.map(createTask));
      return recs;
    }

    /** Creates runs from records, each with a CREATED event at revision 100 + n. */
    async function runs(...recs: RunRecord[]): Promise<RunRecord[]> {
      await store.commit(recs.map((run, i) => createRun(run, 100 + i)));
      return recs;
    }

    describe("empty store and commits", () => {
      it("answers an empty store with defaults", () => {
        expect(r().meta()).toEqual({ revision: 0, oldestRevision: 1, enginePaused: false });
        expect(r().taskCount()).toBe(0);
        expect(r().queueNames()).toEqual([]);
        expect(r().runIds()).toEqual([]);
        expect(r().taskIds({})).toEqual([]);
        expect(r().events(0, 10)).toEqual([]);
        expect(r().nextDue()).toBeUndefined();
        expect(r().dueEntries(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
        expect(r().cronTaskIds()).toEqual([]);
        expect(r().occupiedKeys()).toEqual([]);
        expect([...r().allKeyHolders()]).toEqual([]);
        expect(r().getTask(taskId(1))).toBeUndefined();
        expect(r().getRun(runId(1))).toBeUndefined();
        expect(r().getQueue("default")).toBeUndefined();
        expect(r().getReservation(taskId(1))).toBeUndefined();
      });

      it("counts every one of the nine states, zero for a queue without runs", () => {
        const c = r().counts("nowhere");
        expect(Object.keys(c).sort()).toEqual([...RUN_STATES].sort());
        expect(c).toEqual(ZERO_COUNTS);
      });

      it("commits an empty list without changing anything", async () => {
        await store.commit([]);
        expect(r().meta()).toEqual({ revision: 0, oldestRevision: 1, enginePaused: false });
        expect(r().taskCount()).toBe(0);
      });

      it("rejects a commit after close with SHUTTING_DOWN", async () => {
        await store.close();
        const e = await store.commit([createTask(taskRec(1))]).then(
          () => undefined,
          (x: unknown) => x,
        );
        expect(EngineError.is(e, "SHUTTING_DOWN")).toBe(true);
        await expect(store.commit([])).rejects.toSatisfy((x: unknown) => EngineError.is(x, "SHUTTING_DOWN"));
      });

      // A store may apply a commit inside the call (LMDB writes and flushes a small commit
      // synchronously) or later; either way all of it is visible once the promise resolves.
      it("shows all of a commit once the promise resolves", async () => {
        expect(r().getTask(taskId(1))).toBeUndefined();
        expect(r().getRun(runId(1))).toBeUndefined();
        await commit(createTask(taskRec(1)), saveQueue(queueRec("q")), createRun(runRec(1), 1), { verb: "saveMeta", meta: { revision: 1, oldestRevision: 1, enginePaused: false } });
        expect(r().getTask(taskId(1))?.id).toBe(taskId(1));
        expect(r().getQueue("q")?.name).toBe("q");
        expect(r().getRun(runId(1))?.id).toBe(runId(1));
        expect(r().events(1, 10).map((e) => e.revision)).toEqual([1]);
        expect(r().meta().revision).toBe(1);
      });

      it("applies commits in call order when they overlap", async () => {
        const run = runRec(1);
        const a = commit(createRun(run, 1));
        const b = commit(updateRun(run, { state: "READY" }));
        const c = commit({ verb: "saveMeta", meta: { revision: 2, oldestRevision: 1, enginePaused: true } });
        await Promise.all([a, b, c]);
        expect(r().getRun(runId(1))?.state).toBe("READY");
        expect(r().counts("default")).toEqual(countsWith({ READY: 1 }));
        expect(r().meta()).toEqual({ revision: 2, oldestRevision: 1, enginePaused: true });
      });

      it("stores nothing of a commit whose verb throws midway, and rejects with an EngineError", async () => {
        const e = await commit(createTask(taskRec(1)), saveQueue(queueRec("q")), BOGUS_VERB).then(
          () => undefined,
          (x: unknown) => x,
        );
        expect(EngineError.is(e)).toBe(true);
        expect(r().getTask(taskId(1))).toBeUndefined();
        expect(r().taskCount()).toBe(0);
        expect(r().taskIds({ queue: "default" })).toEqual([]);
        expect(r().getQueue("q")).toBeUndefined();
        expect(r().queueNames()).toEqual([]);
      });

      it("rolls back every index a failed commit touched", async () => {
        const run = runRec(1, { state: "READY", due: [] });
        await commit(createRun(run, 1), createRun(runRec(2, { due: [[2_000, "PROMOTE"]] }), 2));
        const moved = updateRun(
          run,
          { state: "LEASED", due: [[9_000, "LEASE"]] },
          { event: eventRec(3, run), lease: { put: leaseRec(1) }, keyHolder: { put: holderRec("k", 1) } },
        );
        const e = await commit(moved, purgeEvents(3), purgeRun(runRec(2, { due: [[2_000, "PROMOTE"]] })), BOGUS_VERB).then(
          () => undefined,
          (x: unknown) => x,
        );
        expect(EngineError.is(e)).toBe(true);
        expect(r().getRun(runId(1))?.state).toBe("READY");
        expect(r().runIdsByState("default", "READY")).toEqual([runId(1)]);
        expect(r().runIdsByState("default", "LEASED")).toEqual([]);
        expect(r().counts("default")).toEqual(countsWith({ READY: 1, SCHEDULED: 1 }));
        expect(r().readyEntries("default", undefined, 10).map((x) => x.runId)).toEqual([runId(1)]);
        expect(r().getLease(runId(1))).toBeUndefined();
        expect(r().keyHolders("k")).toEqual([]);
        expect(r().events(0, 10).map((x) => x.revision)).toEqual([1, 2]);
        expect(r().getRun(runId(2))?.id).toBe(runId(2));
        expect(r().dueEntries(10_000, 10)).toEqual([{ at: 2_000, kind: "PROMOTE", runId: runId(2) }]);
      });

      it("keeps stored records apart from the caller's objects", async () => {
        const t = taskRec(1);
        const mutable = t as unknown as { status: string; spec: { payload: { data: Uint8Array } } };
        await commit(createTask(t));
        mutable.status = "FAILED";
        mutable.spec.payload.data[0] = 7;
        const stored = r().getTask(taskId(1));
        expect(stored?.status).toBe("ACTIVE");
        expect(Array.from(stored?.spec.payload.data ?? [])).toEqual([123, 125]);
      });
    });

    describe("tasks", () => {
      it("createTask stores the record, byte payload included, and counts it", async () => {
        const t = taskRec(1, { metadata: { priority: 5, tags: ["a", "b"], description: "d" } });
        await commit(createTask(t));
        const got = r().getTask(taskId(1));
        expect(got).toBeDefined();
        const { spec, ...rest } = got as TaskRecord;
        const { spec: wantSpec, ...wantRest } = t;
        expect(rest).toEqual(wantRest);
        expect(spec.payload.data).toBeInstanceOf(Uint8Array);
        expect(Array.from(spec.payload.data)).toEqual([123, 125]);
        expect({ ...spec, payload: { ...spec.payload, data: null } }).toEqual({ ...wantSpec, payload: { ...wantSpec.payload, data: null } });
        expect(r().taskCount()).toBe(1);
      });

      it("createTask indexes the queue: taskIds by queue in id order", async () => {
        await commit(createTask(taskRec(3, { queue: "q1" })), createTask(taskRec(1, { queue: "q1" })), createTask(taskRec(2, { queue: "q2" })));
        expect(r().taskIds({ queue: "q1" })).toEqual([taskId(1), taskId(3)]);
        expect(r().taskIds({ queue: "q2" })).toEqual([taskId(2)]);
        expect(r().taskIds({ queue: "q" })).toEqual([]);
      });

      it("createTask indexes the parent: childTaskIds and taskIds by parent, in id order", async () => {
        await commit(
          createTask(taskRec(1)),
          createTask(taskRec(4, { parentTaskId: taskId(1) })),
          createTask(taskRec(2, { parentTaskId: taskId(1) })),
          createTask(taskRec(3, { parentTaskId: taskId(2) })),
        );
        expect(r().childTaskIds(taskId(1))).toEqual([taskId(2), taskId(4)]);
        expect(r().childTaskIds(taskId(2))).toEqual([taskId(3)]);
        expect(r().childTaskIds(taskId(3))).toEqual([]);
        expect(r().taskIds({ parent: taskId(1) })).toEqual([taskId(2), taskId(4)]);
      });

      it("createTask indexes every prerequisite: dependentTaskIds in id order", async () => {
        await commit(
          createTask(taskRec(1)),
          createTask(taskRec(2)),
          createTask(taskRec(5, { dependsOn: [taskId(1), taskId(2)] })),
          createTask(taskRec(3, { dependsOn: [taskId(1)] })),
        );
        expect(r().dependentTaskIds(taskId(1))).toEqual([taskId(3), taskId(5)]);
        expect(r().dependentTaskIds(taskId(2))).toEqual([taskId(5)]);
        expect(r().dependentTaskIds(taskId(5))).toEqual([]);
      });

      it("createTask puts only ACTIVE cron tasks in the cron index, in id order", async () => {
        await commit(
          createTask(taskRec(3, { policy: CRON_POLICY })),
          createTask(taskRec(1, { policy: CRON_POLICY })),
          createTask(taskRec(2)),
          createTask(taskRec(4, { policy: CRON_POLICY }, { status: "CANCELED" })),
        );
        expect(r().cronTaskIds()).toEqual([taskId(1), taskId(3)]);
      });

      it("updateTask stores the new record without duplicating relation index entries", async () => {
        const t = taskRec(2, { parentTaskId: taskId(1), dependsOn: [taskId(1)] });
        await commit(createTask(t));
        await commit(updateTask(t, { openRuns: 4, runsDerived: 2 }));
        expect(r().getTask(taskId(2))?.openRuns).toBe(4);
        expect(r().getTask(taskId(2))?.runsDerived).toBe(2);
        expect(r().taskIds({ queue: "default" })).toEqual([taskId(2)]);
        expect(r().childTaskIds(taskId(1))).toEqual([taskId(2)]);
        expect(r().dependentTaskIds(taskId(1))).toEqual([taskId(2)]);
        expect(r().taskCount()).toBe(1);
      });

      it("updateTask keeps the spec as created and changes only the progress", async () => {
        const t = taskRec(1, { payload: { data: new Uint8Array([1, 2, 3]), contentType: "application/octet-stream" } });
        await commit(createTask(t));
        await commit(updateTask(t, { openRuns: 4, status: "COMPLETED", statusChangedAt: 77 }));
        const got = r().getTask(taskId(1));
        expect(got?.spec).toEqual(t.spec);
        expect(got?.spec.payload.data).toEqual(new Uint8Array([1, 2, 3]));
        expect([got?.openRuns, got?.status, got?.statusChangedAt]).toEqual([4, "COMPLETED", 77]);
      });

      it("a task id used again after its purge and reservation shows the new task's spec, not the old one", async () => {
        const old = taskRec(1, { queue: "old" });
        await commit(createTask(old));
        expect(r().getTask(taskId(1))?.spec.queue).toBe("old"); // read once (a store may cache it)
        await commit(purgeTask(old, reservationRec(1, 10)));
        expect(r().getTask(taskId(1))).toBeUndefined();
        await commit(releaseReservation(taskId(1)));
        await commit(createTask(taskRec(1, { queue: "new" })));
        expect(r().getTask(taskId(1))?.spec.queue).toBe("new");
      });

      it("updateTask moves a cron task out of the cron index when it leaves ACTIVE, and back in", async () => {
        const t = taskRec(1, { policy: CRON_POLICY });
        await commit(createTask(t), createTask(taskRec(2, { policy: CRON_POLICY })));
        const done = { ...t, status: "COMPLETED" as const };
        await commit(updateTask(t, { status: "COMPLETED" }));
        expect(r().cronTaskIds()).toEqual([taskId(2)]);
        await commit(updateTask(done, { status: "ACTIVE" }));
        expect(r().cronTaskIds()).toEqual([taskId(1), taskId(2)]);
      });

      it("updateTask of a cron task that stays ACTIVE keeps it in the cron index", async () => {
        const t = taskRec(1, { policy: CRON_POLICY });
        await commit(createTask(t));
        await commit(updateTask(t, { cron: { nextAt: 120_000, derived: 1 } }));
        expect(r().cronTaskIds()).toEqual([taskId(1)]);
        expect(r().getTask(taskId(1))?.cron).toEqual({ nextAt: 120_000, derived: 1 });
      });

      it("taskIds without a filter lists every task in id order, paged by after and limit", async () => {
        await commit(createTask(taskRec(4, { queue: "b" })), createTask(taskRec(2, { queue: "a" })), createTask(taskRec(1)), createTask(taskRec(3)));
        expect(r().taskIds({})).toEqual([taskId(1), taskId(2), taskId(3), taskId(4)]);
        expect(r().taskIds({}, taskId(2))).toEqual([taskId(3), taskId(4)]);
        expect(r().taskIds({}, undefined, 2)).toEqual([taskId(1), taskId(2)]);
        expect(r().taskIds({}, taskId(1), 2)).toEqual([taskId(2), taskId(3)]);
        expect(r().taskIds({}, taskId(4))).toEqual([]);
      });

      it("taskIds by queue and by parent page by after (exclusive) and limit; parent wins over queue", async () => {
        await commit(
          createTask(taskRec(1, { queue: "other" })),
          ...[2, 3, 4, 5].map((n) => createTask(taskRec(n, { queue: "q", parentTaskId: taskId(1) }))),
        );
        expect(r().taskIds({ queue: "q" }, taskId(2), 2)).toEqual([taskId(3), taskId(4)]);
        expect(r().taskIds({ queue: "q" }, taskId(5))).toEqual([]);
        expect(r().taskIds({ parent: taskId(1) }, taskId(3))).toEqual([taskId(4), taskId(5)]);
        expect(r().taskIds({ parent: taskId(1) }, undefined, 1)).toEqual([taskId(2)]);
        expect(r().taskIds({ queue: "other", parent: taskId(1) })).toEqual([taskId(2), taskId(3), taskId(4), taskId(5)]);
      });
    });

    describe("runs", () => {
      it("createRun stores the run and its CREATED event", async (ctx) => {
        if (fx.assignsRevisions) {
          ctx.skip();
          return;
        }
        const run = runRec(1, { revision: 7, capabilities: ["gpu"], keySlots: { key: "k", slots: 2 } });
        await commit(createRun(run, 7));
        expect(r().getRun(runId(1))).toEqual(run);
        expect(r().events(0, 10)).toEqual([eventRec(7, run, { type: "CREATED" })]);
      });

      it("createRun indexes the task's runs: runIdsOfTask in id order, paged", async () => {
        await runs(runRec(3), runRec(1), runRec(2), runRec(4, { taskId: taskId(9) }));
        expect(r().runIdsOfTask(taskId(1))).toEqual([runId(1), runId(2), runId(3)]);
        expect(r().runIdsOfTask(taskId(1), runId(1))).toEqual([runId(2), runId(3)]);
        expect(r().runIdsOfTask(taskId(1), undefined, 2)).toEqual([runId(1), runId(2)]);
        expect(r().runIdsOfTask(taskId(1), runId(1), 1)).toEqual([runId(2)]);
        expect(r().runIdsOfTask(taskId(9))).toEqual([runId(4)]);
        expect(r().runIdsOfTask(taskId(8))).toEqual([]);
      });

      it("createRun indexes the state per queue and counts it", async () => {
        await runs(runRec(1), runRec(2, { state: "READY" }), runRec(3), runRec(4, { queue: "other" }));
        expect(r().runIdsByState("default", "SCHEDULED")).toEqual([runId(1), runId(3)]);
        expect(r().runIdsByState("default", "READY")).toEqual([runId(2)]);
        expect(r().runIdsByState("other", "SCHEDULED")).toEqual([runId(4)]);
        expect(r().counts("default")).toEqual(countsWith({ SCHEDULED: 2, READY: 1 }));
        expect(r().counts("other")).toEqual(countsWith({ SCHEDULED: 1 }));
      });

      it("createRun of a READY run gives a READY entry with priority, createdAt, capabilities, key slots and hold", async () => {
        await runs(
          runRec(1, { state: "READY", effectivePriority: 9, createdAt: 1_234, capabilities: ["gpu", "x86"], keySlots: { key: "k", slots: 3 }, keyHold: "HELD" }),
          runRec(2, { state: "SCHEDULED" }),
          runRec(3, { state: "READY" }),
        );
        expect(r().readyEntries("default", undefined, 10)).toEqual([
          { runId: runId(1), effectivePriority: 9, createdAt: 1_234, capabilities: ["gpu", "x86"], keySlots: { key: "k", slots: 3 }, keyHold: "HELD" },
          { runId: runId(3), effectivePriority: 0, createdAt: 1_003, capabilities: [], keySlots: null, keyHold: null },
        ]);
      });

      it("createRun indexes the run's due entries", async () => {
        await runs(runRec(1, { due: [[2_000, "PROMOTE"]] }), runRec(2, { state: "RUNNING", due: [[9_000, "LEASE"], [8_000, "TIMEOUT"]] }));
        expect(r().dueEntries(10_000, 10)).toEqual([
          { at: 2_000, kind: "PROMOTE", runId: runId(1) },
          { at: 8_000, kind: "TIMEOUT", runId: runId(2) },
          { at: 9_000, kind: "LEASE", runId: runId(2) },
        ]);
      });

      it("createRun of a terminal run with finishedAt enters the finished index", async () => {
        await runs(runRec(1, { state: "CANCELED", finishedAt: 4_000 }), runRec(2, { state: "CANCELED", finishedAt: null }), runRec(3));
        expect(r().finishedRuns(Number.MAX_SAFE_INTEGER, 10)).toEqual([runId(1)]);
      });

      it("one commit that creates a run and moves it twice leaves exactly the last state's index entries, counts and timers", async () => {
        const created = runRec(1, { state: "READY", due: [] });
        const leased = { ...created, state: "LEASED" as const, due: [[9_000, "LEASE"]] as RunRecord["due"] };
        const running = { ...leased, state: "RUNNING" as const, due: [[8_000, "TIMEOUT"]] as RunRecord["due"] };
        await commit(
          createRun(created, 1),
          { verb: "updateRun", run: leased, prev: created, event: eventRec(2, leased), lease: { put: leaseRec(1) }, attempt: null, keyHolder: null },
          { verb: "updateRun", run: running, prev: leased, event: eventRec(3, running), lease: null, attempt: attemptRec(1, 1), keyHolder: null },
        );
        expect(r().getRun(runId(1))?.state).toBe("RUNNING");
        expect(r().counts("default")).toEqual(countsWith({ RUNNING: 1 }));
        expect(r().runIdsByState("default", "READY")).toEqual([]);
        expect(r().runIdsByState("default", "LEASED")).toEqual([]);
        expect(r().runIdsByState("default", "RUNNING")).toEqual([runId(1)]);
        expect(r().readyEntries("default", undefined, 10)).toEqual([]);
        expect(r().dueEntries(Number.MAX_SAFE_INTEGER, 10)).toEqual([{ at: 8_000, kind: "TIMEOUT", runId: runId(1) }]);
        expect(r().events(1, 10).map((e) => e.revision)).toEqual([1, 2, 3]);
        expect(r().getLease(runId(1))).toBeDefined();
        expect(r().getAttempt(runId(1), 1)).toBeDefined();
      });

      it("updateRun moves the state index and the counts", async () => {
        const [a] = await runs(runRec(1), runRec(2));
        await commit(updateRun(a as RunRecord, { state: "READY" }));
        expect(r().getRun(runId(1))?.state).toBe("READY");
        expect(r().runIdsByState("default", "SCHEDULED")).toEqual([runId(2)]);
        expect(r().runIdsByState("default", "READY")).toEqual([runId(1)]);
        expect(r().counts("default")).toEqual(countsWith({ SCHEDULED: 1, READY: 1 }));
      });

      it("updateRun without a state change leaves state index and counts as they were", async () => {
        const [a] = await runs(runRec(1, { state: "RUNNING" }));
        await commit(updateRun(a as RunRecord, { attemptCount: 3, stateReason: "x" }));
        expect(r().getRun(runId(1))?.attemptCount).toBe(3);
        expect(r().runIdsByState("default", "RUNNING")).toEqual([runId(1)]);
        expect(r().counts("default")).toEqual(countsWith({ RUNNING: 1 }));
      });

      it("updateRun of a READY run whose priority changed updates its READY entry", async () => {
        const [a] = await runs(runRec(1, { state: "READY", effectivePriority: 1, capabilities: ["c"] }));
        await commit(updateRun(a as RunRecord, { effectivePriority: 50 }));
        expect(r().readyEntries("default", undefined, 10)).toEqual([
          { runId: runId(1), effectivePriority: 50, createdAt: 1_001, capabilities: ["c"], keySlots: null, keyHold: null },
        ]);
        expect(r().counts("default")).toEqual(countsWith({ READY: 1 }));
      });

      it("updateRun of a READY run whose key hold changed updates its READY entry", async () => {
        const [a] = await runs(runRec(1, { state: "READY", keySlots: { key: "k", slots: 1 }, keyHold: null }));
        await commit(updateRun(a as RunRecord, { keyHold: "HELD" }));
        expect(r().readyEntries("default", undefined, 10).map((e) => e.keyHold)).toEqual(["HELD"]);
      });

      it("updateRun entering READY writes the entry from the run; leaving READY removes it", async () => {
        const [a] = await runs(runRec(1, { state: "RETRY_WAIT", effectivePriority: 0 }));
        const toReady = updateRun(a as RunRecord, { state: "READY", effectivePriority: 4, keyHold: "HELD", keySlots: { key: "k", slots: 2 } });
        await commit(toReady);
        expect(r().readyEntries("default", undefined, 10)).toEqual([
          { runId: runId(1), effectivePriority: 4, createdAt: 1_001, capabilities: [], keySlots: { key: "k", slots: 2 }, keyHold: "HELD" },
        ]);
        await commit(updateRun(toReady.run, { state: "LEASED" }));
        expect(r().readyEntries("default", undefined, 10)).toEqual([]);
        expect(r().runIdsByState("default", "LEASED")).toEqual([runId(1)]);
      });

      it("updateRun replaces the run's due entries exactly, leaving other runs' entries", async () => {
        const [a] = await runs(runRec(1, { due: [[2_000, "PROMOTE"]] }), runRec(2, { due: [[2_000, "PROMOTE"]] }));
        await commit(updateRun(a as RunRecord, { state: "RUNNING", due: [[7_000, "TIMEOUT"], [6_000, "LEASE"]] }));
        expect(r().dueEntries(Number.MAX_SAFE_INTEGER, 10)).toEqual([
          { at: 2_000, kind: "PROMOTE", runId: runId(2) },
          { at: 6_000, kind: "LEASE", runId: runId(1) },
          { at: 7_000, kind: "TIMEOUT", runId: runId(1) },
        ]);
      });

      it("updateRun with unchanged due entries does not rewrite them (a dropped timer stays dropped)", async () => {
        const [a] = await runs(runRec(1, { due: [[2_000, "PROMOTE"]] }));
        await commit(dropTimer(2_000, "PROMOTE", runId(1)));
        await commit(updateRun(a as RunRecord, { stateReason: "touched" }));
        expect(r().dueEntries(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
      });

      it("updateRun entering a terminal state enters the finished index once", async () => {
        const [a] = await runs(runRec(1, { state: "RUNNING" }));
        const done = updateRun(a as RunRecord, { state: "COMPLETED", finishedAt: 5_000 });
        await commit(done);
        expect(r().finishedRuns(5_000, 10)).toEqual([runId(1)]);
        expect(r().finishedRuns(4_999, 10)).toEqual([]);
        // A later change of the terminal run (finishedAt edited) adds no second entry.
        await commit(updateRun(done.run, { finishedAt: 6_000, stateReason: "x" }));
        expect(r().finishedRuns(Number.MAX_SAFE_INTEGER, 10)).toEqual([runId(1)]);
      });

      it("updateRun puts and removes the lease", async () => {
        const [a] = await runs(runRec(1, { state: "READY" }));
        const leased = updateRun(a as RunRecord, { state: "LEASED" }, { lease: { put: leaseRec(1) } });
        await commit(leased);
        expect(r().getLease(runId(1))).toEqual(leaseRec(1));
        await commit(updateRun(leased.run, { state: "READY" }, { lease: { remove: runId(1) } }));
        expect(r().getLease(runId(1))).toBeUndefined();
      });

      it("updateRun puts the attempt it opened or closed, replacing the same number", async () => {
        const [a] = await runs(runRec(1, { state: "LEASED" }));
        const started = updateRun(a as RunRecord, { state: "RUNNING", currentAttemptId: attemptId(101), attemptCount: 1 }, { attempt: attemptRec(1, 1) });
        await commit(started);
        const got = r().getAttempt(runId(1), 1);
        expect(got?.id).toBe(attemptId(101));
        expect(got?.output).toBeInstanceOf(Uint8Array);
        expect(Array.from(got?.output ?? [])).toEqual([1, 0, 255]);
        await commit(updateRun(started.run, { state: "COMPLETED", currentAttemptId: null, finishedAt: 4_000 }, { attempt: attemptRec(1, 1, { outcome: "SUCCESS", finishedAt: 4_000 }) }));
        expect(r().getAttempt(runId(1), 1)?.outcome).toBe("SUCCESS");
        expect(r().attempts(runId(1), 0, 10).map((x) => x.number)).toEqual([1]);
        expect(r().getAttempt(runId(1), 2)).toBeUndefined();
      });

      it("attempts lists a run's attempts by number after afterNumber, limited, and no other run's", async () => {
        const [a] = await runs(runRec(1, { state: "RUNNING" }), runRec(2, { state: "RUNNING" }));
        await commit(
          ...updateRuns(
            a as RunRecord,
            [3, 1, 10, 2].map((n) => [{ attemptCount: n }, { attempt: attemptRec(1, n) }]),
          ),
          updateRun(runRec(2, { state: "RUNNING" }), {}, { attempt: attemptRec(2, 1) }),
        );
        expect(r().attempts(runId(1), 0, 10).map((x) => x.number)).toEqual([1, 2, 3, 10]);
        expect(r().attempts(runId(1), 2, 10).map((x) => x.number)).toEqual([3, 10]);
        expect(r().attempts(runId(1), 0, 2).map((x) => x.number)).toEqual([1, 2]);
        expect(r().attempts(runId(1), 10, 10)).toEqual([]);
        expect(r().attempts(runId(2), 0, 10).map((x) => x.runId)).toEqual([runId(2)]);
      });

      it("updateRun puts and removes a key holder", async () => {
        const [a] = await runs(runRec(1, { state: "READY", keySlots: { key: "k", slots: 2 } }));
        const leased = updateRun(a as RunRecord, { state: "LEASED", keyHold: "RESERVED" }, { keyHolder: { put: holderRec("k", 1) } });
        await commit(leased);
        expect(r().keyHolders("k")).toEqual([holderRec("k", 1)]);
        expect(r().occupiedKeys()).toEqual(["k"]);
        expect([...r().allKeyHolders()]).toEqual([holderRec("k", 1)]);
        await commit(updateRun(leased.run, { state: "READY", keyHold: null }, { keyHolder: { remove: { key: "k", runId: runId(1) } } }));
        expect(r().keyHolders("k")).toEqual([]);
        expect(r().occupiedKeys()).toEqual([]);
        expect([...r().allKeyHolders()]).toEqual([]);
      });

      it("updateRun stores its event, and none when the event is null", async (ctx) => {
        if (fx.assignsRevisions) {
          ctx.skip();
          return;
        }
        const [a] = await runs(runRec(1));
        const waiting = updateRun(a as RunRecord, { waitingOnDeps: true });
        await commit(waiting);
        expect(r().events(0, 10).map((e) => e.revision)).toEqual([100]);
        const ev = eventRec(101, { ...waiting.run, state: "READY" }, { from: "SCHEDULED" });
        await commit(updateRun(waiting.run, { state: "READY", revision: 101 }, { event: ev }));
        expect(r().events(101, 10)).toEqual([ev]);
      });

      it("runIds lists every run in id order, paged by after and limit", async () => {
        await runs(runRec(3, { queue: "b" }), runRec(1), runRec(4, { taskId: taskId(2) }), runRec(2));
        expect(r().runIds()).toEqual([runId(1), runId(2), runId(3), runId(4)]);
        expect(r().runIds(runId(2))).toEqual([runId(3), runId(4)]);
        expect(r().runIds(undefined, 3)).toEqual([runId(1), runId(2), runId(3)]);
        expect(r().runIds(runId(1), 1)).toEqual([runId(2)]);
        expect(r().runIds(runId(4))).toEqual([]);
        expect(r().runIds(undefined, 0)).toEqual([]);
      });

      it("runIdsByState pages by after (exclusive) and limit within one queue and state", async () => {
        await runs(...[5, 1, 4, 2, 3].map((n) => runRec(n, { state: "READY" })), runRec(6, { state: "READY", queue: "default2" }));
        expect(r().runIdsByState("default", "READY")).toEqual([1, 2, 3, 4, 5].map(runId));
        expect(r().runIdsByState("default", "READY", runId(2))).toEqual([3, 4, 5].map(runId));
        expect(r().runIdsByState("default", "READY", runId(2), 2)).toEqual([3, 4].map(runId));
        expect(r().runIdsByState("default", "READY", undefined, 1)).toEqual([runId(1)]);
        expect(r().runIdsByState("default2", "READY")).toEqual([runId(6)]);
        expect(r().runIdsByState("default", "LEASED")).toEqual([]);
      });

      it("readyEntries pages by after (exclusive) and limit, one queue only", async () => {
        await runs(...[4, 2, 3, 1].map((n) => runRec(n, { state: "READY" })), runRec(5, { state: "READY", queue: "defaultx" }), runRec(6));
        expect(r().readyEntries("default", undefined, 10).map((e) => e.runId)).toEqual([1, 2, 3, 4].map(runId));
        expect(r().readyEntries("default", runId(1), 2).map((e) => e.runId)).toEqual([2, 3].map(runId));
        expect(r().readyEntries("default", runId(4), 10)).toEqual([]);
        expect(r().readyEntries("default", undefined, 0)).toEqual([]);
        expect(r().readyEntries("defaultx", undefined, 10).map((e) => e.runId)).toEqual([runId(5)]);
      });
    });

    describe("timers", () => {
      it("dueEntries orders by at (numerically), kind, then run id, includes until, and limits", async () => {
        await runs(
          runRec(1, { due: [[100, "RETRY"]] }),
          runRec(2, { due: [[9, "TIMEOUT"], [10, "LEASE"]] }),
          runRec(3, { due: [[10, "LEASE"]] }),
          runRec(4, { due: [[10, "PROMOTE"]] }),
        );
        const all = [
          { at: 9, kind: "TIMEOUT", runId: runId(2) },
          { at: 10, kind: "LEASE", runId: runId(2) },
          { at: 10, kind: "LEASE", runId: runId(3) },
          { at: 10, kind: "PROMOTE", runId: runId(4) },
          { at: 100, kind: "RETRY", runId: runId(1) },
        ];
        expect(r().dueEntries(1_000, 10)).toEqual(all);
        expect(r().dueEntries(10, 10)).toEqual(all.slice(0, 4));
        expect(r().dueEntries(9, 10)).toEqual(all.slice(0, 1));
        expect(r().dueEntries(8, 10)).toEqual([]);
        expect(r().dueEntries(1_000, 2)).toEqual(all.slice(0, 2));
      });

      it("hasDue answers for exactly the stored entry (at, kind and run must all match)", async () => {
        await runs(runRec(1, { due: [[100, "RETRY"]] }));
        expect(r().hasDue({ at: 100, kind: "RETRY", runId: runId(1) })).toBe(true);
        expect(r().hasDue({ at: 101, kind: "RETRY", runId: runId(1) })).toBe(false);
        expect(r().hasDue({ at: 100, kind: "LEASE", runId: runId(1) })).toBe(false);
        expect(r().hasDue({ at: 100, kind: "RETRY", runId: runId(2) })).toBe(false);
        await commit({ verb: "dropTimer", entry: { at: 100, kind: "RETRY", runId: runId(1) } });
        expect(r().hasDue({ at: 100, kind: "RETRY", runId: runId(1) })).toBe(false);
      });

      it("nextDue is the earliest entry", async () => {
        await runs(runRec(1, { due: [[500, "RETRY"]] }), runRec(2, { due: [[70, "PROMOTE"]] }));
        expect(r().nextDue()).toEqual({ at: 70, kind: "PROMOTE", runId: runId(2) });
      });

      it("dropTimer removes exactly that entry", async () => {
        await runs(runRec(1, { due: [[50, "LEASE"], [60, "TIMEOUT"]] }), runRec(2, { due: [[50, "LEASE"]] }));
        await commit(dropTimer(50, "LEASE", runId(1)));
        expect(r().dueEntries(100, 10)).toEqual([
          { at: 50, kind: "LEASE", runId: runId(2) },
          { at: 60, kind: "TIMEOUT", runId: runId(1) },
        ]);
        // Dropping an entry that is not there changes nothing.
        await commit(dropTimer(50, "RETRY", runId(2)));
        expect(r().dueEntries(100, 10)).toHaveLength(2);
      });
    });

    describe("key holders", () => {
      it("keyHolders lists one key's occupants by run id, not those of keys sharing its prefix", async () => {
        const put = (key: string, n: number) => updateRun(runRec(n), {}, { keyHolder: { put: holderRec(key, n) } });
        await runs(runRec(1), runRec(2), runRec(3), runRec(4));
        await commit(put("a", 3), put("a", 1), put("ab", 2), put("b", 4));
        expect(r().keyHolders("a").map((h) => h.runId)).toEqual([runId(1), runId(3)]);
        expect(r().keyHolders("ab").map((h) => h.runId)).toEqual([runId(2)]);
        expect(r().keyHolders("c")).toEqual([]);
        expect([...r().allKeyHolders()].map((h) => [h.key, h.runId])).toEqual([
          ["a", runId(1)],
          ["a", runId(3)],
          ["ab", runId(2)],
          ["b", runId(4)],
        ]);
      });

      it("occupiedKeys lists each occupied key once, in order, paged by after and limit", async () => {
        const put = (key: string, n: number) => updateRun(runRec(n), {}, { keyHolder: { put: holderRec(key, n) } });
        await runs(...[1, 2, 3, 4, 5].map((n) => runRec(n)));
        await commit(put("b", 1), put("a", 2), put("a", 3), put("a/x", 4), put("B", 5));
        expect(r().occupiedKeys()).toEqual(["B", "a", "a/x", "b"]);
        expect(r().occupiedKeys("a")).toEqual(["a/x", "b"]);
        expect(r().occupiedKeys(undefined, 2)).toEqual(["B", "a"]);
        expect(r().occupiedKeys("B", 1)).toEqual(["a"]);
        expect(r().occupiedKeys("b")).toEqual([]);
      });
    });

    describe("queues and meta", () => {
      it("saveQueue stores settings, replaced by a later save", async () => {
        await commit(saveQueue(queueRec("q", { paused: true, ratePerSecond: 5, burst: 10 })));
        expect(r().getQueue("q")).toEqual(queueRec("q", { paused: true, ratePerSecond: 5, burst: 10 }));
        await commit(saveQueue(queueRec("q", { paused: false })));
        expect(r().getQueue("q")).toEqual(queueRec("q"));
      });

      it("queueNames lists queues with settings or runs, once each, sorted by code unit", async () => {
        await commit(saveQueue(queueRec("b")), saveQueue(queueRec("a-b")));
        await runs(runRec(1, { queue: "a" }), runRec(2, { queue: "B" }), runRec(3, { queue: "b", state: "READY" }), runRec(4, { queue: "a", state: "FAILED" }));
        expect(r().queueNames()).toEqual(["B", "a", "a-b", "b"]);
      });

      it("saveMeta stores the meta record", async () => {
        const meta: MetaRecord = { revision: 42, oldestRevision: 7, enginePaused: true };
        await commit({ verb: "saveMeta", meta });
        expect(r().meta()).toEqual(meta);
        await commit({ verb: "saveMeta", meta: { ...meta, enginePaused: false } });
        expect(r().meta()).toEqual({ ...meta, enginePaused: false });
      });
    });

    describe("events", () => {
      it("events lists revisions >= from in revision order, limited", async (ctx) => {
        if (fx.assignsRevisions) {
          ctx.skip();
          return;
        }
        const run = runRec(1);
        await commit(createRun(run, 3));
        await commit(...updateRuns(run, [10, 4, 5].map((rev) => [{ revision: rev }, { event: eventRec(rev, run) }])));
        expect(r().events(0, 10).map((e) => e.revision)).toEqual([3, 4, 5, 10]);
        expect(r().events(4, 10).map((e) => e.revision)).toEqual([4, 5, 10]);
        expect(r().events(6, 10).map((e) => e.revision)).toEqual([10]);
        expect(r().events(0, 2).map((e) => e.revision)).toEqual([3, 4]);
        expect(r().events(11, 10)).toEqual([]);
      });

      it("purgeEvents removes events with revision < before and keeps the rest", async () => {
        const run = runRec(1);
        await commit(createRun(run, 1), ...updateRuns(run, [2, 3, 4, 5].map((rev) => [{ revision: rev }, { event: eventRec(rev, run) }])));
        await commit(purgeEvents(4));
        expect(r().events(0, 10).map((e) => e.revision)).toEqual([4, 5]);
        await commit(purgeEvents(4));
        expect(r().events(0, 10).map((e) => e.revision)).toEqual([4, 5]);
      });
    });

    describe("retention", () => {
      it("purgeRun removes the run, its attempts, lease and every index entry, and its count", async () => {
        const a = runRec(1, { state: "RUNNING", due: [[9_000, "LEASE"]], keySlots: { key: "k", slots: 1 } });
        const done = runRec(2, { state: "COMPLETED", finishedAt: 4_000 });
        await runs(a, done, runRec(3, { queue: "solo" }));
        await commit(updateRun(a, {}, { lease: { put: leaseRec(1) }, attempt: attemptRec(1, 1) }), updateRun(a, {}, { attempt: attemptRec(1, 2) }));
        await commit(updateRun(done, {}, { attempt: attemptRec(2, 1) }));
        const finished = { ...a, state: "FAILED" as const, finishedAt: 5_000, due: [] };
        await commit(updateRun(a, { state: "FAILED", finishedAt: 5_000, due: [] }));
        await commit(purgeRun(finished), purgeRun(runRec(3, { queue: "solo" })));
        expect(r().getRun(runId(1))).toBeUndefined();
        expect(r().getAttempt(runId(1), 1)).toBeUndefined();
        expect(r().attempts(runId(1), 0, 10)).toEqual([]);
        expect(r().getLease(runId(1))).toBeUndefined();
        expect(r().runIdsOfTask(taskId(1))).toEqual([runId(2)]);
        expect(r().runIds()).toEqual([runId(2)]);
        expect(r().runIdsByState("default", "FAILED")).toEqual([]);
        expect(r().counts("default")).toEqual(countsWith({ COMPLETED: 1 }));
        expect(r().finishedRuns(Number.MAX_SAFE_INTEGER, 10)).toEqual([runId(2)]);
        expect(r().dueEntries(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
        // The other run's attempts stay; a queue left without runs or settings is gone.
        expect(r().attempts(runId(2), 0, 10).map((x) => x.number)).toEqual([1]);
        expect(r().counts("solo")).toEqual(ZERO_COUNTS);
        expect(r().queueNames()).toEqual(["default"]);
      });

      it("finishedRuns orders by finishedAt then run id, includes until, and limits", async () => {
        await runs(
          runRec(1, { state: "COMPLETED", finishedAt: 300 }),
          runRec(2, { state: "FAILED", finishedAt: 100 }),
          runRec(3, { state: "CANCELED", finishedAt: 100 }),
          runRec(4, { state: "COMPLETED", finishedAt: 2_000 }),
        );
        expect(r().finishedRuns(10_000, 10)).toEqual([2, 3, 1, 4].map(runId));
        expect(r().finishedRuns(300, 10)).toEqual([2, 3, 1].map(runId));
        expect(r().finishedRuns(10_000, 2)).toEqual([2, 3].map(runId));
        expect(r().finishedRuns(99, 10)).toEqual([]);
      });

      it("purgeTask removes the task and its queue, parent, prerequisite and cron entries, and reserves its id", async () => {
        await tasks(1, 2);
        const t = taskRec(3, { queue: "q", parentTaskId: taskId(1), dependsOn: [taskId(1), taskId(2)], policy: CRON_POLICY });
        await commit(createTask(t));
        await commit(purgeTask(t, reservationRec(3, 50_000)));
        expect(r().getTask(taskId(3))).toBeUndefined();
        expect(r().taskCount()).toBe(2);
        expect(r().taskIds({})).toEqual([taskId(1), taskId(2)]);
        expect(r().taskIds({ queue: "q" })).toEqual([]);
        expect(r().childTaskIds(taskId(1))).toEqual([]);
        expect(r().dependentTaskIds(taskId(1))).toEqual([]);
        expect(r().dependentTaskIds(taskId(2))).toEqual([]);
        expect(r().cronTaskIds()).toEqual([]);
        expect(r().getReservation(taskId(3))).toEqual(reservationRec(3, 50_000));
        expect(r().expiredReservations(50_000, 10)).toEqual([taskId(3)]);
      });

      it("purgeTask over an existing reservation replaces it and its expiry entry", async () => {
        const [t] = await tasks(1);
        await commit(purgeTask(t as TaskRecord, reservationRec(1, 1_000)));
        // The id stored again (a store does not enforce reservations: the engine does), then purged again.
        await commit(createTask(t as TaskRecord));
        await commit(purgeTask(t as TaskRecord, reservationRec(1, 9_000)));
        expect(r().getReservation(taskId(1))?.until).toBe(9_000);
        expect(r().expiredReservations(5_000, 10)).toEqual([]);
        expect(r().expiredReservations(9_000, 10)).toEqual([taskId(1)]);
      });

      it("expiredReservations orders by until then task id, includes until, and limits", async () => {
        const ts = await tasks(1, 2, 3, 4);
        const untils = [700, 200, 200, 5_000];
        await commit(...ts.map((t, i) => purgeTask(t, reservationRec(i + 1, untils[i] as number))));
        expect(r().expiredReservations(10_000, 10)).toEqual([2, 3, 1, 4].map(taskId));
        expect(r().expiredReservations(700, 10)).toEqual([2, 3, 1].map(taskId));
        expect(r().expiredReservations(10_000, 1)).toEqual([taskId(2)]);
        expect(r().expiredReservations(199, 10)).toEqual([]);
      });

      it("releaseReservation frees the id and its expiry entry; an unknown id is a no-op", async () => {
        const ts = await tasks(1, 2);
        await commit(...ts.map((t, i) => purgeTask(t, reservationRec(i + 1, 1_000))));
        await commit(releaseReservation(taskId(1)), releaseReservation(taskId(9)));
        expect(r().getReservation(taskId(1))).toBeUndefined();
        expect(r().getReservation(taskId(2))?.taskId).toBe(taskId(2));
        expect(r().expiredReservations(10_000, 10)).toEqual([taskId(2)]);
      });

      it("usedBytes grows with stored data and falls when it is purged", async () => {
        const empty = r().usedBytes();
        expect(empty).toBeGreaterThanOrEqual(0);
        const big = (n: number) => taskRec(n, { payload: { data: new Uint8Array(20_000).fill(n % 256), contentType: "application/octet-stream" } });
        const ts = Array.from({ length: 50 }, (_, i) => big(i + 1));
        await store.commit(ts.map(createTask));
        const full = r().usedBytes();
        expect(full).toBeGreaterThan(empty + 50 * 20_000 * 0.9);
        await store.commit(ts.map((t, i) => purgeTask(t, reservationRec(i + 1, 1))));
        await store.commit(ts.map((t) => releaseReservation(t.id)));
        expect(r().usedBytes()).toBeLessThan(full - 50 * 20_000 * 0.9);
      });
    });

    describe("revisions assigned at commit", () => {
      it("assigns revisions at commit: the counter's next ones, in stamp order; records moved in place; meta follows (assigning stores)", async (ctx) => {
        if (!fx.assignsRevisions) {
          ctx.skip();
          return;
        }
        // Stamped 7 and 8 on an empty store: they become 1 and 2.
        const a = runRec(1, { revision: 7 });
        const b = runRec(2, { revision: 8 });
        const created = [createRun(a, 7), createRun(b, 8)];
        await store.commit(created);
        expect(created.map((v) => (v.verb === "createRun" ? v.event.revision : null))).toEqual([1, 2]);
        expect(r().getRun(runId(1))?.revision).toBe(1);
        expect(r().getRun(runId(2))?.revision).toBe(2);
        expect(r().events(0, 10).map((e) => [e.revision, e.runId])).toEqual([
          [1, runId(1)],
          [2, runId(2)],
        ]);
        // A change without an event keeps the run's revision; one with an event gets the next.
        const quiet = updateRun(r().getRun(runId(1)) as RunRecord, { waitingOnDeps: true });
        const prev = r().getRun(runId(2)) as RunRecord;
        const loud = updateRun(prev, { state: "READY", revision: 40 }, { event: eventRec(40, { ...prev, state: "READY" }, { from: "SCHEDULED" }) });
        await store.commit([quiet, loud, { verb: "saveMeta", meta: { revision: 40, oldestRevision: 1, enginePaused: false } }]);
        expect(r().getRun(runId(1))?.revision).toBe(1);
        expect(r().getRun(runId(2))?.revision).toBe(3);
        expect(loud.run.revision).toBe(3);
        expect(r().events(3, 10).map((e) => e.revision)).toEqual([3]);
        expect(r().meta().revision).toBe(3);
        if (fx.reopen) {
          store = await fx.reopen();
          expect(r().meta().revision).toBe(3);
          expect(r().getRun(runId(2))?.revision).toBe(3);
          expect(r().events(0, 10).map((e) => e.revision)).toEqual([1, 2, 3]);
        }
      });
    });

    describe("persistence", () => {
      it("shows the same data after closing and reopening (persistent stores)", async (ctx) => {
        if (!fx.reopen) {
          ctx.skip();
          return;
        }
        const t = taskRec(1, { policy: CRON_POLICY });
        const child = taskRec(2, { parentTaskId: taskId(1), dependsOn: [taskId(1)] });
        const run = runRec(1, { state: "READY", effectivePriority: 3, capabilities: ["c"], due: [] });
        const other = runRec(2, { due: [[8_000, "PROMOTE"]] });
        const meta: MetaRecord = { revision: 6, oldestRevision: 2, enginePaused: true };
        await commit(createTask(t), createTask(child), createTask(taskRec(3)), createRun(run, 5), createRun(other, 6), saveQueue(queueRec("default", { paused: true })), { verb: "saveMeta", meta });
        await commit(
          updateRun(other, { state: "RUNNING", due: [[9_000, "LEASE"]] }, { lease: { put: leaseRec(2) }, attempt: attemptRec(2, 1), keyHolder: { put: holderRec("k", 2, { hold: "HELD" }) } }),
          purgeTask(taskRec(3), reservationRec(3, 7_000)),
        );
        const snapshot = (s: Store) => {
          const rd = s.reader;
          return {
            meta: rd.meta(),
            task: rd.getTask(taskId(1)),
            taskIds: rd.taskIds({}),
            cron: rd.cronTaskIds(),
            children: rd.childTaskIds(taskId(1)),
            dependents: rd.dependentTaskIds(taskId(1)),
            runs: rd.runIds(),
            ready: rd.readyEntries("default", undefined, 10),
            counts: rd.counts("default"),
            due: rd.dueEntries(Number.MAX_SAFE_INTEGER, 10),
            lease: rd.getLease(runId(2)),
            attempt: rd.getAttempt(runId(2), 1)?.id,
            holders: rd.keyHolders("k"),
            events: rd.events(0, 10).map((e) => e.revision),
            queue: rd.getQueue("default"),
            queues: rd.queueNames(),
            reservation: rd.getReservation(taskId(3)),
            expired: rd.expiredReservations(7_000, 10),
            taskCount: rd.taskCount(),
          };
        };
        const before = snapshot(store);
        store = await fx.reopen();
        expect(snapshot(store)).toEqual(before);
        expect(before.taskCount).toBe(2);
        // Stamped 5 and 6; a store that assigns revisions gave them its counter's first two.
        expect(before.events).toEqual(fx.assignsRevisions ? [1, 2] : [5, 6]);
      });
    });
  });
}
