/**
 * Crash tests with several servers on one PostgreSQL database (docs/scaling.md "Several
 * servers on one PostgreSQL"): three server processes under mixed load — submitters, workers
 * and watchers, all in this process (test/support/pg-crash-load.ts) — while the test SIGKILLs
 * servers at random and starts new ones on the same database; in the second test it also
 * stops the database itself (fast shutdown) and starts it again. Then, with fresh reads from
 * the servers and straight from the database:
 *  - no acknowledged submit is lost (its task and runs are stored), and every run, acknowledged
 *    or not, was completed in the end (the servers recovered by themselves);
 *  - no run was handed out again after a completion of it was acknowledged, and a completion
 *    with a stale token (an acknowledged one, sent again) is refused;
 *  - no concurrency key went over its slots (sampled from the database during the load, and
 *    replayed from the event log and from what the watchers received);
 *  - the watchers, resuming on another server from their last revision + 1 whenever theirs
 *    died, received every revision from 1 to the final one exactly once, each event as stored;
 *  - no server exited unless the test killed it;
 *  - while the database was down every live server answered UNAVAILABLE (STORAGE_IO), and
 *    after it came back each answered again without being restarted.
 * Skipped, saying why, when PostgreSQL is not installed. AQ_CRASH_SEED picks another sequence
 * of kills (the seed is printed with each test's summary).
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AttemptOutcome } from "../../clients/typescript/src/index.js";
import { HAVE_POSTGRES, type PostgresCluster, startPostgres, warnWithoutPostgres } from "../support/postgres.js";
import { FREE_QUEUE, Fleet, KEYED_QUEUES, KEY_SLOTS, Load, type Member, describeError, prng, reasonOf } from "../support/pg-crash-load.js";

warnWithoutPostgres("postgres-crash.test.ts");

const SEED = Number(process.env.AQ_CRASH_SEED ?? 20_240_613);
const SERVERS = 3;

let cluster: PostgresCluster | undefined;
const pools: pg.Pool[] = [];
const fleets: Fleet[] = [];
const loads: Load[] = [];

if (HAVE_POSTGRES) {
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 180_000);
  afterAll(async () => {
    for (const l of loads) {
      l.submitting = false;
      l.working = false;
      l.abortWatches();
      await within(l.settled(), 20_000, () => "the load did not end").catch(() => undefined);
    }
    for (const f of fleets) await f.stopAll();
    for (const p of pools) await p.end().catch(() => undefined);
    await cluster?.stop();
  }, 60_000);
}

/** A scenario: kill rounds, the one that kills two servers at once, and after which round the database restarts. */
interface Plan {
  readonly database: string;
  readonly seed: number;
  readonly rounds: number;
  readonly doubleKillRound: number | null;
  readonly restartDatabaseAfterRound: number | null;
}

/** What the database restart saw. */
interface DbRestart {
  /** Answers UNAVAILABLE with reason STORAGE_IO while the database was down (3 calls per live server). */
  unavailable: number;
  otherAnswers: string[];
  downMs: number;
  /** From the database's start until every server answered a submit and a read. */
  recoveryMs: number;
}

/** `p`, or a rejection naming `what()` after `ms` (the timer cleared either way). */
async function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what())), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Samples every concurrency key's holders and LEASED/RUNNING runs (one snapshot per query) until stopped. */
function sampleKeys(db: pg.Pool): { peaks: Map<string, { holders: number; active: number }>; samples: () => number; stop: () => Promise<void> } {
  const peaks = new Map<string, { holders: number; active: number }>();
  let samples = 0;
  let going = true;
  const loop = (async () => {
    while (going) {
      try {
        const { rows } = await db.query<{ key: string; holders: number; active: number }>(
          `SELECT k.key,
                  (SELECT count(*)::int FROM key_holders h WHERE h.key = k.key) AS holders,
                  (SELECT count(*)::int FROM runs r WHERE r.concurrency_key = k.key AND r.state IN ('LEASED', 'RUNNING')) AS active
             FROM concurrency_keys k`,
        );
        samples++;
        for (const r of rows) {
          const p = peaks.get(r.key) ?? { holders: 0, active: 0 };
          peaks.set(r.key, { holders: Math.max(p.holders, r.holders), active: Math.max(p.active, r.active) });
        }
      } catch {
        // The database is down (its restart): the next sample comes after it.
      }
      await sleep(100);
    }
  })();
  return {
    peaks,
    samples: () => samples,
    stop: async () => {
      going = false;
      await loop;
    },
  };
}

/** The most LEASED/RUNNING runs of each key at once, replaying `events` in order. */
function keyPeaksOf(events: readonly { runId: string; queue: string; to: string }[]): Map<string, number> {
  const active = new Map<string, Set<string>>();
  const peaks = new Map<string, number>();
  for (const e of events) {
    const key = KEYED_QUEUES[e.queue as keyof typeof KEYED_QUEUES];
    if (!key) continue;
    const set = active.get(key) ?? new Set<string>();
    active.set(key, set);
    if (e.to === "LEASED" || e.to === "RUNNING") set.add(e.runId);
    else set.delete(e.runId);
    peaks.set(key, Math.max(peaks.get(key) ?? 0, set.size));
  }
  return peaks;
}

/**
 * Stops the database (fast shutdown) and, while it is down, calls every live server — a
 * submit, a read, the stats — counting the answers UNAVAILABLE with reason STORAGE_IO (a
 * server that died answers nothing: its refused connection is not counted); then starts the
 * database again and polls each server (a submit and a read) until it answers, within 30 s.
 */
async function restartDatabase(f: Fleet, l: Load, runId: string): Promise<DbRestart> {
  let unavailable = 0;
  const otherAnswers: string[] = [];
  const submit = (m: Member) =>
    m.json.tasks.submitTask({ taskId: randomUUID(), spec: { queue: FREE_QUEUE, payload: { data: new Uint8Array([1]) }, constraints: { maxAttempts: 20 } } }, { timeoutMs: 15_000 });
  const calls: [string, (m: Member) => Promise<unknown>][] = [
    ["submitTask", submit],
    ["getRun", (m) => m.grpc.runs.getRun({ runId }, { timeoutMs: 15_000 })],
    ["getStats", (m) => m.json.admin.getStats({}, { timeoutMs: 15_000 })],
  ];
  const stoppedAt = Date.now();
  let up = 0;
  await (cluster as PostgresCluster).restart("fast", async () => {
    for (const m of [...f.live]) {
      for (const [name, call] of calls) {
        const e = await call(m).then(
          () => null,
          (x: unknown) => x,
        );
        if (m.alive && e instanceof ConnectError && e.code === Code.Unavailable && reasonOf(e) === "STORAGE_IO") unavailable++;
        else otherAnswers.push(`server ${m.n} ${name}: ${e === null ? "answered" : describeError(e)}${m.alive ? "" : " (the server had exited)"}`);
      }
    }
    up = Date.now();
  });
  for (const m of [...f.live]) {
    for (;;) {
      if (!m.alive) throw new Error(`a server exited across the database restart:\n${f.exits.join("\n")}`);
      try {
        l.recordSubmit(await submit(m));
        await m.grpc.runs.getRun({ runId }, { timeoutMs: 15_000 });
        break;
      } catch (e) {
        if (Date.now() > up + 30_000) throw new Error(`server ${m.n} still fails 30 s after the database came back: ${describeError(e)}`, { cause: e });
        await sleep(100);
      }
    }
  }
  return { unavailable, otherAnswers, downMs: up - stoppedAt, recoveryMs: Date.now() - up };
}

/** Runs `plan` on a new database, then checks everything; returns the summary printed by the test. */
async function runScenario(plan: Plan): Promise<Record<string, unknown>> {
  const started = Date.now();
  const url = await (cluster as PostgresCluster).createDatabase(plan.database);
  const db = new pg.Pool({ connectionString: url, max: 2 });
  pools.push(db);
  db.on("error", () => undefined);
  const rowsOf = async <R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<R[]> => (await db.query<R>(sql, values)).rows;
  const random = prng(plan.seed);
  const f = new Fleet(url, random);
  fleets.push(f);
  for (let i = 0; i < SERVERS; i++) await f.start();
  const l = new Load(f, random);
  loads.push(l);
  const keys = sampleKeys(db);
  l.start(3, 4, 2);

  // Kill rounds: a moment of load, SIGKILL a random server (or two at once), a moment of
  // load on the survivors, a new server on the same database.
  let dbRestart: DbRestart | undefined;
  for (let round = 0; round < plan.rounds; round++) {
    await sleep(500 + random() * 700);
    if (f.exits.length > 0) throw new Error(`servers exited during the load:\n${f.exits.join("\n")}`);
    const first = f.pick();
    const victims = round === plan.doubleKillRound ? [first, f.pick(first)] : [first];
    await Promise.all(victims.map((v) => f.kill(v)));
    await sleep(200 + random() * 500);
    for (const _ of victims) await f.start();
    if (round === plan.restartDatabaseAfterRound) {
      await sleep(500);
      const runId = [...l.acked.values()][0]?.runIds[0];
      if (!runId) throw new Error("nothing was acknowledged before the database restart");
      dbRestart = await restartDatabase(f, l, runId);
    }
  }

  // The end of the load: no more submits; the workers complete every run there is (a grant
  // lost with its server comes back when its lease lapses); then the watchers catch up.
  await l.stopSubmitting();
  const deadline = Date.now() + 45_000;
  for (;;) {
    const left = await rowsOf<{ state: string; n: number }>("SELECT state, count(*)::int AS n FROM runs WHERE state <> 'COMPLETED' GROUP BY state");
    if (left.length === 0) break;
    if (Date.now() > deadline) throw new Error(`runs not completed 45 s after the load stopped: ${JSON.stringify(left)}; ${f.exits.join("\n")}`);
    await sleep(200);
  }
  await l.stopWorking();
  const [{ value: finalRevision } = { value: 0 }] = await rowsOf<{ value: number }>("SELECT value::int AS value FROM revision");
  for (const m of f.live) expect(Number((await m.json.admin.getStats({})).revision), `server ${m.n}'s revision`).toBe(finalRevision);
  l.watchUntil = finalRevision;
  await within(l.settled(), 30_000, () => `watchers did not reach revision ${finalRevision} within 30 s: at ${l.watchers.map((w) => w.last).join(", ")}`);
  await keys.stop();
  expect(f.exits).toEqual([]);
  expect(l.unexpected).toEqual([]);
  if (plan.restartDatabaseAfterRound !== null) {
    expect(dbRestart?.otherAnswers).toEqual([]);
    expect(dbRestart?.unavailable).toBe(3 * SERVERS);
  }

  // No acknowledged submit lost; every run completed.
  const tasks = new Set((await rowsOf<{ id: string }>("SELECT id::text AS id FROM tasks")).map((r) => r.id));
  const runs = new Map((await rowsOf<{ id: string; task_id: string; state: string }>("SELECT id::text AS id, task_id::text AS task_id, state FROM runs")).map((r) => [r.id, r]));
  const lost: string[] = [];
  for (const [taskId, sub] of l.acked) {
    if (!tasks.has(taskId)) lost.push(`task ${taskId}`);
    if (sub.runIds.length === 0) lost.push(`task ${taskId} acknowledged without runs`);
    for (const runId of sub.runIds) if (runs.get(runId)?.task_id !== taskId) lost.push(`run ${runId} of task ${taskId}`);
  }
  expect(lost).toEqual([]);
  expect([...runs.values()].filter((r) => r.state !== "COMPLETED")).toEqual([]);
  for (const taskId of [...l.acked.keys()].slice(0, 30)) expect((await f.pick().json.tasks.getTask({ taskId })).task?.id).toBe(taskId);

  // No run handed out again once a completion of it was acknowledged; one success per run,
  // the one acknowledged.
  expect(l.grants.filter((g) => (l.completions.get(g.runId)?.seq ?? Infinity) < g.seq)).toEqual([]);
  expect(new Set(l.grants.map((g) => g.token)).size).toBe(l.grants.length);
  const events = await rowsOf<{ revision: number; run_id: string; queue: string; to: string }>(
    "SELECT revision::int AS revision, record->>'runId' AS run_id, record->>'queue' AS queue, record->>'to' AS to FROM events ORDER BY revision",
  );
  const completedAt = new Map<string, number>();
  const afterCompletion: string[] = [];
  for (const e of events) {
    if (completedAt.has(e.run_id)) afterCompletion.push(`run ${e.run_id}: ${e.to} at ${e.revision} after COMPLETED at ${completedAt.get(e.run_id)}`);
    if (e.to === "COMPLETED") completedAt.set(e.run_id, e.revision);
  }
  expect(afterCompletion).toEqual([]);
  const successes = await rowsOf<{ run_id: string; n: number; attempt_id: string }>(
    "SELECT run_id::text AS run_id, count(*)::int AS n, min(record->>'id') AS attempt_id FROM attempts WHERE record->>'outcome' = 'SUCCESS' GROUP BY run_id",
  );
  expect(successes.filter((s) => s.n !== 1)).toEqual([]);
  const successOf = new Map(successes.map((s) => [s.run_id, s.attempt_id]));
  expect([...l.completions.values()].filter((c) => successOf.get(c.runId) !== c.attemptId)).toEqual([]);

  // Stale completions: refused during the load, and again now on every server, changing nothing.
  expect(l.staleAccepted).toEqual([]);
  const staleAtEnd = new Map<string, number>();
  for (const [i, c] of [...l.completions.values()].slice(0, 20).entries()) {
    const m = f.live[i % f.live.length] as Member;
    const e = await m.grpc.workers.completeAttempt({ runId: c.runId, leaseToken: c.token, attemptId: c.attemptId, outcome: AttemptOutcome.SUCCESS }).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e, `stale completion of ${c.runId} on server ${m.n}`).toBeInstanceOf(ConnectError);
    expect((e as ConnectError).code, describeError(e)).toBe(Code.FailedPrecondition);
    const why = reasonOf(e as ConnectError);
    staleAtEnd.set(why, (staleAtEnd.get(why) ?? 0) + 1);
  }
  const [{ n: successesAfter } = { n: -1 }] = await rowsOf<{ n: number }>("SELECT count(*)::int AS n FROM attempts WHERE record->>'outcome' = 'SUCCESS'");
  expect(successesAfter).toBe(successes.length);
  expect(await rowsOf("SELECT id FROM runs WHERE state <> 'COMPLETED'")).toEqual([]);

  // No key over its slots: sampled during the load, replayed from the log and from each
  // watcher; no holder left to a finished run.
  for (const [key, p] of keys.peaks) {
    expect(p.holders, `holders of ${key}`).toBeLessThanOrEqual(KEY_SLOTS);
    expect(p.active, `active runs of ${key}`).toBeLessThanOrEqual(KEY_SLOTS);
  }
  for (const [key, n] of keyPeaksOf(events.map((e) => ({ runId: e.run_id, queue: e.queue, to: e.to })))) expect(n, `key ${key} in the event log`).toBeLessThanOrEqual(KEY_SLOTS);
  for (const w of l.watchers) for (const [key, n] of keyPeaksOf(w.events)) expect(n, `key ${key} seen by watcher ${w.index}`).toBeLessThanOrEqual(KEY_SLOTS);
  expect(await rowsOf("SELECT key, count(*)::int AS n FROM key_holders GROUP BY key HAVING count(*) > $1", [KEY_SLOTS])).toEqual([]);
  expect(await rowsOf("SELECT h.key, h.run_id::text FROM key_holders h JOIN runs r ON r.id = h.run_id WHERE r.state IN ('COMPLETED', 'FAILED', 'CANCELED')")).toEqual([]);

  // Watches: every revision 1..N exactly once per watcher, each event as stored.
  expect(events.map((e) => e.revision)).toEqual(Array.from({ length: finalRevision }, (_, i) => i + 1));
  for (const w of l.watchers) {
    expect(w.problems, `watcher ${w.index}`).toEqual([]);
    expect(w.events.map((e) => e.revision), `watcher ${w.index}'s revisions`).toEqual(events.map((e) => e.revision));
    const differ = w.events.filter((e, i) => e.runId !== events[i]?.run_id || e.to !== events[i]?.to);
    expect(differ, `watcher ${w.index}'s events against the log`).toEqual([]);
  }

  const errorLines = f.all.flatMap((m) => m.server.logs.filter((line) => /"level":(50|60)/.test(line)).map((line) => `server ${m.n}: ${line}`));
  if (errorLines.length > 0) console.log(errorLines.slice(0, 10).join("\n"));
  return {
    seed: plan.seed,
    servers_started: f.all.length,
    kills: f.kills,
    acked_tasks: l.acked.size,
    runs: runs.size,
    grants: l.grants.length,
    acked_completions: l.completions.size,
    completions_refused_first_try: l.refusedCompletions,
    completions_refused_after_retry: l.ambiguousCompletions,
    stale_refused_during_load: Object.fromEntries(l.staleRefused),
    stale_refused_at_end: Object.fromEntries(staleAtEnd),
    calls_retried_elsewhere: l.retried,
    final_revision: finalRevision,
    events_watched: l.watchers.map((w) => w.events.length),
    watch_resumes: l.watchers.map((w) => w.resumes),
    key_samples: keys.samples(),
    key_peaks: Object.fromEntries(keys.peaks),
    db_restart: dbRestart,
    error_log_lines: errorLines.length,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
}

describe.skipIf(!HAVE_POSTGRES)("several servers on one PostgreSQL, killed at random", () => {
  it("kill -9 at random under load: no acknowledged write lost, no completed run handed out, keys within slots, watches gap-free", { timeout: 150_000 }, async () => {
    const summary = await runScenario({ database: "crash_kills", seed: SEED, rounds: 7, doubleKillRound: 4, restartDatabaseAfterRound: null });
    console.log("postgres-crash kills", JSON.stringify(summary));
  });

  it("a fast restart of the database under load: every server answers UNAVAILABLE meanwhile and recovers by itself", { timeout: 150_000 }, async () => {
    const summary = await runScenario({ database: "crash_db_restart", seed: SEED + 1, rounds: 3, doubleKillRound: null, restartDatabaseAfterRound: 0 });
    console.log("postgres-crash database restart", JSON.stringify(summary));
  });
});
