/**
 * Several engines on one PostgreSQL database (docs/scaling.md "Several servers on one
 * PostgreSQL"), in one process: each engine has its own PgStore (its own pool, mirror and
 * LISTEN connection), as separate servers would. The engines share a manual clock where a
 * timing rule is tested, so both agree on "now". What is checked is what the issue asks of
 * several servers: no run handed out twice, no key over its slots, a timer applied once,
 * revisions without gap or duplicate and watches resumable on another server, long polls woken
 * by another server's submit, a shared rate limit, reads that see another server's
 * acknowledged writes, and a server that fell behind the change log's retention reloading.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunId } from "../../../src/domain/ids.js";
import { Engine, type EngineOptions, type EventRecord, type WatchItem } from "../../../src/engine/engine.js";
import { uuidV7Source } from "../../../src/ids/uuidv7.js";
import { PgStore } from "../../../src/storage/postgres/store.js";
import { ManualClock } from "../../support/clock.js";
import { leaseRequest, seededRandom, spec, submission } from "../../support/engine.js";
import { HAVE_POSTGRES, type PostgresCluster, startPostgres, warnWithoutPostgres } from "../../support/postgres.js";

warnWithoutPostgres("several-servers.test.ts");

let cluster: PostgresCluster;
const open: Engine[] = [];
let dbs = 0;
/** How the stores of the suite running now commit (each suite below sets it). */
let commits: "serial" | "concurrent" = "serial";

beforeAll(async () => {
  if (HAVE_POSTGRES) cluster = await startPostgres();
}, 180_000);

afterAll(async () => {
  for (const e of open) await e.close().catch(() => undefined);
  await cluster?.stop();
});

/** `n` engines on one new database. */
async function servers(n: number, options: Partial<EngineOptions> = {}): Promise<{ url: string; engines: Engine[] }> {
  const url = await cluster.createDatabase(`several_${++dbs}`);
  const engines: Engine[] = [];
  for (let i = 0; i < n; i++) {
    const store = await PgStore.open({ url, commits });
    const engine = await Engine.open({ store, clock: { now: () => Date.now() }, ids: uuidV7Source(), random: seededRandom(i + 1), autoTimers: false, ...options });
    open.push(engine);
    engines.push(engine);
  }
  return { url, engines };
}

/** Commits made on the database so far (the change log's head). */
async function commitCount(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return Number((await c.query<{ seq: string }>("SELECT seq FROM change_head")).rows[0]?.seq);
  } finally {
    await c.end();
  }
}

/** Events of a watch until `stop` holds for what was collected. */
async function collect(it: AsyncIterator<WatchItem>, stop: (events: EventRecord[]) => boolean): Promise<EventRecord[]> {
  const events: EventRecord[] = [];
  while (!stop(events)) {
    const next = await it.next();
    if (next.done) throw new Error("watch ended early");
    const item = next.value;
    if (item.kind === "events") events.push(...item.events);
    else if (item.kind === "event") events.push(item.event);
  }
  return events;
}

for (const mode of ["serial", "concurrent"] as const) {
  describe.skipIf(!HAVE_POSTGRES)(`several engines on one PostgreSQL (${mode} commits)`, () => {
    beforeAll(() => {
      commits = mode;
    });

    it("a run submitted through one server is read, leased and completed through the others", async () => {
      const { engines } = await servers(3);
      const [a, b, c] = engines as [Engine, Engine, Engine];
      const [sub] = await a.submitTasks([submission(spec({ queue: "q" }))]);
      const runId = sub?.runs[0]?.id as RunId;
      await b.sync();
      expect(b.queries.getRun(runId).run.state).toBe("READY");
      const leased = await b.leaseRuns(leaseRequest({ queues: ["q"], startAttempt: true }));
      expect(leased.grants.map((g) => g.run.id)).toEqual([runId]);
      const g = leased.grants[0];
      if (!g?.attempt) throw new Error("no attempt started");
      const [done] = await c.completeAttempts([{ runId, token: g.lease.token, attemptId: g.attempt.id, outcome: "SUCCESS", output: new Uint8Array([1]), error: "" }]);
      expect(done?.ok).toBe(true);
      await a.sync();
      expect(a.queries.getRun(runId).run.state).toBe("COMPLETED");
      expect(a.queries.task(sub?.task.id ?? ("" as never)).status).toBe("COMPLETED");
    });

    it("hands every run out exactly once while three servers lease at the same time", async () => {
      const { engines } = await servers(3);
      const total = 300;
      const subs = await engines[0]?.submitTasks(Array.from({ length: total }, () => submission(spec({ queue: "race" }))));
      expect(subs).toHaveLength(total);
      const seen = new Map<string, number>();
      await Promise.all(
        engines.flatMap((e, i) =>
          Array.from({ length: 4 }, async (_, w) => {
            for (;;) {
              const r = await e.leaseRuns(leaseRequest({ queues: ["race"], maxRuns: 7, workerId: `s${i}w${w}` }));
              if (r.grants.length === 0) return;
              for (const gr of r.grants) seen.set(gr.run.id, (seen.get(gr.run.id) ?? 0) + 1);
            }
          }),
        ),
      );
      expect(seen.size).toBe(total);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
    });

    it("never lets a concurrency key past its slots across servers", async () => {
      const { engines } = await servers(2);
      const [a, b] = engines as [Engine, Engine];
      await a.submitTasks(Array.from({ length: 20 }, () => submission(spec({ queue: "keys", constraints: { concurrency: { key: "k", slots: 2, holdPolicy: "RELEASE_ON_RETRY" } } }))));
      const grants = await Promise.all([a, b, a, b, a, b].map((e) => e.leaseRuns(leaseRequest({ queues: ["keys"], maxRuns: 5 }))));
      expect(grants.reduce((n, r) => n + r.grants.length, 0)).toBe(2);
      await a.sync();
      await b.sync();
      expect(a.queries.getKey("k").holders).toHaveLength(2);
      expect(b.queries.getKey("k").holders).toHaveLength(2);
    });

    it("applies a due timer once, whichever server gets there first", async () => {
      const clock = new ManualClock();
      const { url, engines } = await servers(2, { clock });
      const [a, b] = engines as [Engine, Engine];
      const [sub] = await a.submitTasks([submission(spec({ queue: "t", constraints: { maxAttempts: 3 } }))]);
      const runId = sub?.runs[0]?.id as RunId;
      await a.leaseRuns(leaseRequest({ queues: ["t"], leaseDurationMs: 1_000 }));
      await b.sync();
      const commits = await commitCount(url);
      clock.advance(5_000);
      await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
      await a.sync();
      const events = a.reader.events(1, 100).filter((e) => e.runId === runId);
      expect(events.map((e) => e.to)).toEqual(["READY", "LEASED", "READY"]);
      expect(a.reader.dueEntries(Number.MAX_SAFE_INTEGER, 10).filter((d) => d.runId === runId)).toEqual([]);
      // Only the server that got there first committed: the others found the entry gone and wrote nothing.
      expect(await commitCount(url)).toBe(commits + 1);
    });

    it("numbers events without gap or duplicate and a watch resumes on another server", async () => {
      const { engines } = await servers(3);
      const [a, b, c] = engines as [Engine, Engine, Engine];
      const first = a.watch({ queues: new Set(["w"]) }, 1)[Symbol.asyncIterator]();
      const submits = engines.flatMap((e) => Array.from({ length: 5 }, () => e.submitTasks(Array.from({ length: 4 }, () => submission(spec({ queue: "w" }))))));
      await Promise.all(submits);
      const seen = await collect(first, (ev) => ev.length >= 30);
      await first.return?.();
      const resumeAt = (seen.at(-1)?.revision ?? 0) + 1;
      const rest = c.watch({ queues: new Set(["w"]) }, resumeAt)[Symbol.asyncIterator]();
      const later = await collect(rest, (ev) => ev.length >= 60 - seen.length);
      await rest.return?.();
      const revisions = [...seen, ...later].map((e) => e.revision);
      expect(revisions).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      await b.sync();
      expect(b.revision).toBe(60);
    });

    it("wakes a long poll on one server when a run is submitted through another", async () => {
      const { engines } = await servers(2);
      const [a, b] = engines as [Engine, Engine];
      const waiting = b.leaseRuns(leaseRequest({ queues: ["poll"], waitMs: 30_000 }));
      await new Promise((r) => setTimeout(r, 200));
      expect(b.waitingWorkers).toBe(1);
      const [sub] = await a.submitTasks([submission(spec({ queue: "poll" }))]);
      const got = await waiting;
      expect(got.grants.map((g) => g.run.id)).toEqual([sub?.runs[0]?.id]);
    });

    it("a key slot given back through one server hands the waiting run out through a long poll on another", async () => {
      const { engines } = await servers(2);
      const [a, b] = engines as [Engine, Engine];
      const concurrency = { key: "one", slots: 1, holdPolicy: "RELEASE_ON_RETRY" as const };
      await a.submitTasks([submission(spec({ queue: "slot", constraints: { concurrency } })), submission(spec({ queue: "slot", constraints: { concurrency } }))]);
      const first = await a.leaseRuns(leaseRequest({ queues: ["slot"], maxRuns: 5, startAttempt: true }));
      expect(first.grants).toHaveLength(1);
      const waiting = b.leaseRuns(leaseRequest({ queues: ["slot"], maxRuns: 5, waitMs: 30_000 }));
      await new Promise((r) => setTimeout(r, 200));
      expect(b.waitingWorkers).toBe(1);
      const g = first.grants[0];
      if (!g?.attempt) throw new Error("no attempt started");
      await a.completeAttempts([{ runId: g.run.id, token: g.lease.token, attemptId: g.attempt.id, outcome: "SUCCESS", output: new Uint8Array(), error: "" }]);
      const second = await waiting;
      expect(second.grants).toHaveLength(1);
      expect(second.grants[0]?.run.id).not.toBe(g.run.id);
    });

    it("pausing the engine through one server stops hand-out on the other; resuming wakes its long poll", async () => {
      const { engines } = await servers(2);
      const [a, b] = engines as [Engine, Engine];
      await a.submitTasks([submission(spec({ queue: "paused" }))]);
      await a.pauseEngine();
      await expect(b.leaseRuns(leaseRequest({ queues: ["paused"] }))).rejects.toMatchObject({ reason: "ENGINE_PAUSED" });
      const waiting = b.leaseRuns(leaseRequest({ queues: ["paused"], waitMs: 30_000 }));
      await new Promise((r) => setTimeout(r, 200));
      await a.resumeEngine();
      expect((await waiting).grants).toHaveLength(1);
    });

    it("shares a queue's rate limit: a run handed out by one server spends the other's token too", async () => {
      const clock = new ManualClock();
      const { engines } = await servers(2, { clock });
      const [a, b] = engines as [Engine, Engine];
      await a.setQueueRateLimit("rated", 1, 2);
      await a.submitTasks(Array.from({ length: 10 }, () => submission(spec({ queue: "rated" }))));
      const fromA = await a.leaseRuns(leaseRequest({ queues: ["rated"], maxRuns: 1 }));
      const fromB = await b.leaseRuns(leaseRequest({ queues: ["rated"], maxRuns: 5 }));
      expect(fromA.grants.length + fromB.grants.length).toBe(2);
      expect((await a.leaseRuns(leaseRequest({ queues: ["rated"], maxRuns: 5 }))).grants).toHaveLength(0);
      clock.advance(1_000);
      const refilled = await Promise.all([a, b].map((e) => e.leaseRuns(leaseRequest({ queues: ["rated"], maxRuns: 5 }))));
      expect(refilled.reduce((n, r) => n + r.grants.length, 0)).toBeLessThanOrEqual(2);
    });

    it("a server that fell behind the change log's retention reloads everything and goes on", async () => {
      const { url, engines } = await servers(2);
      const [a, b] = engines as [Engine, Engine];
      await b.sync();
      // As if B had been away while the log was pruned: the head jumps past changes B never saw.
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        await admin.query("UPDATE change_head SET seq = seq + 5");
        await admin.query("DELETE FROM changes");
      } finally {
        await admin.end();
      }
      const [sub] = await a.submitTasks([submission(spec({ queue: "gone" }))]);
      await b.sync();
      const runId = sub?.runs[0]?.id as RunId;
      expect(b.queries.getRun(runId).run.state).toBe("READY");
      const leased = await b.leaseRuns(leaseRequest({ queues: ["gone"] }));
      expect(leased.grants.map((g) => g.run.id)).toEqual([runId]);
    });

    // Last: it restarts the cluster.
    it("a window whose connection the database drops fails with STORAGE_IO, without ending the process, and the store goes on", async () => {
      const url = await cluster.createDatabase(`several_${++dbs}`);
      const store = await PgStore.open({ url, commits });
      try {
        const save = (paused: boolean) => store.commit([{ verb: "saveQueue", queue: { name: "q", paused, ratePerSecond: 0, burst: 0 } }]);
        await store.acquire(); // a window holds a pooled client, idle, while the database goes down
        await cluster.restart("fast");
        await expect(save(true)).rejects.toMatchObject({ reason: "STORAGE_IO" });
        expect(store.reader.getQueue("q")).toBeUndefined();
        // Idle clients of the pool may have died too: the first commits after may fail, never hang.
        let stored = false;
        for (let i = 0; i < 10 && !stored; i++) stored = await save(false).then(() => true, () => false);
        expect(stored).toBe(true);
        expect(store.reader.getQueue("q")).toMatchObject({ paused: false });
      } finally {
        await store.close();
      }
    });
  });
}
