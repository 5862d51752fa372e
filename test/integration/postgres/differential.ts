/**
 * Support for store-halves.test.ts: a Store that forwards every commit to a MemoryStore and
 * applies the same verbs to PostgreSQL (commitVerbs), remembering every id, queue and key the
 * verbs named; and `compareReaders`, which asks the memory reader and PgReader every
 * StoreReader query over those names and reports the answers that differ.
 */
import type pg from "pg";
import { expect } from "vitest";
import type { RunId, TaskId } from "../../../src/domain/ids.js";
import { RUN_STATES } from "../../../src/domain/state.js";
import type { Store, StoreReader, StoreVerb } from "../../../src/engine/ports.js";
import type { MemoryStore } from "../../../src/storage/memory/memory-store.js";
import type { PgReader } from "../../../src/storage/postgres/reader.js";
import { commitVerbs } from "../../../src/storage/postgres/writer.js";

/** Everything the verbs named, so queries can be asked about purged rows too. */
export interface Seen {
  readonly tasks: Set<TaskId>;
  readonly runs: Set<RunId>;
  readonly queues: Set<string>;
  readonly keys: Set<string>;
  commits: number;
  verbs: Map<StoreVerb["verb"], number>;
}

/** The memory store, mirrored into PostgreSQL commit by commit, in commit order. */
export class MirrorStore implements Store {
  readonly seen: Seen = { tasks: new Set(), runs: new Set(), queues: new Set(), keys: new Set(), commits: 0, verbs: new Map() };
  /** PostgreSQL failures (the commit is failed with them too). */
  readonly failures: unknown[] = [];
  #tail: Promise<void> = Promise.resolve();

  constructor(
    readonly memory: MemoryStore,
    readonly pool: pg.Pool,
  ) {}

  get reader(): StoreReader {
    return this.memory.reader;
  }

  commit(verbs: readonly StoreVerb[]): Promise<void> {
    const batch = [...verbs];
    const done = this.#tail.then(async () => {
      await this.memory.commit(batch);
      this.#note(batch);
      try {
        await commitVerbs(this.pool, batch);
      } catch (e) {
        this.failures.push(e);
        throw e;
      }
    });
    this.#tail = done.catch(() => undefined);
    return done;
  }

  #note(verbs: readonly StoreVerb[]): void {
    const s = this.seen;
    if (verbs.length > 0) s.commits++;
    for (const v of verbs) {
      s.verbs.set(v.verb, (s.verbs.get(v.verb) ?? 0) + 1);
      if (v.verb === "createTask" || v.verb === "updateTask" || v.verb === "purgeTask") {
        s.tasks.add(v.task.id);
        s.queues.add(v.task.spec.queue);
        if (v.task.spec.constraints.concurrency) s.keys.add(v.task.spec.constraints.concurrency.key);
      }
      if (v.verb === "createRun" || v.verb === "updateRun" || v.verb === "purgeRun") s.runs.add(v.run.id);
      if (v.verb === "saveQueue") s.queues.add(v.queue.name);
    }
  }

  async close(): Promise<void> {
    await this.#tail;
    await this.memory.close();
  }
}

/** Asks both readers every query over `seen` (with `now` for the time bounds); the queries whose answers differ. */
export async function compareReaders(mem: StoreReader, pgr: PgReader, seen: Seen, now: number): Promise<string[]> {
  const bad: string[] = [];
  const check = async (label: string, want: unknown, got: Promise<unknown>) => {
    const g = await got;
    try {
      expect(g).toEqual(want);
    } catch {
      bad.push(`${label}: memory ${JSON.stringify(want)?.slice(0, 400)} postgres ${JSON.stringify(g)?.slice(0, 400)}`);
    }
  };
  await check("meta", mem.meta(), pgr.meta());
  await check("taskCount", mem.taskCount(), pgr.taskCount());
  await check("queueNames", mem.queueNames(), pgr.queueNames());
  await check("cronTaskIds", mem.cronTaskIds(), pgr.cronTaskIds());
  await check("nextDue", mem.nextDue(), pgr.nextDue());
  for (const d of mem.dueEntries(Number.MAX_SAFE_INTEGER, 10_000)) {
    await check(`hasDue(${d.at}, ${d.kind}, ${d.runId})`, true, pgr.hasDue(d));
    await check(`hasDue(${d.at + 1}, ${d.kind}, ${d.runId})`, mem.hasDue({ ...d, at: d.at + 1 }), pgr.hasDue({ ...d, at: d.at + 1 }));
  }
  await check("allKeyHolders", [...mem.allKeyHolders()], pgr.allKeyHolders());
  await check("runIds", mem.runIds(), pgr.runIds());
  await check("taskIds", mem.taskIds({}), pgr.taskIds({}));
  await check("occupiedKeys", mem.occupiedKeys(), pgr.occupiedKeys());
  for (const from of [0, 1, 5, 1e9]) {
    await check(`events(${from})`, mem.events(from, 10_000), pgr.events(from, 10_000));
    await check(`events(${from}, 3)`, mem.events(from, 3), pgr.events(from, 3));
  }
  for (const limit of [0, 1, 2, 2.5, 1000]) {
    await check(`runIds(_, ${limit})`, mem.runIds(undefined, limit), pgr.runIds(undefined, limit));
    await check(`taskIds(_, ${limit})`, mem.taskIds({}, undefined, limit), pgr.taskIds({}, undefined, limit));
  }
  for (const dt of [-1, 0, 1_000, 60_000, 3_600_000, 86_400_000 * 30]) {
    for (const limit of [2, 10_000]) {
      await check(`dueEntries(now+${dt}, ${limit})`, mem.dueEntries(now + dt, limit), pgr.dueEntries(now + dt, limit));
      await check(`finishedRuns(now+${dt}, ${limit})`, mem.finishedRuns(now + dt, limit), pgr.finishedRuns(now + dt, limit));
      await check(`expiredReservations(now+${dt}, ${limit})`, mem.expiredReservations(now + dt, limit), pgr.expiredReservations(now + dt, limit));
    }
  }
  const runs = [...seen.runs].sort();
  const tasks = [...seen.tasks].sort();
  // Paging from every known id (present or purged).
  for (const id of runs) await check(`runIds(${id}, 2)`, mem.runIds(id, 2), pgr.runIds(id, 2));
  for (const id of tasks) await check(`taskIds(${id}, 2)`, mem.taskIds({}, id, 2), pgr.taskIds({}, id, 2));
  for (const id of runs) {
    await check(`getRun(${id})`, mem.getRun(id), pgr.getRun(id));
    await check(`getLease(${id})`, mem.getLease(id), pgr.getLease(id));
    for (const n of [0, 1, 2, 3]) await check(`getAttempt(${id}, ${n})`, mem.getAttempt(id, n), pgr.getAttempt(id, n));
    await check(`attempts(${id}, 0)`, mem.attempts(id, 0, 100), pgr.attempts(id, 0, 100));
    await check(`attempts(${id}, 1, 1)`, mem.attempts(id, 1, 1), pgr.attempts(id, 1, 1));
  }
  for (const id of tasks) {
    await check(`getTask(${id})`, mem.getTask(id), pgr.getTask(id));
    await check(`getReservation(${id})`, mem.getReservation(id), pgr.getReservation(id));
    await check(`runIdsOfTask(${id})`, mem.runIdsOfTask(id), pgr.runIdsOfTask(id));
    await check(`childTaskIds(${id})`, mem.childTaskIds(id), pgr.childTaskIds(id));
    await check(`dependentTaskIds(${id})`, mem.dependentTaskIds(id), pgr.dependentTaskIds(id));
    await check(`taskIds(parent ${id})`, mem.taskIds({ parent: id }), pgr.taskIds({ parent: id }));
    await check(`taskIds(parent ${id}, 1)`, mem.taskIds({ parent: id }, undefined, 1), pgr.taskIds({ parent: id }, undefined, 1));
    for (const r of mem.runIdsOfTask(id)) await check(`runIdsOfTask(${id}, ${r}, 1)`, mem.runIdsOfTask(id, r, 1), pgr.runIdsOfTask(id, r, 1));
  }
  for (const q of [...seen.queues, "never-used"].sort()) {
    await check(`getQueue(${q})`, mem.getQueue(q), pgr.getQueue(q));
    await check(`counts(${q})`, mem.counts(q), pgr.counts(q));
    await check(`taskIds(queue ${q})`, mem.taskIds({ queue: q }), pgr.taskIds({ queue: q }));
    for (const t of mem.taskIds({ queue: q })) await check(`taskIds(queue ${q}, ${t}, 1)`, mem.taskIds({ queue: q }, t, 1), pgr.taskIds({ queue: q }, t, 1));
    await check(`readyEntries(${q})`, mem.readyEntries(q, undefined, 1000), pgr.readyEntries(q, undefined, 1000));
    for (const r of mem.runIdsByState(q, "READY")) await check(`readyEntries(${q}, ${r}, 1)`, mem.readyEntries(q, r, 1), pgr.readyEntries(q, r, 1));
    for (const s of RUN_STATES) {
      await check(`runIdsByState(${q}, ${s})`, mem.runIdsByState(q, s), pgr.runIdsByState(q, s));
      for (const r of mem.runIdsByState(q, s)) await check(`runIdsByState(${q}, ${s}, ${r}, 2)`, mem.runIdsByState(q, s, r, 2), pgr.runIdsByState(q, s, r, 2));
    }
  }
  for (const k of [...seen.keys, "no-such-key"].sort()) {
    await check(`keyHolders(${k})`, mem.keyHolders(k), pgr.keyHolders(k));
    await check(`occupiedKeys(${k}, 1)`, mem.occupiedKeys(k, 1), pgr.occupiedKeys(k, 1));
  }
  return bad;
}
