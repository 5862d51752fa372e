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
    readonly table: "tasks" | "runs",
    readonly id: string,
    readonly verb: StoreVerb["verb"],
  ) {
    super(`stale write: ${verb} found ${table} row ${id} changed or gone since it was read`);
  }
}

type Client = pg.ClientBase;

/** Applies `verbs` in order inside the caller's transaction (the caller commits or rolls back). */
export async function applyVerbs(client: Client, verbs: readonly StoreVerb[]): Promise<void> {
  let revision = -1;
  for (const v of verbs) {
    const r = await applyVerb(client, v);
    if (r > revision) revision = r;
  }
  if (revision >= 0) await client.query("UPDATE revision SET value = GREATEST(value, $1::bigint)", [revision]);
}

/** Applies one verb; the highest revision it carries, or -1. */
async function applyVerb(c: Client, v: StoreVerb): Promise<number> {
  switch (v.verb) {
    case "createTask":
      await createTask(c, v.task);
      return -1;
    case "updateTask":
      await updateTask(c, v.task, v.prev);
      return -1;
    case "createRun":
      await createRun(c, v.run);
      await insertEvent(c, v.event);
      return v.event.revision;
    case "updateRun":
      await updateRun(c, v.run, v.prev);
      if (v.event) await insertEvent(c, v.event);
      if (v.lease && "put" in v.lease) {
        const l = leaseToRow({ ...v.lease.put, runId: v.run.id });
        await c.query("INSERT INTO leases (run_id, record) VALUES ($1, $2) ON CONFLICT (run_id) DO UPDATE SET record = EXCLUDED.record", [l.run_id, l.record]);
      }
      if (v.lease && "remove" in v.lease) await c.query("DELETE FROM leases WHERE run_id = $1", [v.lease.remove]);
      if (v.attempt) {
        const a = attemptToRow(v.attempt);
        await c.query(
          `INSERT INTO attempts (run_id, number, record, output) VALUES ($1, $2, $3, $4)
           ON CONFLICT (run_id, number) DO UPDATE SET record = EXCLUDED.record, output = EXCLUDED.output`,
          [a.run_id, a.number, a.record, a.output],
        );
      }
      if (v.keyHolder && "put" in v.keyHolder) {
        const h = keyHolderToRow(v.keyHolder.put);
        await c.query("INSERT INTO concurrency_keys (key) VALUES ($1) ON CONFLICT (key) DO NOTHING", [h.key]);
        await c.query(
          "INSERT INTO key_holders (key, run_id, record) VALUES ($1, $2, $3) ON CONFLICT (key, run_id) DO UPDATE SET record = EXCLUDED.record",
          [h.key, h.run_id, h.record],
        );
      }
      if (v.keyHolder && "remove" in v.keyHolder) {
        await c.query("DELETE FROM key_holders WHERE key = $1 AND run_id = $2", [v.keyHolder.remove.key, v.keyHolder.remove.runId]);
      }
      return v.event ? v.event.revision : -1;
    case "dropTimer":
      await deleteDue(c, v.entry);
      return -1;
    case "saveQueue": {
      const q = queueToRow(v.queue);
      await c.query(
        `INSERT INTO queues (name, configured, paused, rate_per_second, burst) VALUES ($1, true, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET configured = true, paused = EXCLUDED.paused,
           rate_per_second = EXCLUDED.rate_per_second, burst = EXCLUDED.burst`,
        [q.name, q.paused, q.rate_per_second, q.burst],
      );
      return -1;
    }
    case "saveMeta":
      await c.query("UPDATE meta SET oldest_revision = $1, engine_paused = $2", [v.meta.oldestRevision, v.meta.enginePaused]);
      return v.meta.revision;
    case "purgeRun":
      await purgeRun(c, v.run);
      return -1;
    case "purgeTask":
      await purgeTask(c, v.task);
      await c.query(
        `INSERT INTO reservations (task_id, purged_at, until) VALUES ($1, $2, $3)
         ON CONFLICT (task_id) DO UPDATE SET purged_at = EXCLUDED.purged_at, until = EXCLUDED.until`,
        [v.reservation.taskId, v.reservation.purgedAt, v.reservation.until],
      );
      return -1;
    case "purgeEvents":
      await c.query("DELETE FROM events WHERE revision < $1::bigint", [Math.ceil(v.before)]);
      return -1;
    case "releaseReservation":
      await c.query("DELETE FROM reservations WHERE task_id = $1", [v.taskId]);
      return -1;
    default: {
      const never: never = v;
      throw new Error(`unknown store verb ${JSON.stringify(never)}`);
    }
  }
}

async function createTask(c: Client, task: TaskRecord): Promise<void> {
  const t = taskToRow(task);
  await c.query("INSERT INTO tasks (id, queue, parent_id, is_cron, status, progress) VALUES ($1, $2, $3, $4, $5, $6)", [
    t.id,
    t.queue,
    t.parent_id,
    t.is_cron,
    t.status,
    t.progress,
  ]);
  await c.query("INSERT INTO task_specs (task_id, spec, payload) VALUES ($1, $2, $3)", [t.id, t.spec, t.payload]);
  if (task.spec.dependsOn.length > 0) {
    await c.query(
      "INSERT INTO task_dependencies (prerequisite_id, task_id) SELECT p, $2 FROM unnest($1::uuid[]) AS p ON CONFLICT DO NOTHING",
      [task.spec.dependsOn, task.id],
    );
  }
}

async function updateTask(c: Client, task: TaskRecord, prev: TaskRecord): Promise<void> {
  const r = await c.query(
    `UPDATE tasks SET status = $2, progress = $3, version = version + 1
     WHERE id = $1 AND status = $4 AND progress = $5::jsonb`,
    [task.id, task.status, taskProgress(task), prev.status, taskProgress(prev)],
  );
  if (r.rowCount !== 1) throw new StaleWriteError("tasks", task.id, "updateTask");
}

/** The due entries of a run, as parallel arrays for unnest. */
function dueArrays(run: RunRecord): [number[], string[]] {
  return [run.due.map(([at]) => at), run.due.map(([, kind]) => kind)];
}

async function insertDue(c: Client, run: RunRecord): Promise<void> {
  if (run.due.length === 0) return;
  const [ats, kinds] = dueArrays(run);
  await c.query(
    "INSERT INTO due_timers (at, kind, run_id) SELECT a, k, $3 FROM unnest($1::bigint[], $2::text[]) AS d(a, k) ON CONFLICT DO NOTHING",
    [ats, kinds, run.id],
  );
}

async function deleteDue(c: Client, e: DueEntry): Promise<void> {
  await c.query("DELETE FROM due_timers WHERE at = $1 AND kind = $2 AND run_id = $3", [e.at, e.kind, e.runId]);
}

async function createRun(c: Client, run: RunRecord): Promise<void> {
  const r = runToRow(run);
  await c.query(
    `INSERT INTO runs (id, task_id, queue, state, effective_priority, created_at, revision, finished_at,
       capabilities, concurrency_key, key_slots, key_hold, record)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [r.id, r.task_id, r.queue, r.state, r.effective_priority, r.created_at, r.revision, r.finished_at, r.capabilities, r.concurrency_key, r.key_slots, r.key_hold, r.record],
  );
  await insertDue(c, run);
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

async function updateRun(c: Client, run: RunRecord, prev: RunRecord): Promise<void> {
  const r = runToRow(run);
  const res = await c.query(
    `UPDATE runs SET state = $2, effective_priority = $3, revision = $4, finished_at = $5, key_hold = $6, record = $7, version = version + 1
     WHERE id = $1 AND ${runUnchanged(8)}`,
    [r.id, r.state, r.effective_priority, r.revision, r.finished_at, r.key_hold, r.record, ...runUnchangedParams(prev)],
  );
  if (res.rowCount !== 1) throw new StaleWriteError("runs", run.id, "updateRun");
  // As layout.ts: the run's timer entries are replaced only when its list changed, so an
  // entry dropped by dropTimer stays dropped while the run keeps it in `due`.
  const same = prev.due.length === run.due.length && prev.due.every(([a, k], i) => run.due[i]?.[0] === a && run.due[i]?.[1] === k);
  if (!same) {
    for (const [at, kind] of prev.due) await deleteDue(c, { at, kind, runId: run.id });
    await insertDue(c, run);
  }
}

async function insertEvent(c: Client, e: EventRecord): Promise<void> {
  const r = eventToRow(e);
  await c.query("INSERT INTO events (revision, record) VALUES ($1, $2)", [r.revision, r.record]);
}

/** Deletes the run with its attempts, lease and timer entries (ON DELETE CASCADE), if unchanged. */
async function purgeRun(c: Client, run: RunRecord): Promise<void> {
  const res = await c.query(`DELETE FROM runs WHERE id = $1 AND ${runUnchanged(2)}`, [run.id, ...runUnchangedParams(run)]);
  if (res.rowCount !== 1) throw new StaleWriteError("runs", run.id, "purgeRun");
}

/** Deletes the task with its spec and dependency edges (ON DELETE CASCADE), if unchanged. */
async function purgeTask(c: Client, task: TaskRecord): Promise<void> {
  const res = await c.query("DELETE FROM tasks WHERE id = $1 AND status = $2 AND progress = $3::jsonb", [task.id, task.status, taskProgress(task)]);
  if (res.rowCount !== 1) throw new StaleWriteError("tasks", task.id, "purgeTask");
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
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    await applyVerbs(client, verbs);
    await client.query("COMMIT");
  } catch (e) {
    await client.query("ROLLBACK").catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw pgStorageError(e);
  } finally {
    client.release(broken);
  }
}
