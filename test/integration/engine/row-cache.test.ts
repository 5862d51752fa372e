/**
 * The engine deciding on a row cache that can miss (docs/scaling.md, "Next step: the engine
 * on PostgreSQL", point 1). An engine over the in-memory store whose batches read through a
 * RowCache that starts empty every batch, filled only through NeedRows + fetch, must commit
 * exactly what an engine reading the store directly commits, and answer the same.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { RunId, TaskId } from "../../../src/domain/ids.js";
import { asTaskId } from "../../../src/domain/ids.js";
import type { TaskSpec } from "../../../src/domain/task-spec.js";
import { type NeedRows, type RowStore, rowsFromReader } from "../../../src/engine/commit/rows.js";
import { MAX_STUCK_ROUNDS } from "../../../src/engine/commit/pipeline.js";
import { Engine, type LeaseGrant } from "../../../src/engine/engine.js";
import type { StoreVerb } from "../../../src/engine/ports.js";
import { MemoryStore } from "../../../src/storage/memory/memory-store.js";
import { ManualClock } from "../../support/clock.js";
import { leaseRequest, seededRandom, spec, submission } from "../../support/engine.js";
import { sequentialIds } from "../../support/ids.js";

const SEC = 1_000;
const MIN = 60 * SEC;

/** A memory store that records its commits, and (with `rows`) has its reads fetched. */
interface Recorded {
  readonly store: RowStore;
  readonly memory: MemoryStore;
  /** Verbs of each commit, in commit order. */
  readonly commits: StoreVerb[][];
  /** Fetch rounds (NeedRows answered) and keys fetched. */
  readonly fetches: { rounds: number; keys: number };
}

function recorded(opts: { rows: boolean; withhold?: (need: NeedRows) => boolean }): Recorded {
  const memory = MemoryStore.open();
  const commits: StoreVerb[][] = [];
  const fetches = { rounds: 0, keys: 0 };
  const base = {
    get reader() {
      return memory.reader;
    },
    commit(verbs: readonly StoreVerb[]) {
      commits.push([...verbs]);
      return memory.commit(verbs);
    },
    close: () => memory.close(),
  };
  const store: RowStore = opts.rows
    ? {
        ...base,
        get reader() {
          return memory.reader;
        },
        rows: {
          async fetch(need) {
            fetches.rounds++;
            fetches.keys += need.size;
            await Promise.resolve(); // an asynchronous round trip
            return opts.withhold?.(need) ? {} : rowsFromReader(memory.reader, need.keys);
          },
        },
      }
    : base;
  return { store, memory, commits, fetches };
}

/** Error lines an engine logged (a row miss swallowed as a failure would show here). */
type Errors = string[];

async function open(r: Recorded, clock = new ManualClock()): Promise<{ engine: Engine; clock: ManualClock; errors: Errors }> {
  const errors: Errors = [];
  const logger = { debug() {}, info() {}, warn() {}, error: (_o: object, msg: string) => void errors.push(msg) };
  const engine = await Engine.open({ store: r.store, clock, ids: sequentialIds(), random: seededRandom(7), autoTimers: false, logger });
  return { engine, clock, errors };
}

/** Comparable form of anything (bytes as arrays, errors as code + message). */
function plain(v: unknown): unknown {
  return JSON.parse(
    JSON.stringify(v, (_k, x: unknown) => {
      if (x instanceof Uint8Array) return Array.from(x);
      if (x instanceof Error) return { error: (x as { reason?: string }).reason ?? x.name, message: x.message };
      if (x === undefined) return null;
      return x;
    }),
  ) as unknown;
}

/**
 * A varied scenario: submit once / repeat / cron with dependencies and children, lease /
 * start / heartbeat / complete with every outcome, timers, cancel cascades, suspend / resume,
 * purge. Returns every reply (or error) in order.
 */
async function scenario(engine: Engine, clock: ManualClock): Promise<unknown[]> {
  const replies: unknown[] = [];
  const step = async <T,>(p: Promise<T>): Promise<T | undefined> => {
    try {
      const v = await p;
      replies.push(plain(v));
      return v;
    } catch (e) {
      replies.push(plain(e));
      return undefined;
    }
  };
  const retrying = (over: Partial<TaskSpec> = {}) =>
    spec({ ...over, constraints: { maxAttempts: 3, backoff: { kind: "EXPONENTIAL", baseMs: SEC, maxMs: MIN, jitter: true } } });
  const fixed = asTaskId("00000000-0000-7000-8f00-000000000001");

  // Submissions: once (generated id, then a fixed id twice: idempotent), repeat, cron,
  // a parent with a child and a dependent, several in one batch.
  await step(engine.submitTask(submission(retrying())));
  await Promise.all([
    step(engine.submitTask(submission(spec(), fixed))),
    step(engine.submitTask(submission(spec(), fixed))),
    step(engine.submitTask(submission(spec({ policy: { kind: "REPEAT", count: 3, intervalMs: 5 * SEC, startAt: null } })))),
    step(engine.submitTask(submission(spec({ policy: { kind: "CRON", expression: "* * * * *", timeZone: "UTC", maxOccurrences: 3, misfire: "CATCH_UP", startAt: null } })))),
  ]);
  const parent = (await step(engine.submitTask(submission(retrying()))))?.task.id as TaskId;
  const [child, dependent] = await Promise.all([
    step(engine.submitTask(submission(spec({ parentTaskId: parent })))),
    step(engine.submitTask(submission(spec({ dependsOn: [parent] })))),
  ]);
  const other = (await step(engine.submitTask(submission(retrying()))))?.task.id as TaskId;
  await step(engine.submitTasks([submission(spec()), submission(spec({ dependsOn: [other] })), submission(spec({ parentTaskId: other }))], { batch: true }));
  // An atomic batch that fails as a whole (its parent does not exist).
  await step(engine.submitTasks([submission(spec()), submission(spec({ parentTaskId: asTaskId("00000000-0000-7000-8f00-0000000000ff") }))], { batch: true }));

  // Workers: lease, start, heartbeat, complete with every outcome.
  const outcomes = ["SUCCESS", "TERMINAL_FAILURE", "RETRYABLE_FAILURE", "TIMEOUT", "SUSPENDED"] as const;
  let turn = 0;
  const work = async (grants: readonly LeaseGrant[]) => {
    const started = await Promise.all(grants.map((g) => step(engine.startAttempt(g.run.id, g.lease.token))));
    await step(engine.heartbeat(grants.map((g) => ({ runId: g.run.id, token: g.lease.token, extendByMs: null }))));
    const completions = grants.flatMap((g, i) => {
      const s = started[i];
      if (!s) return [];
      const outcome = outcomes[turn++ % outcomes.length] as (typeof outcomes)[number];
      return [{ runId: g.run.id, token: g.lease.token, attemptId: s.attempt.id, outcome, output: new Uint8Array([turn]), error: outcome === "SUCCESS" ? "" : "boom" }];
    });
    await step(engine.completeAttempts(completions));
  };
  for (let round = 0; round < 4; round++) {
    const [a, b] = await Promise.all([step(engine.leaseRuns(leaseRequest({ maxRuns: 3, workerId: "w1" }))), step(engine.leaseRuns(leaseRequest({ maxRuns: 2, workerId: "w2", startAttempt: true })))]);
    if (a) await work(a.grants);
    if (b) {
      // Already started: complete some, let one lapse.
      const [first, ...rest] = b.grants;
      if (first?.attempt) {
        await step(
          engine.completeAttempts([{ runId: first.run.id, token: first.lease.token, attemptId: first.attempt.id, outcome: outcomes[turn++ % 5] as "SUCCESS", output: new Uint8Array(), error: "x" }]),
        );
      }
      for (const g of rest) await step(engine.releaseLease(g.run.id, g.lease.token));
    }
    clock.advance(20 * SEC);
    await step(engine.tick());
    clock.advance(45 * SEC);
    await step(engine.tick());
  }

  // Lease and let it expire: lease timers fire.
  const held = await step(engine.leaseRuns(leaseRequest({ maxRuns: 2, leaseDurationMs: 5 * SEC, startAttempt: true })));
  clock.advance(6 * SEC);
  await step(engine.tick());
  // A lost lease and a missing run.
  const g0 = held?.grants[0];
  if (g0) await step(engine.heartbeat([{ runId: g0.run.id, token: g0.lease.token, extendByMs: 1_000 }]));
  await step(engine.cancelRun("00000000-0000-7000-8100-0000000000ff" as RunId));

  // Suspend / resume: a running run, suspended by the operator, then resumed.
  const s = await step(engine.leaseRuns(leaseRequest({ maxRuns: 1, startAttempt: true })));
  const sg = s?.grants[0];
  if (sg) {
    await step(engine.suspendRun(sg.run.id, "maintenance"));
    await step(engine.resumeRun(sg.run.id));
    // Running again, then canceled: its open attempt ends CANCELED.
    const again = await step(engine.leaseRuns(leaseRequest({ maxRuns: 1, startAttempt: true })));
    await step(engine.cancelRun(again?.grants[0]?.run.id ?? sg.run.id));
  }

  // Cancel cascades: the parent (child and dependent follow), the other one, twice.
  await Promise.all([step(engine.cancelTask(parent, "done here")), step(engine.cancelTask(other)), step(engine.cancelTask(parent))]);
  replies.push(plain([child?.task.id, dependent?.task.id].map((id) => (id ? engine.reader.getTask(id)?.status : null))));

  // Drain what is left, then purge past the retention, and resubmit a purged id.
  for (let round = 0; round < 3; round++) {
    const left = await step(engine.leaseRuns(leaseRequest({ maxRuns: 50, startAttempt: true })));
    if (left) {
      await step(
        engine.completeAttempts(
          left.grants.flatMap((g) => (g.attempt ? [{ runId: g.run.id, token: g.lease.token, attemptId: g.attempt.id, outcome: "SUCCESS" as const, output: new Uint8Array(), error: "" }] : [])),
        ),
      );
    }
    clock.advance(2 * MIN);
    await step(engine.tick());
  }
  clock.advance(8 * 24 * 60 * MIN);
  await step(engine.tick());
  await step(engine.purge());
  await step(engine.purge());
  await step(engine.submitTask(submission(spec(), fixed)));
  clock.advance(8 * 24 * 60 * MIN);
  await step(engine.purge());
  await step(engine.submitTask(submission(spec(), fixed)));
  return replies;
}

const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
});

describe("engine over a row cache that can miss", () => {
  it("commits the same verbs in the same order, and answers the same, as the engine reading the store", async () => {
    const direct = recorded({ rows: false });
    const cached = recorded({ rows: true });
    const a = await open(direct);
    const b = await open(cached);
    engines.push(a.engine, b.engine);
    const repliesDirect = await scenario(a.engine, a.clock);
    const repliesCached = await scenario(b.engine, b.clock);

    expect(repliesCached).toEqual(repliesDirect);
    // Timers and misfire handling pass a row miss on instead of logging it as a failure.
    expect(b.errors).toEqual(a.errors);
    expect(cached.commits.length).toBe(direct.commits.length);
    const names = (c: StoreVerb[][]) => c.map((verbs) => verbs.map((v) => v.verb));
    expect(names(cached.commits)).toEqual(names(direct.commits));
    for (let i = 0; i < direct.commits.length; i++) expect(plain(cached.commits[i]), `commit ${i}`).toEqual(plain(direct.commits[i]));
    // The cache really started empty: every row came through NeedRows + fetch.
    expect(cached.fetches.rounds).toBeGreaterThan(0);
    expect(direct.fetches.rounds).toBe(0);

    const verbs = direct.commits.reduce((n, c) => n + c.length, 0);
    const kinds = new Set(direct.commits.flat().map((v) => v.verb));
    // Every verb that decides on a read shows up in the scenario.
    for (const k of ["createTask", "updateTask", "createRun", "updateRun", "saveMeta", "purgeRun", "purgeTask", "purgeEvents"]) expect(kinds, k).toContain(k);
    const outcomes = new Set(direct.commits.flat().flatMap((v) => (v.verb === "updateRun" && v.attempt?.outcome ? [v.attempt.outcome] : [])));
    expect([...outcomes].sort()).toEqual(["CANCELED", "RETRYABLE_FAILURE", "SUCCESS", "SUSPENDED", "TERMINAL_FAILURE", "TIMEOUT"]);
    console.log(
      `row cache proof: ${direct.commits.length} commits, ${verbs} verbs compared (${[...kinds].join(", ")}); ` +
        `${repliesDirect.length} replies; ${cached.fetches.rounds} NeedRows rounds fetching ${cached.fetches.keys} keys`,
    );
  });

  it("a command that fetched rows and then fails for a real reason ends with that error and leaves nothing", async () => {
    const r = recorded({ rows: true });
    const { engine } = await open(r);
    engines.push(engine);
    const parent = (await engine.submitTask(submission(spec()))).task;
    const commits = r.commits.length;
    const rounds = r.fetches.rounds;
    const revision = engine.revision;
    await expect(engine.cancelRun("00000000-0000-7000-8100-0000000000ff" as RunId)).rejects.toMatchObject({ reason: "RUN_NOT_FOUND" });
    expect(r.fetches.rounds).toBeGreaterThan(rounds);
    // An atomic batch: the first task (a child) is decided after fetching its parent, and
    // changes the parent; the second fetches its parent too, finds none, and fails them both.
    const before = r.fetches.rounds;
    const missing = asTaskId("00000000-0000-7000-8f00-0000000000ee");
    const items = [submission(spec({ parentTaskId: parent.id })), submission(spec({ parentTaskId: missing }))];
    await expect(engine.submitTasks(items, { batch: true })).rejects.toMatchObject({
      reason: expect.stringMatching(/NOT_FOUND|INVALID_ARGUMENT|FAILED_PRECONDITION/) as unknown,
    });
    expect(r.fetches.rounds).toBeGreaterThan(before + 1);
    expect(r.commits.length).toBe(commits);
    expect(engine.revision).toBe(revision);
    expect(r.memory.reader.taskCount()).toBe(1);
    expect(r.memory.reader.getTask(parent.id)).toEqual(parent);
  });

  it("a fetcher that never supplies a row ends that command with INTERNAL; the rest of the batch commits", async () => {
    const poison = asTaskId("00000000-0000-7000-8f00-00000000dead");
    const r = recorded({ rows: true, withhold: (need) => need.keys.tasks.includes(poison) });
    const { engine } = await open(r);
    engines.push(engine);
    const first = engine.submitTask(submission(spec())); // runs alone; the next three share a batch
    const [before, canceled, after] = await Promise.allSettled([
      engine.submitTask(submission(spec())),
      engine.cancelTask(poison),
      engine.submitTask(submission(spec())),
    ]);
    await first;
    expect(before.status).toBe("fulfilled");
    expect(after.status).toBe("fulfilled");
    expect(canceled.status).toBe("rejected");
    const error = (canceled as PromiseRejectedResult).reason as { reason: string; message: string };
    expect(error.reason).toBe("INTERNAL");
    expect(error.message).toContain("cancelTask");
    expect(error.message).toContain(`after ${MAX_STUCK_ROUNDS} fetch rounds`);
    expect(r.commits).toHaveLength(2);
    expect(r.commits[1]?.filter((v) => v.verb === "createTask")).toHaveLength(2);
    expect(r.memory.reader.taskCount()).toBe(3);
  });
});
