/**
 * Crash tests with several servers on one PostgreSQL database (docs/scaling.md "Several
 * servers on one PostgreSQL"), with concurrent commits (the default) and, in a second kill -9
 * test, serial ones: three server processes under mixed load — submitters, workers
 * and watchers, all in this process (test/support/pg-crash-load.ts) — while the test SIGKILLs
 * servers at random and starts new ones on the same database; in the second test it also
 * stops the database itself (fast shutdown) and starts it again. Abandoning workers let every
 * lease they get lapse. Then, with fresh reads from the servers and straight from the database:
 *  - no acknowledged submit is lost (its task and runs are stored), and every run, acknowledged
 *    or not, was completed in the end (the servers recovered by themselves) — but a run of
 *    LAPSE_QUEUE whose 2 attempts both lapsed, which ended FAILED (reason LEASE_EXPIRED);
 *  - every abandoned lease lapsed exactly once (one transition out of the grant's event, by
 *    LEASE_EXPIRED, although every server's timer fires for it), then its run was handed out
 *    again or had no attempt left; its token, sent again, was refused (LEASE_LOST) both during
 *    the load (mostly before the run completed) and at the end; each run's events chain up;
 *  - no run was handed out again after a completion of it was acknowledged, and a completion
 *    with a stale token (an acknowledged one, sent again) is refused;
 *  - a worker's completion was refused only when its lease had ended (or, after a retry, when
 *    the first try had been applied): never by a server deciding on a view that lacked the grant;
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
import { FREE_QUEUE, Fleet, KEYED_QUEUES, KEY_SLOTS, LAPSE_MAX_ATTEMPTS, LAPSE_QUEUE, Load, type Member, describeError, prng, reasonOf, sendLapsed } from "../support/pg-crash-load.js";

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
  /** Abandoning workers (test/support/pg-crash-load.ts). */
  readonly abandoners: number;
  /** The servers' --postgres-commits; unset: the server's default (or ACTIONQUEUE_POSTGRES_COMMITS). */
  readonly commits?: "serial" | "concurrent";
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

/** An event as stored; `from`, `attempt_id` and `outcome` null where the record has none. */
interface Ev {
  revision: number;
  type: string;
  run_id: string;
  queue: string;
  from: string | null;
  to: string;
  reason: string;
  at: number;
  attempt_id: string | null;
  outcome: string | null;
}

/**
 * Every completion refused by a live server, against the grant and the log: LEASE_LOST, and
 * its lease had ended when the refusal arrived (workers never heartbeat) and its attempt then
 * timed out (LEASE_EXPIRED or ATTEMPT_TIMEOUT); or, refused after a retry, its attempt
 * succeeded (the first try was applied by the server that died under it). Anything else is a
 * server that decided on a view lacking the grant (a run it did not hold, a lease it had not
 * seen). Lease expiries are the servers' clock, the refusal's this process's: one machine.
 */
function unexplainedRefusals(l: Load, events: readonly Ev[]): string[] {
  const ended = new Map<string, Ev>();
  for (const e of events) if (e.attempt_id && e.outcome) ended.set(e.attempt_id, e);
  const problems: string[] = [];
  for (const c of l.refusedCompletions) {
    const end = ended.get(c.attemptId);
    const lapsed = (c.expiresAt ?? Infinity) <= c.refusedAt && end?.outcome === "TIMEOUT" && (end.reason === "LEASE_EXPIRED" || end.reason === "ATTEMPT_TIMEOUT");
    const appliedBefore = c.afterRetry && end?.outcome === "SUCCESS";
    if (c.reason !== "LEASE_LOST" || !(lapsed || appliedBefore)) {
      const lease = `lease until ${c.expiresAt ?? "?"}, refused at ${c.refusedAt}`;
      problems.push(`completion of run ${c.runId} refused (${c.reason}${c.afterRetry ? ", after a retry" : ""}; ${lease}); its attempt ended ${JSON.stringify(end ?? null)}`);
    }
  }
  return problems;
}

/**
 * Every abandoned grant against the log: its grant's event (LEASED, or RUNNING with its
 * attempt) is followed, before the run's next LEASED, by exactly one transition out of it —
 * its lapse, not before the lease's expiry: LEASED -> READY, or the attempt TIMEOUT (-> FAILED
 * when it was the last the task allows), reason LEASE_EXPIRED; then the run was handed out
 * again (with another token: the run's last one differs) unless that lapse failed it. Also:
 * each run's transitions chain up (`from` is its previous state); no attempt finished twice.
 */
function checkLapses(l: Load, events: readonly Ev[], lastToken: ReadonlyMap<string, string>) {
  const problems: string[] = [];
  const byRun = new Map<string, Ev[]>();
  const finishing = new Map<string, number>();
  for (const e of events) {
    const list = byRun.get(e.run_id) ?? [];
    const prev = list.at(-1);
    if (e.type === "TRANSITION" && prev?.to !== e.from) problems.push(`run ${e.run_id}: ${e.from} -> ${e.to} at ${e.revision} after ${prev?.to} at ${prev?.revision}`);
    if (e.type !== "PRIORITY_CHANGED") list.push(e);
    byRun.set(e.run_id, list);
    if (e.attempt_id && e.outcome) finishing.set(e.attempt_id, (finishing.get(e.attempt_id) ?? 0) + 1);
  }
  for (const [id, n] of finishing) if (n !== 1) problems.push(`attempt ${id} finished by ${n} events`);
  const lastGrant = new Map<string, number>();
  for (const g of [...l.grants, ...l.abandoned]) lastGrant.set(g.runId, Math.max(lastGrant.get(g.runId) ?? 0, g.seq));
  let lapses = 0;
  let regranted = 0;
  let regrantsAcked = 0;
  let exhausted = 0;
  for (const a of l.abandoned) {
    const evs = byRun.get(a.runId) ?? [];
    const i = evs.findIndex((e) => e.revision === a.revision);
    const own = evs[i];
    const what = `abandoned grant of run ${a.runId} at ${a.revision}`;
    if (!own || own.to !== (a.attemptId ? "RUNNING" : "LEASED") || (a.attemptId !== "" && own.attempt_id !== a.attemptId)) {
      problems.push(`${what}: its event is ${JSON.stringify(own)}`);
      continue;
    }
    const next = evs.findIndex((e, j) => j > i && e.to === "LEASED");
    const out = evs.slice(i + 1, next < 0 ? evs.length : next).filter((e) => e.from === own.to);
    const lapse = out[0];
    const byTimer = a.attemptId
      ? lapse?.attempt_id === a.attemptId && lapse.outcome === "TIMEOUT" && lapse.reason === "LEASE_EXPIRED"
      : lapse?.to === "READY" && lapse.reason === "LEASE_EXPIRED";
    if (out.length !== 1 || !lapse || !byTimer || lapse.at < a.expiresAt) {
      problems.push(`${what} (lease until ${a.expiresAt}): left by ${JSON.stringify(out)}`);
      continue;
    }
    lapses++;
    if (next >= 0) {
      regranted++;
      if (lastToken.get(a.runId) === a.token) problems.push(`${what}: handed out again, but the run's last token is still the abandoned one`);
      if ((lastGrant.get(a.runId) ?? 0) > a.seq) regrantsAcked++;
    } else if (lapse.to === "FAILED") exhausted++;
    else problems.push(`${what}: never handed out again after its lapse at ${lapse.revision}`);
  }
  return { problems, lapses, regranted, regrantsAcked, exhausted };
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
  const f = new Fleet(url, random, plan.commits ? ["--postgres-commits", plan.commits] : []);
  fleets.push(f);
  for (let i = 0; i < SERVERS; i++) await f.start();
  const l = new Load(f, random);
  loads.push(l);
  // A run still LEASED/RUNNING under the lapsed token: expired, its timer not applied yet.
  l.stateInDb = async (id, token) => {
    const [r] = await rowsOf<{ state: string; token: string }>("SELECT state, record->>'lastLeaseToken' AS token FROM runs WHERE id = $1", [id]);
    return r && (r.state === "LEASED" || r.state === "RUNNING") && r.token === token ? `${r.state} (its lapsed lease)` : r?.state;
  };
  const keys = sampleKeys(db);
  l.start(3, 4, 2, plan.abandoners);

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

  // The end of the load: no more submits nor abandoned grants; the workers complete every run
  // there is (a grant lost with its server or abandoned comes back when its lease lapses) but
  // those of LAPSE_QUEUE that ran out of attempts; then the watchers catch up.
  await l.stopSubmitting();
  await l.stopAbandoning();
  const deadline = Date.now() + 45_000;
  for (;;) {
    const left = await rowsOf<{ state: string; n: number }>(
      "SELECT state, count(*)::int AS n FROM runs WHERE state <> 'COMPLETED' AND NOT (state = 'FAILED' AND queue = $1) GROUP BY state",
      [LAPSE_QUEUE],
    );
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

  // No acknowledged submit lost; every run completed, but runs of LAPSE_QUEUE whose every
  // attempt lapsed: FAILED, for the reason of the last lapse (LEASE_EXPIRED).
  const tasks = new Set((await rowsOf<{ id: string }>("SELECT id::text AS id FROM tasks")).map((r) => r.id));
  type RunRow = { id: string; task_id: string; state: string; queue: string; reason: string; last_token: string };
  const runRows = await rowsOf<RunRow>("SELECT id::text AS id, task_id::text AS task_id, state, queue, record->>'stateReason' AS reason, record->>'lastLeaseToken' AS last_token FROM runs");
  const runs = new Map(runRows.map((r) => [r.id, r]));
  const lost: string[] = [];
  for (const [taskId, sub] of l.acked) {
    if (!tasks.has(taskId)) lost.push(`task ${taskId}`);
    if (sub.runIds.length === 0) lost.push(`task ${taskId} acknowledged without runs`);
    for (const runId of sub.runIds) if (runs.get(runId)?.task_id !== taskId) lost.push(`run ${runId} of task ${taskId}`);
  }
  expect(lost).toEqual([]);
  const failed = [...runs.values()].filter((r) => r.state !== "COMPLETED");
  const failedAttempts = await rowsOf<{ run_id: string; outcome: string; error: string }>(
    "SELECT run_id::text AS run_id, record->>'outcome' AS outcome, record->>'error' AS error FROM attempts WHERE run_id = ANY($1::uuid[])",
    [failed.map((r) => r.id)],
  );
  const lapsedOnly = (id: string) => {
    const of = failedAttempts.filter((x) => x.run_id === id);
    return of.length === LAPSE_MAX_ATTEMPTS && of.every((x) => x.outcome === "TIMEOUT" && x.error.startsWith("lease expired"));
  };
  expect(failed.filter((r) => r.queue !== LAPSE_QUEUE || r.state !== "FAILED" || r.reason !== "LEASE_EXPIRED" || !lapsedOnly(r.id))).toEqual([]);
  for (const taskId of [...l.acked.keys()].slice(0, 30)) expect((await f.pick().json.tasks.getTask({ taskId })).task?.id).toBe(taskId);

  // No run handed out again once a completion of it was acknowledged (by a worker or an
  // abandoning one); one success per run, the one acknowledged.
  const allGrants = [...l.grants, ...l.abandoned];
  expect(allGrants.filter((g) => (l.completions.get(g.runId)?.seq ?? Infinity) < g.seq)).toEqual([]);
  expect(new Set(allGrants.map((g) => g.token)).size).toBe(allGrants.length);
  const events = await rowsOf<Ev>(
    `SELECT revision::int AS revision, record->>'type' AS type, record->>'runId' AS run_id, record->>'queue' AS queue, record->>'from' AS "from",
            record->>'to' AS to, record->>'reason' AS reason, (record->>'at')::float8 AS at, record->'attempt'->>'id' AS attempt_id,
            record->'attempt'->>'outcome' AS outcome
       FROM events ORDER BY revision`,
  );
  const completedAt = new Map<string, number>();
  const afterCompletion: string[] = [];
  for (const e of events) {
    if (completedAt.has(e.run_id)) afterCompletion.push(`run ${e.run_id}: ${e.to} at ${e.revision} after COMPLETED at ${completedAt.get(e.run_id)}`);
    if (e.to === "COMPLETED") completedAt.set(e.run_id, e.revision);
  }
  expect(afterCompletion).toEqual([]);
  expect(unexplainedRefusals(l, events)).toEqual([]);

  // Abandoned leases: each lapsed once, by its timer, then its run was handed out again or
  // failed; their tokens were refused while the load went on (at least once on a run not
  // completed yet) and are again now, on every server.
  const lapses = checkLapses(l, events, new Map([...runs.values()].map((r) => [r.id, r.last_token])));
  expect(lapses.problems.slice(0, 10)).toEqual([]);
  expect(l.abandoned.length > 0 || plan.abandoners === 0, "abandoned grants").toBe(true);
  expect([...l.lapsedRefused.keys()].filter((k) => k !== "FailedPrecondition/LEASE_LOST")).toEqual([]);
  expect(l.lapsedRefused.get("FailedPrecondition/LEASE_LOST") ?? 0, "lapsed tokens refused during the load").toBe(l.abandoned.length);
  const refusedNotCompleted = [...l.lapsedRefusedWhile].reduce((n, [state, k]) => (state === "COMPLETED" || state === "unknown" ? n : n + k), 0);
  if (plan.abandoners > 0) expect(refusedNotCompleted, "lapsed tokens refused on a run not completed").toBeGreaterThan(0);
  const lapsedAtEnd = new Map<string, number>();
  await Promise.all(
    l.abandoned.map(async (a, i) => {
      const m = f.live[i % f.live.length] as Member;
      const e: unknown = await sendLapsed(m, a).then(() => null, (x: unknown) => x);
      const why = e instanceof ConnectError ? `${Code[e.code]}/${reasonOf(e)}` : `accepted on server ${m.n}: run ${a.runId}`;
      lapsedAtEnd.set(why, (lapsedAtEnd.get(why) ?? 0) + 1);
    }),
  );
  expect([...lapsedAtEnd.keys()].filter((k) => k !== "FailedPrecondition/LEASE_LOST")).toEqual([]);
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
  const failedAfter = await rowsOf<{ id: string }>("SELECT id::text AS id FROM runs WHERE state <> 'COMPLETED'");
  expect(failedAfter.map((r) => r.id).sort()).toEqual(failed.map((r) => r.id).sort());

  // No key over its slots: sampled during the load, replayed from the log and from each
  // watcher; no holder left to a finished run.
  for (const [key, p] of keys.peaks) {
    expect(p.holders, `holders of ${key}`).toBeLessThanOrEqual(KEY_SLOTS);
    expect(p.active, `active runs of ${key}`).toBeLessThanOrEqual(KEY_SLOTS);
  }
  for (const [key, n] of keyPeaksOf(events.map((e) => ({ runId: e.run_id, queue: e.queue, to: e.to })))) expect(n, `key ${key} in the event log`).toBeLessThanOrEqual(KEY_SLOTS);
  for (const w of l.watchers) for (const [key, n] of keyPeaksOf(w.events)) expect(n, `key ${key} seen by watcher ${w.index}`).toBeLessThanOrEqual(KEY_SLOTS);
  expect(await rowsOf("SELECT key, count(*)::int AS n FROM key_holders GROUP BY key HAVING count(*) > $1", [KEY_SLOTS])).toEqual([]);
  const leaked = await rowsOf<{ key: string; run_id: string }>(
    "SELECT h.key, h.run_id::text FROM key_holders h JOIN runs r ON r.id = h.run_id WHERE r.state IN ('COMPLETED', 'FAILED', 'CANCELED')",
  );
  // A holder left by a finished run, with the run's story, to say how it got there.
  const story = (id: string) => events.filter((e) => e.run_id === id).map((e) => `${e.revision} ${e.from}->${e.to} ${e.reason}`);
  expect(leaked, JSON.stringify(leaked.map((h) => ({ ...h, events: story(h.run_id) })))).toEqual([]);
  expect(await rowsOf("SELECT key, run_id::text FROM key_holders")).toEqual([]);

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
    completions_refused_first_try: l.refusedCompletions.filter((c) => !c.afterRetry).length,
    completions_refused_after_retry: l.refusedCompletions.filter((c) => c.afterRetry).length,
    stale_refused_during_load: Object.fromEntries(l.staleRefused),
    stale_refused_at_end: Object.fromEntries(staleAtEnd),
    abandoned_grants: { running: l.abandoned.filter((a) => a.attemptId !== "").length, leased: l.abandoned.filter((a) => a.attemptId === "").length },
    abandoned_lapses_seen: lapses.lapses,
    lease_expiries_in_log: events.filter((e) => e.reason === "LEASE_EXPIRED").length,
    abandoned_regranted: { in_log: lapses.regranted, acknowledged: lapses.regrantsAcked },
    abandoned_then_failed: lapses.exhausted,
    lapse_queue_runs_failed: failed.length,
    lapsed_refused_during_load: Object.fromEntries(l.lapsedRefused),
    lapsed_refused_during_load_by_state_after: Object.fromEntries(l.lapsedRefusedWhile),
    lapsed_refused_at_end: Object.fromEntries(lapsedAtEnd),
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
    const summary = await runScenario({ database: "crash_kills", seed: SEED, rounds: 7, doubleKillRound: 4, restartDatabaseAfterRound: null, abandoners: 2 });
    console.log("postgres-crash kills", JSON.stringify(summary));
  });

  it("kill -9 at random under load, with serial commits: the same", { timeout: 150_000 }, async () => {
    const summary = await runScenario({ database: "crash_kills_serial", seed: SEED + 2, rounds: 7, doubleKillRound: 4, restartDatabaseAfterRound: null, abandoners: 2, commits: "serial" });
    console.log("postgres-crash kills, serial commits", JSON.stringify(summary));
  });

  it("a fast restart of the database under load: every server answers UNAVAILABLE meanwhile and recovers by itself", { timeout: 150_000 }, async () => {
    const summary = await runScenario({ database: "crash_db_restart", seed: SEED + 1, rounds: 3, doubleKillRound: null, restartDatabaseAfterRound: 0, abandoners: 1 });
    console.log("postgres-crash database restart", JSON.stringify(summary));
  });
});
