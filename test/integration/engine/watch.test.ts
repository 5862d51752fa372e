/**
 * Subscriptions: history then live with no gap and no duplicate while commands run
 * concurrently; resume after a disconnect; progress; purged revisions; slow consumers.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Engine } from "../../../src/engine/engine.js";
import { EngineError } from "../../../src/engine/errors.js";
import type { EventRecord } from "../../../src/engine/records.js";
import type { WatchItem } from "../../../src/engine/watch.js";
import { openTestEngine, spec, type TestEngine } from "../../support/engine.js";

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const leaseReq = { queues: ["default"], workerId: "w", capabilities: [], maxRuns: 5, leaseDurationMs: 30_000, waitMs: 0, startAttempt: true };

/** Runs a busy mixed workload: submit, lease+complete. */
async function workload(engine: Engine, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await Promise.all([
      engine.submitTasks(Array.from({ length: 3 }, () => ({ taskId: null, spec: spec() }))),
      engine.leaseRuns(leaseReq).then((r) =>
        engine.completeAttempts(
          r.grants.map((g) => ({ runId: g.run.id, token: g.lease.token, attemptId: g.attempt?.id as never, outcome: "SUCCESS" as const, output: new Uint8Array(0), error: "" })),
        ),
      ),
    ]);
  }
}

async function collect(it: AsyncIterable<WatchItem>, until: (events: EventRecord[]) => boolean): Promise<EventRecord[]> {
  const events: EventRecord[] = [];
  for await (const item of it) {
    if (item.kind === "event") events.push(item.event);
    if (until(events)) break;
  }
  return events;
}

describe("watch subscriptions", () => {
  it("streams history then live events with no gap and no duplicate while commands run", async () => {
    t = await openTestEngine();
    const { engine } = t;
    await workload(engine, 10); // history
    const stream = engine.watch({}, 1);
    const busy = workload(engine, 30); // live, concurrently with the history read
    await busy;
    const final = engine.revision;
    const events = await collect(stream, (ev) => (ev.at(-1)?.revision ?? 0) >= final);
    expect(events.map((e) => e.revision)).toEqual(Array.from({ length: final }, (_, i) => i + 1));
    // What was streamed is what the log holds.
    expect(events).toEqual(engine.reader.events(1, final));
  });

  it("resumes after a disconnect from the last revision + 1 with nothing lost or repeated", async () => {
    t = await openTestEngine();
    const { engine } = t;
    const got: number[] = [];
    const first = engine.watch({}, 1);
    const writer = workload(engine, 20);
    for await (const item of first) {
      if (item.kind === "event") got.push(item.event.revision);
      if (got.length === 25) break; // the client goes away
    }
    await writer;
    const second = engine.watch({}, (got.at(-1) as number) + 1);
    const rest = await collect(second, (ev) => (ev.at(-1)?.revision ?? 0) >= engine.revision);
    got.push(...rest.map((e) => e.revision));
    expect(got).toEqual(Array.from({ length: engine.revision }, (_, i) => i + 1));
  });

  it("filters by queue, task, run and target state", async () => {
    t = await openTestEngine();
    const { engine } = t;
    const a = await engine.submitTask({ taskId: null, spec: spec({ queue: "a" }) });
    await engine.submitTask({ taskId: null, spec: spec({ queue: "b" }) });
    const byQueue = await collect(engine.watch({ queues: new Set(["b"]) }, 1), () => true);
    expect(byQueue.map((e) => e.queue)).toEqual(["b"]);
    const byTask = await collect(engine.watch({ taskId: a.task.id }, 1), () => true);
    expect(byTask[0]?.taskId).toBe(a.task.id);
    const runId = a.runs[0]?.id as never;
    await engine.cancelRun(runId);
    const canceled = await collect(engine.watch({ runId, states: new Set(["CANCELED" as const]) }, 1), () => true);
    expect(canceled.map((e) => [e.runId, e.from, e.to])).toEqual([[runId, "READY", "CANCELED"]]);
  });

  it("sends progress with the current revision while nothing matches", async () => {
    t = await openTestEngine();
    const { engine } = t;
    const stream = engine.watch({ queues: new Set(["nothing-here"]) }, 0, { progressIntervalMs: 100 });
    await engine.submitTask({ taskId: null, spec: spec() });
    const progress: number[] = [];
    for await (const item of stream) {
      if (item.kind === "progress") progress.push(item.revision);
      if (progress.length === 2) break;
    }
    expect(progress.at(-1)).toBe(engine.revision);
  });

  it("refuses a purged start revision with REVISION_PURGED naming the oldest one", async () => {
    t = await openTestEngine({ retentionMs: 1_000 });
    const { engine, clock } = t;
    await engine.submitTask({ taskId: null, spec: spec() });
    clock.advance(5_000);
    await engine.submitTask({ taskId: null, spec: spec() });
    const purged = await engine.purge();
    expect(purged.events).toBe(1);
    try {
      engine.watch({}, 1);
      expect.unreachable("watch from a purged revision must fail");
    } catch (e) {
      expect(EngineError.is(e, "REVISION_PURGED")).toBe(true);
      expect((e as EngineError).metadata.oldest_revision).toBe("2");
    }
    const from2 = await collect(engine.watch({}, 2), () => true);
    expect(from2[0]?.revision).toBe(2);
  });

  it("ends a too-slow stream with WATCH_TOO_SLOW instead of buffering without bound", async () => {
    t = await openTestEngine();
    const { engine } = t;
    const stream = engine.watch({}, 0, { maxBuffer: 5 })[Symbol.asyncIterator]();
    // Subscribed, but the consumer never reads on. Its first read may already fail: a commit
    // can carry more than 5 events (over PostgreSQL, commands that arrive while a batch waits
    // for the commit lock join it), and then the stream overflows before it delivers anything.
    const first = stream.next().then(
      (r) => ({ ok: true as const, r }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    await workload(engine, 5);
    const got = await first;
    const ended = got.ok
      ? (async () => {
          expect(got.r.done).toBe(false);
          for (;;) {
            const n = await stream.next();
            if (n.done) return;
          }
        })()
      : Promise.reject(got.e);
    await expect(ended).rejects.toMatchObject({ reason: "WATCH_TOO_SLOW" });
  });

  it("ends live streams with SHUTTING_DOWN when the engine closes", async () => {
    t = await openTestEngine();
    const { engine } = t;
    const stream = engine.watch({}, 0)[Symbol.asyncIterator]();
    const next = stream.next();
    // Listen before closing: the stream ends during close, which over PostgreSQL then goes on
    // ending its pool (a rejection nobody listens to yet would be reported as unhandled).
    const ended = expect(next).rejects.toMatchObject({ reason: "SHUTTING_DOWN" });
    await engine.close();
    await ended;
  });

  describe("releases every per-subscriber resource however the subscription ends", () => {
    /** A consumer that took one item and is now suspended at the generator's yield. */
    async function suspendedAfterOne(engine: Engine, opts: { signal?: AbortSignal; maxBuffer?: number; progressIntervalMs?: number } = {}) {
      const it = engine.watch({}, 0, opts)[Symbol.asyncIterator]();
      const first = it.next(); // subscribes
      await engine.submitTask({ taskId: null, spec: spec() });
      expect((await first).done).toBe(false);
      return it;
    }

    it("on abort while the consumer is suspended at a yield it never resumes (no finally needed)", async () => {
      t = await openTestEngine();
      const { engine } = t;
      const ac = new AbortController();
      const it = await suspendedAfterOne(engine, { signal: ac.signal, progressIntervalMs: 100 });
      await workload(engine, 3); // buffered for the suspended consumer
      expect(engine.watchers).toBe(1);
      ac.abort();
      // Released at once, before (and whether or not) the generator is resumed.
      expect(engine.watchers).toBe(0);
      await workload(engine, 3); // nothing more is buffered for it
      expect(engine.watchers).toBe(0);
      // Resumed later, it ends without delivering what was buffered before the abort.
      expect(await it.next()).toEqual({ done: true, value: undefined });
    });

    it("on return() and on a consumer's break", async () => {
      t = await openTestEngine();
      const { engine } = t;
      const it = await suspendedAfterOne(engine, { progressIntervalMs: 100 });
      expect(engine.watchers).toBe(1);
      await it.return?.(undefined);
      expect(engine.watchers).toBe(0);
      const stream = engine.watch({}, 1);
      await collect(stream, () => true); // break after the first event
      expect(engine.watchers).toBe(0);
    });

    it("on a full buffer at once, before the consumer reads on (which then gets WATCH_TOO_SLOW)", async () => {
      t = await openTestEngine();
      const { engine } = t;
      const it = await suspendedAfterOne(engine, { maxBuffer: 5 });
      await workload(engine, 5);
      expect(engine.watchers).toBe(0);
      await expect(it.next()).rejects.toMatchObject({ reason: "WATCH_TOO_SLOW" });
    });

    it("when the signal was aborted before the stream was first read (never subscribes)", async () => {
      t = await openTestEngine();
      const { engine } = t;
      const ac = new AbortController();
      const it = engine.watch({}, 0, { signal: ac.signal })[Symbol.asyncIterator]();
      ac.abort();
      expect(await it.next()).toEqual({ done: true, value: undefined });
      expect(engine.watchers).toBe(0);
    });

    it("when the engine closes, even for a consumer suspended at a yield", async () => {
      t = await openTestEngine();
      const { engine } = t;
      const it = await suspendedAfterOne(engine, { progressIntervalMs: 100 });
      expect(engine.watchers).toBe(1);
      await engine.close();
      expect(engine.watchers).toBe(0);
      await expect(it.next()).rejects.toMatchObject({ reason: "SHUTTING_DOWN" });
    });

    it("many subscribers share one item per event and each still gets every event once", async () => {
      t = await openTestEngine();
      const { engine } = t;
      const its = Array.from({ length: 20 }, () => engine.watch({}, 0)[Symbol.asyncIterator]());
      const firsts = its.map((it) => it.next());
      await workload(engine, 5);
      const head = engine.revision;
      const got = await Promise.all(
        its.map(async (it, i) => {
          const items: WatchItem[] = [(await firsts[i])?.value as WatchItem];
          while ((items.at(-1) as WatchItem & { kind: "event" }).event.revision < head) items.push((await it.next()).value as WatchItem);
          await it.return?.(undefined);
          return items;
        }),
      );
      const revisions = (got[0] ?? []).map((x) => (x as WatchItem & { kind: "event" }).event.revision);
      expect(revisions).toEqual(Array.from({ length: revisions.length }, (_, i) => (revisions[0] as number) + i));
      for (const items of got) {
        expect(items.map((x) => (x as WatchItem & { kind: "event" }).event.revision)).toEqual(revisions);
        // The same item objects: built once per event, not per subscriber.
        expect(items[items.length - 1]).toBe((got[0] ?? [])[items.length - 1]);
      }
      expect(engine.watchers).toBe(0);
    });
  });

  describe("batches (maxBatch)", () => {
    /** Reads items until the head revision; returns the items. */
    async function readToHead(it: AsyncIterator<WatchItem>, head: number): Promise<WatchItem[]> {
      const items: WatchItem[] = [];
      let last = 0;
      while (last < head) {
        const n = await it.next();
        if (n.done) break;
        items.push(n.value);
        if (n.value.kind === "event") last = n.value.event.revision;
        else if (n.value.kind === "events") last = (n.value.events.at(-1) as EventRecord).revision;
      }
      await it.return?.(undefined);
      return items;
    }
    const revisionsOf = (items: WatchItem[]) => items.flatMap((x) => (x.kind === "event" ? [x.event.revision] : x.kind === "events" ? x.events.map((e) => e.revision) : []));

    it("groups waiting events (history and a live backlog) into items of at most maxBatch, every event once, in order", async () => {
      t = await openTestEngine();
      const { engine } = t;
      await workload(engine, 10); // history
      const it = engine.watch({}, 1, { maxBatch: 7 })[Symbol.asyncIterator]();
      const first = await it.next();
      await workload(engine, 10); // a live backlog while the consumer is away
      const head = engine.revision;
      const items = [first.value as WatchItem, ...(await readToHead(it, head))];
      expect(revisionsOf(items)).toEqual(Array.from({ length: head }, (_, i) => i + 1));
      const sizes = items.map((x) => (x.kind === "events" ? x.events.length : 1));
      expect(Math.max(...sizes)).toBe(7);
      expect(items.every((x) => x.kind !== "events" || (x.events.length >= 2 && x.events.length <= 7))).toBe(true);
      expect(engine.watchers).toBe(0);
    });

    it("never batches by default or with maxBatch 1", async () => {
      t = await openTestEngine();
      const { engine } = t;
      await workload(engine, 5);
      for (const opts of [{}, { maxBatch: 1 }]) {
        const it = engine.watch({}, 1, opts)[Symbol.asyncIterator]();
        const first = await it.next();
        await workload(engine, 3);
        const items = [first.value as WatchItem, ...(await readToHead(it, engine.revision))];
        expect(items.every((x) => x.kind === "event")).toBe(true);
        expect(revisionsOf(items)).toEqual(Array.from({ length: engine.revision }, (_, i) => i + 1));
      }
    });

    it("applies the filter inside batches", async () => {
      t = await openTestEngine();
      const { engine } = t;
      for (let i = 0; i < 10; i++) await engine.submitTask({ taskId: null, spec: spec({ queue: i % 2 === 0 ? "a" : "b" }) });
      const items = await readToHead(engine.watch({ queues: new Set(["b"]) }, 1, { maxBatch: 100 })[Symbol.asyncIterator](), engine.revision);
      const events = items.flatMap((x) => (x.kind === "events" ? [...x.events] : x.kind === "event" ? [x.event] : []));
      expect(events.map((e) => e.queue)).toEqual(Array.from({ length: 5 }, () => "b"));
    });
  });
});
