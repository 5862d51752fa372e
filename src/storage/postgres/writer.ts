/**
 * The write half of a PostgreSQL store: StoreVerbs applied to the schema's rows with the same
 * effects as the in-memory store's commit (src/storage/layout.ts applyVerbs) on its records
 * and indexes. Indexes are PostgreSQL's own; run counts and queue names are read from `runs`
 * (no counter rows, docs/scaling.md "Schema").
 *
 * Compare-and-set: a changing verb carries the record the engine decided on (`prev`), but not
 * the store's `version` token, so a row is changed only while it still holds exactly `prev`
 * (its columns and jsonb compared in the UPDATE's WHERE; jsonb equality ignores key order)
 * and its `version` is bumped. A 0-row update or delete throws StaleWriteError naming the
 * row; the caller's transaction then rolls back whole.
 *
 * Revisions are still the engine's: events are written with the revisions they carry, and the
 * counter row is raised to the highest revision seen (events and saveMeta) as the last
 * statement, so its lock is held only to the commit. Re-stamping at commit (design §4) is a
 * later step.
 *
 * Round trips: a commit is BEGIN, then all its statements pipelined (written before the first
 * answer is read) as named prepared statements, then COMMIT — three round trips however many
 * rows change, where each statement used to be one (docs/scaling.md "Throughput (one server)").
 */
import type pg from "pg";
import { EngineError } from "../../engine/errors.js";
import type { DueEntry, StoreVerb } from "../../engine/ports.js";
import type { EventRecord, RunRecord, TaskRecord } from "../../engine/records.js";
import { attemptToRow, eventToRow, keyHolderToRow, leaseToRow, queueToRow, runToRow, taskProgress, taskToRow } from "./codec.js";

/** A change decided on a row that has changed (or gone) since: nothing of the commit is stored. */
export class StaleWriteError extends Error {
  override readonly name = "StaleWriteError";
  constructor(
    readonly table: "tasks" | "runs" | "key_holders" | "task_dependencies",
    readonly id: string,
    readonly verb: StoreVerb["verb"],
  ) {
    super(staleMessage(table, id, verb));
  }
}

/** What a StaleWriteError says (also raised by the database itself: checkedInDatabase). */
function staleMessage(...[table, id, verb]: Cas): string {
  return `stale write: ${verb} found ${table} row ${id} changed or gone since it was read`;
}

type Client = pg.ClientBase;

/**
 * One statement of a commit. `stale` is set on a compare-and-set statement: it must touch
 * exactly one row, or the commit fails with that error.
 */
export interface Statement {
  readonly text: string;
  readonly values: readonly unknown[];
  readonly stale?: Cas;
  /** Given the statement's result once the pipeline succeeded. */
  readonly take?: (r: pg.QueryResult) => void;
}

/** What a compare-and-set statement's StaleWriteError names (built only when it fails). */
export type Cas = ConstructorParameters<typeof StaleWriteError>;

/**
 * The statements that apply `verbs` in order (the revision counter last). Which statements
 * a verb needs depends only on the verbs, never on what an earlier statement found, so the
 * whole list is known before the first is sent.
 */
export function planVerbs(verbs: readonly StoreVerb[]): Statement[] {
  const out: Statement[] = [];
  let revision = -1;
  for (const v of verbs) {
    const r = planVerb(out, v);
    if (r > revision) revision = r;
  }
  if (revision >= 0) out.push({ text: "UPDATE revision SET value = GREATEST(value, $1::bigint)", values: [revision] });
  return out;
}

/**
 * Applies `verbs` in order inside the caller's transaction (the caller commits or rolls back).
 *
 * The statements are pipelined: all are written to the connection before the first answer is
 * read (pg's `pipeline` mode, switched on for this call only), so a commit costs one round
 * trip rather than one per statement (docs/scaling.md "Throughput (one server)"). PostgreSQL
 * still runs them one after another in order, each seeing the ones before it, so the effects
 * are those of awaiting each in turn. The outcome is that of the first statement, in order,
 * that failed or whose compare-and-set touched no row: the ones after it ran in a transaction
 * the caller rolls back (after an error PostgreSQL refuses them: "current transaction is
 * aborted"), so nothing of theirs is kept and their answers are ignored. `after` are the
 * caller's own statements, sent in the same pipeline after the verbs' ones.
 */
export async function applyVerbs(client: Client, verbs: readonly StoreVerb[], after: readonly Statement[] = []): Promise<void> {
  await runPipelined(client, [...planVerbs(verbs), ...after]);
}

/** SQLSTATE of a check that failed in the database (aq_expect_rows, schema version 4). */
export const STALE_STATE = "AQ001";

/**
 * Runs `statements` and then COMMIT in the caller's transaction, all pipelined: one round trip
 * (see applyVerbs). Each compare-and-set or check is wrapped so that it fails in the database
 * (SQLSTATE AQ001) when it touches no row: the transaction is then aborted and the COMMIT
 * behind it rolls back, where a check made here after the answers came back would be too late.
 */
export async function applyAndCommit(client: Client, statements: readonly Statement[]): Promise<void> {
  await runPipelined(client, [...statements.map(checkedInDatabase), COMMIT]);
}

const COMMIT: Statement = { text: "COMMIT", values: [] };

/** A compare-and-set or check statement that raises AQ001 itself when it does not find exactly one row. */
function checkedInDatabase(s: Statement): Statement {
  if (!s.stale) return s;
  const what = `$${s.values.length + 1}`;
  const dml = /^\s*(UPDATE|DELETE)\b/i.test(s.text);
  const text = dml
    ? `WITH aq_cas AS (${s.text} RETURNING 1) SELECT aq_expect_rows(count(*), ${what}) FROM aq_cas`
    : `SELECT aq_expect_rows(count(*), ${what}) FROM (${s.text}) AS aq_cas`;
  return { ...s, text, values: [...s.values, staleMessage(...s.stale)] };
}

/** `client.pipeline` is a constructor option of pg's Client; it is read on each send. */
type Pipelinable = { pipeline: boolean };

async function runPipelined(client: Client, statements: readonly Statement[]): Promise<void> {
  const c = client as unknown as Pipelinable;
  const was = c.pipeline;
  c.pipeline = true;
  let settled: PromiseSettledResult<pg.QueryResult>[];
  try {
    // COMMIT is not a statement to prepare: sent as it is.
    const sent = statements.map((s) => (s === COMMIT ? client.query(s.text) : client.query({ name: statementName(s.text), text: s.text, values: s.values as unknown[] })));
    settled = await Promise.allSettled(sent);
  } finally {
    c.pipeline = was;
  }
  for (const [i, r] of settled.entries()) {
    if (r.status === "rejected") throw r.reason;
    const cas = statements[i]?.stale;
    if (cas && r.value.rowCount !== 1) throw new StaleWriteError(...cas);
    // A COMMIT in an aborted transaction answers ROLLBACK: a failure above was thrown first.
    if (statements[i] === COMMIT && r.value.command !== "COMMIT") throw new Error(`COMMIT answered ${r.value.command}`);
  }
  for (const [i, r] of settled.entries()) if (r.status === "fulfilled") statements[i]?.take?.(r.value);
}

/**
 * The writer's statement texts are fixed (a few dozen), so each is a named prepared statement:
 * parsed and planned once per connection rather than once per row.
 */
const statementNames = new Map<string, string>();

function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `aq_writer_${statementNames.size + 1}`;
    statementNames.set(text, name);
  }
  return name;
}

/**
 * Appends the statements of one verb; the highest revision it carries, or -1. With `events`
 * (concurrent commits, ./concurrent.ts) the verb's events are collected there instead of
 * written, saveMeta leaves the revision counter and lowers no oldest revision, and a key slot
 * taken writes no key row (the commit made and locked those first).
 */
export function planVerb(out: Statement[], v: StoreVerb, events: EventRecord[] | null = null): number {
  const q = (text: string, values: readonly unknown[], stale?: Cas): void => {
    out.push(stale ? { text, values, stale } : { text, values });
  };
  const insertEvent = (q2: Q, e: EventRecord) => {
    if (events) events.push(e);
    else writeEvent(q2, e);
  };
  switch (v.verb) {
    case "createTask":
      createTask(q, v.task);
      return -1;
    case "updateTask":
      updateTask(q, v.task, v.prev);
      return -1;
    case "createRun":
      createRun(q, v.run);
      insertEvent(q, v.event);
      return v.event.revision;
    case "updateRun":
      updateRun(q, v.run, v.prev);
      if (v.event) insertEvent(q, v.event);
      if (v.lease && "put" in v.lease) {
        const l = leaseToRow({ ...v.lease.put, runId: v.run.id });
        q("INSERT INTO leases (run_id, record) VALUES ($1, $2) ON CONFLICT (run_id) DO UPDATE SET record = EXCLUDED.record", [l.run_id, l.record]);
      }
      if (v.lease && "remove" in v.lease) q("DELETE FROM leases WHERE run_id = $1", [v.lease.remove]);
      if (v.attempt) {
        const a = attemptToRow(v.attempt);
        q(
          `INSERT INTO attempts (run_id, number, record, output) VALUES ($1, $2, $3, $4)
           ON CONFLICT (run_id, number) DO UPDATE SET record = EXCLUDED.record, output = EXCLUDED.output`,
          [a.run_id, a.number, a.record, a.output],
        );
      }
      if (v.keyHolder && "put" in v.keyHolder) {
        const h = keyHolderToRow(v.keyHolder.put);
        // A concurrent commit made and locked the key rows it admits to first (concurrent.ts).
        if (!events) q("INSERT INTO concurrency_keys (key) VALUES ($1) ON CONFLICT (key) DO NOTHING", [h.key]);
        q(
          "INSERT INTO key_holders (key, run_id, record) VALUES ($1, $2, $3) ON CONFLICT (key, run_id) DO UPDATE SET record = EXCLUDED.record",
          [h.key, h.run_id, h.record],
        );
      }
      if (v.keyHolder && "remove" in v.keyHolder) {
        q("DELETE FROM key_holders WHERE key = $1 AND run_id = $2", [v.keyHolder.remove.key, v.keyHolder.remove.runId]);
      }
      return v.event ? v.event.revision : -1;
    case "dropTimer":
      deleteDue(q, v.entry);
      return -1;
    case "saveQueue": {
      const r = queueToRow(v.queue);
      q(
        `INSERT INTO queues (name, configured, paused, rate_per_second, burst) VALUES ($1, true, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET configured = true, paused = EXCLUDED.paused,
           rate_per_second = EXCLUDED.rate_per_second, burst = EXCLUDED.burst`,
        [r.name, r.paused, r.rate_per_second, r.burst],
      );
      return -1;
    }
    case "saveMeta":
      if (events) q("UPDATE meta SET oldest_revision = GREATEST(oldest_revision, $1), engine_paused = $2", [v.meta.oldestRevision, v.meta.enginePaused]);
      else q("UPDATE meta SET oldest_revision = $1, engine_paused = $2", [v.meta.oldestRevision, v.meta.enginePaused]);
      return v.meta.revision;
    case "purgeRun":
      purgeRun(q, v.run);
      return -1;
    case "purgeTask":
      purgeTask(q, v.task);
      q(
        `INSERT INTO reservations (task_id, purged_at, until) VALUES ($1, $2, $3)
         ON CONFLICT (task_id) DO UPDATE SET purged_at = EXCLUDED.purged_at, until = EXCLUDED.until`,
        [v.reservation.taskId, v.reservation.purgedAt, v.reservation.until],
      );
      return -1;
    case "purgeEvents":
      q("DELETE FROM events WHERE revision < $1::bigint", [Math.ceil(v.before)]);
      return -1;
    case "releaseReservation":
      q("DELETE FROM reservations WHERE task_id = $1", [v.taskId]);
      return -1;
    default: {
      const never: never = v;
      throw new Error(`unknown store verb ${JSON.stringify(never)}`);
    }
  }
}

/** Appends one statement (a compare-and-set one when `stale` is given). */
type Q = (text: string, values: readonly unknown[], stale?: Cas) => void;

function createTask(q: Q, task: TaskRecord): void {
  const t = taskToRow(task);
  q("INSERT INTO tasks (id, queue, parent_id, is_cron, status, progress) VALUES ($1, $2, $3, $4, $5, $6)", [
    t.id,
    t.queue,
    t.parent_id,
    t.is_cron,
    t.status,
    t.progress,
  ]);
  q("INSERT INTO task_specs (task_id, spec, payload) VALUES ($1, $2, $3)", [t.id, t.spec, t.payload]);
  if (task.spec.dependsOn.length > 0) {
    q("INSERT INTO task_dependencies (prerequisite_id, task_id) SELECT p, $2 FROM unnest($1::uuid[]) AS p ON CONFLICT DO NOTHING", [
      task.spec.dependsOn,
      task.id,
    ]);
  }
}

function updateTask(q: Q, task: TaskRecord, prev: TaskRecord): void {
  q(
    `UPDATE tasks SET status = $2, progress = $3, version = version + 1
     WHERE id = $1 AND status = $4 AND progress = $5::jsonb`,
    [task.id, task.status, taskProgress(task), prev.status, taskProgress(prev)],
    ["tasks", task.id, "updateTask"],
  );
}

/** The due entries of a run, as parallel arrays for unnest. */
function dueArrays(run: RunRecord): [number[], string[]] {
  return [run.due.map(([at]) => at), run.due.map(([, kind]) => kind)];
}

function insertDue(q: Q, run: RunRecord): void {
  if (run.due.length === 0) return;
  const [ats, kinds] = dueArrays(run);
  q("INSERT INTO due_timers (at, kind, run_id) SELECT a, k, $3 FROM unnest($1::bigint[], $2::text[]) AS d(a, k) ON CONFLICT DO NOTHING", [
    ats,
    kinds,
    run.id,
  ]);
}

function deleteDue(q: Q, e: DueEntry): void {
  q("DELETE FROM due_timers WHERE at = $1 AND kind = $2 AND run_id = $3", [e.at, e.kind, e.runId]);
}

function createRun(q: Q, run: RunRecord): void {
  const r = runToRow(run);
  q(
    `INSERT INTO runs (id, task_id, queue, state, effective_priority, created_at, revision, finished_at,
       capabilities, concurrency_key, key_slots, key_hold, record)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [r.id, r.task_id, r.queue, r.state, r.effective_priority, r.created_at, r.revision, r.finished_at, r.capabilities, r.concurrency_key, r.key_slots, r.key_hold, r.record],
  );
  insertDue(q, run);
}

/** The WHERE clause that holds while a run's row is exactly `prev` (parameters from $first). */
function runUnchanged(first: number): string {
  const p = (i: number) => `$${first + i}`;
  return `state = ${p(0)} AND effective_priority = ${p(1)} AND revision = ${p(2)} AND finished_at IS NOT DISTINCT FROM ${p(3)}::bigint
    AND key_hold IS NOT DISTINCT FROM ${p(4)}::text AND record = ${p(5)}::jsonb`;
}

function runUnchangedParams(prev: RunRecord): unknown[] {
  const r = runToRow(prev);
  return [r.state, r.effective_priority, r.revision, r.finished_at, r.key_hold, r.record];
}

function updateRun(q: Q, run: RunRecord, prev: RunRecord): void {
  const r = runToRow(run);
  q(
    `UPDATE runs SET state = $2, effective_priority = $3, revision = $4, finished_at = $5, key_hold = $6, record = $7, version = version + 1
     WHERE id = $1 AND ${runUnchanged(8)}`,
    [r.id, r.state, r.effective_priority, r.revision, r.finished_at, r.key_hold, r.record, ...runUnchangedParams(prev)],
    ["runs", run.id, "updateRun"],
  );
  // As layout.ts: the run's timer entries are replaced only when its list changed, so an
  // entry dropped by dropTimer stays dropped while the run keeps it in `due`.
  const same = prev.due.length === run.due.length && prev.due.every(([a, k], i) => run.due[i]?.[0] === a && run.due[i]?.[1] === k);
  if (!same) {
    for (const [at, kind] of prev.due) deleteDue(q, { at, kind, runId: run.id });
    insertDue(q, run);
  }
}

function writeEvent(q: Q, e: EventRecord): void {
  const r = eventToRow(e);
  q("INSERT INTO events (revision, record) VALUES ($1, $2)", [r.revision, r.record]);
}

/** Deletes the run with its attempts, lease and timer entries (ON DELETE CASCADE), if unchanged. */
function purgeRun(q: Q, run: RunRecord): void {
  q(`DELETE FROM runs WHERE id = $1 AND ${runUnchanged(2)}`, [run.id, ...runUnchangedParams(run)], ["runs", run.id, "purgeRun"]);
}

/** Deletes the task with its spec and dependency edges (ON DELETE CASCADE), if unchanged. */
function purgeTask(q: Q, task: TaskRecord): void {
  q("DELETE FROM tasks WHERE id = $1 AND status = $2 AND progress = $3::jsonb", [task.id, task.status, taskProgress(task)], ["tasks", task.id, "purgeTask"]);
}

// ─── commits ──────────────────────────────────────────────────────────────────────────

/** SQLSTATEs that mean "no room": disk_full, insufficient_resources, out_of_memory. */
const FULL_STATES = new Set(["53100", "53000", "53200"]);

/**
 * A failed commit as an engine error, as the LMDB store classifies its faults
 * (src/storage/lmdb/errors.ts): by code, never by message text. No room is STORAGE_FULL;
 * anything else — a connection refused or dropped, a server shutting down, a statement
 * refused — is STORAGE_IO. Nothing of the commit was stored either way. A StaleWriteError
 * is not a storage fault and is returned as it is (the caller decides again).
 */
export function pgStorageError(e: unknown): Error {
  if (e instanceof StaleWriteError || EngineError.is(e)) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const text = e instanceof Error ? e.message : String(e);
  const detail = `${text.trim()}${typeof code === "string" ? ` (code ${code})` : ""}`;
  if (typeof code === "string" && FULL_STATES.has(code)) return new EngineError("STORAGE_FULL", `storage is full: ${detail}`, { cause: e });
  return new EngineError("STORAGE_IO", `storage write failed: ${detail}`, { cause: e });
}

/**
 * Applies `verbs` as one transaction on a client of `pool`: BEGIN, the verbs, COMMIT; rolls
 * back when anything fails. Rejects with StaleWriteError (a `prev` no longer stored) or an
 * EngineError STORAGE_IO / STORAGE_FULL (see pgStorageError); nothing is stored then. A
 * client whose rollback failed is destroyed rather than returned to the pool.
 */
export async function commitVerbs(pool: pg.Pool, verbs: readonly StoreVerb[]): Promise<void> {
  if (verbs.length === 0) return;
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (e) {
    throw pgStorageError(e);
  }
  try {
    await client.query("BEGIN");
    await applyVerbs(client, verbs);
    await client.query("COMMIT");
  } catch (e) {
    await rollbackAndRelease(client);
    throw pgStorageError(e);
  }
  client.release();
}

/**
 * Rolls back a pooled client's transaction and gives the client back; a client whose
 * rollback failed is destroyed rather than returned to the pool.
 */
export async function rollbackAndRelease(client: pg.PoolClient): Promise<void> {
  let broken: Error | undefined;
  await client.query("ROLLBACK").catch((e: unknown) => {
    broken = e instanceof Error ? e : new Error(String(e));
  });
  client.release(broken);
}
