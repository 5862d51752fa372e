/**
 * The statements of a concurrent commit (docs/scaling.md, "Concurrent commits"): several
 * servers decide and write their batches at the same time, each on its own mirror as of its
 * last follow, and the database refuses a batch decided on anything another server changed
 * meanwhile. Nothing is locked while a batch is decided.
 *
 * What makes a stale decision fail (CommitConflict, the engine decides again):
 *  - every changed run and task row is a compare-and-set on the row the batch read
 *    (writer.ts), and a new row's primary key is unique (a task id two servers create);
 *  - a decision that read a row without changing it gets a check here, written so that the
 *    two sides of the race meet on a row lock:
 *    - a key slot taken: before anything is written, the rows of the keys the batch admits to
 *      are locked (FOR UPDATE, in key order); after each admission the key's holders are
 *      counted, which must stay within its slots at that point of the batch, as its events
 *      tell it (no over-admission however many servers admit: a slot another server took is
 *      not freed by this batch releasing one later). First and in order, because otherwise
 *      two batches deadlock, which PostgreSQL breaks only after deadlock_timeout (a second,
 *      with every batch behind them waiting): a holder's insert takes a key-share lock on its
 *      key's row (the foreign key), so two batches that both wrote holders of one key would
 *      each wait for the other's to lock it; and two batches admitting to two keys in
 *      opposite orders would, too;
 *    - a task created with prerequisites still open: each must still be ACTIVE, checked under
 *      a share lock on its row;
 *    - a task that ends: its dependents are counted after its row is changed (which waits for
 *      that share lock), and must be the ones the batch decided on: a dependent created
 *      meanwhile would otherwise never hear that its prerequisite ended.
 *    (A child created under an ending parent needs no check: it changes the parent's row.)
 *  - revisions are assigned at commit, by the last statements: the revision counter and the
 *    change log's head are moved together (their row locks held only from there to COMMIT, so
 *    revisions are in commit order and every snapshot sees a gap-free prefix), the events are
 *    written at the revisions that gives, and the batch's runs are moved to them.
 */
import type { StoreReader, StoreVerb } from "../../engine/ports.js";
import { stampedRange } from "../../engine/ports.js";
import type { TaskId } from "../../domain/ids.js";
import type { EventRecord, TaskRecord } from "../../engine/records.js";
import type { ChangeRow } from "./changes.js";
import { eventToRow } from "./codec.js";
import { type Statement, planVerb } from "./writer.js";

/**
 * The hand-out claim: for each queue ($1), the first $3 READY runs in hand-out order (the
 * runs_handout index: effective priority, then creation time, then id) that a worker with
 * capabilities $2 may take and whose key has a free slot (or that hold theirs), other than
 * those the batch claimed for its other leases ($4: its own locks do not stop it), skipping
 * the rows another server's open batch locked, and locking them until this batch's commit.
 */
export const CLAIM = `SELECT c.id FROM unnest($1::text[]) AS q(name)
  CROSS JOIN LATERAL (
    SELECT r.id FROM runs r
    WHERE r.queue = q.name AND r.state = 'READY' AND r.capabilities <@ $2::text[] AND r.id <> ALL($4::uuid[])
      AND (r.concurrency_key IS NULL OR r.key_hold = 'HELD'
           OR (SELECT count(*) FROM key_holders h WHERE h.key = r.concurrency_key) < r.key_slots)
    ORDER BY r.effective_priority DESC, r.created_at, r.id
    LIMIT $3
    FOR UPDATE OF r SKIP LOCKED
  ) AS c`;

/**
 * The timer claim: those of the entries ($1 at, $2 kind, $3 run id) still stored that no other
 * server's open batch locked, locked until this batch's commit: each due timer is applied by
 * the server that claimed it.
 */
export const CLAIM_TIMERS = `SELECT d.at, d.kind, d.run_id FROM due_timers d
  JOIN unnest($1::bigint[], $2::text[], $3::uuid[]) AS e(at, kind, run_id)
    ON d.at = e.at AND d.kind = e.kind AND d.run_id = e.run_id
  FOR UPDATE OF d SKIP LOCKED`;

/** What the stamp statement found: the change's place in the log and how its revisions moved. */
export interface Stamp {
  seq: number;
  delta: number;
  /** The change rows after `applied` and before this one (committed: the stamp holds the head's lock). */
  before: readonly ChangeRow[];
}

/**
 * The statements of `verbs` as a concurrent commit, the stamp last: `change` is the change
 * log row's bytes, `at` its time, `channel` the NOTIFY channel. `stamp` is filled when the
 * statements succeeded, with the change rows after `applied` (the mirror's last) that came
 * before this one. `reader` is the mirror the batch was decided on (committed state).
 */
export function planConcurrent(
  verbs: readonly StoreVerb[],
  reader: StoreReader,
  change: Uint8Array,
  at: number,
  channel: string,
  applied: number,
  stamp: Stamp,
): Statement[] {
  const out: Statement[] = [];
  const events: EventRecord[] = [];
  const checks = new Checks(reader, verbs);
  checks.before(out);
  const committedMeta = reader.meta();
  for (const v of verbs) {
    // The engine saves its meta with every batch that has events, for the revision, which the
    // stamp keeps here: the meta row is written only when a flag changed, or every commit of
    // every server would wait on its lock.
    if (v.verb === "saveMeta" && v.meta.oldestRevision === committedMeta.oldestRevision && v.meta.enginePaused === committedMeta.enginePaused) continue;
    planVerb(out, v, events);
    checks.after(out, v);
  }
  const range = stampedRange(verbs);
  const count = range?.count ?? 0;
  const last = range?.last ?? 0;
  out.push({
    text: `WITH r AS (UPDATE revision SET value = value + $1::bigint RETURNING value),
                h AS (UPDATE change_head SET seq = seq + 1 RETURNING seq)
           INSERT INTO changes (seq, at, verbs, revision_delta)
           SELECT h.seq, $2, $3, CASE WHEN $1::bigint = 0 THEN 0 ELSE r.value - $4::bigint END FROM r, h
           RETURNING seq, revision_delta`,
    values: [count, at, change, last],
    take: (r) => {
      const row = r.rows[0] as { seq: unknown; revision_delta: unknown } | undefined;
      stamp.seq = Number(row?.seq);
      stamp.delta = Number(row?.revision_delta);
    },
  });
  if (count > 0) {
    const rows = events.map(eventToRow);
    out.push({
      text: `INSERT INTO events (revision, record)
             SELECT e.revision + (SELECT value FROM revision) - $1::bigint, e.record
             FROM unnest($2::bigint[], $3::jsonb[]) AS e(revision, record)`,
      values: [last, rows.map((e) => e.revision), rows.map((e) => e.record)],
    });
    const runs = new Set<string>();
    for (const v of verbs) if ((v.verb === "createRun" || v.verb === "updateRun") && v.event) runs.add(v.run.id);
    out.push({
      text: `UPDATE runs SET revision = revision + (SELECT value FROM revision) - $1::bigint
             WHERE id = ANY($2::uuid[]) AND revision > $3::bigint`,
      values: [last, [...runs], (range?.first ?? 1) - 1],
    });
  }
  out.push({
    text: "SELECT seq, verbs, revision_delta FROM changes WHERE seq > $1 AND seq < (SELECT seq FROM change_head) ORDER BY seq",
    values: [applied],
    take: (r) => {
      stamp.before = r.rows;
    },
  });
  out.push({ text: `SELECT pg_notify('${channel}', seq::text) FROM change_head`, values: [] });
  return out;
}

/** The checks of decisions that read rows without changing them (see the module comment). */
class Checks {
  readonly #reader: StoreReader;
  /** Tasks as the batch left them so far (created or updated by an earlier verb). */
  readonly #tasks = new Map<TaskId, TaskRecord | null>();
  /** Dependency edges the batch added (+1) or removed (-1) so far, by prerequisite. */
  readonly #edges = new Map<TaskId, number>();
  /** Keys the batch takes a slot of. */
  readonly #keys: readonly string[];

  constructor(reader: StoreReader, verbs: readonly StoreVerb[]) {
    this.#reader = reader;
    const keys = new Set<string>();
    for (const v of verbs) if (v.verb === "updateRun" && v.keyHolder && "put" in v.keyHolder) keys.add(v.keyHolder.put.key);
    this.#keys = [...keys];
  }

  /**
   * The checks that come before any verb: the rows of the keys the batch admits to, created
   * when new and locked, in key order (the ORDER BY is applied before the locking, so every
   * batch takes them in the same order; a new key's row is inserted the same way, and a second
   * batch inserting it waits for the first to commit).
   */
  before(out: Statement[]): void {
    if (this.#keys.length === 0) return;
    const keys = this.#keys;
    out.push({ text: "INSERT INTO concurrency_keys (key) SELECT k FROM unnest($1::text[]) AS k ORDER BY k ON CONFLICT (key) DO NOTHING", values: [keys] });
    out.push({ text: "SELECT key FROM concurrency_keys WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE", values: [keys] });
  }

  #task(id: TaskId): TaskRecord | undefined {
    const t = this.#tasks.get(id);
    if (t !== undefined) return t ?? undefined;
    return this.#reader.getTask(id);
  }

  after(out: Statement[], v: StoreVerb): void {
    switch (v.verb) {
      case "createTask": {
        const open = [...new Set(v.task.spec.dependsOn)].filter((id) => id !== v.task.id && this.#task(id)?.status === "ACTIVE");
        if (open.length > 0) {
          out.push({
            text: `SELECT 1 FROM (SELECT id FROM tasks WHERE id = ANY($1::uuid[]) AND status = 'ACTIVE' FOR SHARE) AS p
                   HAVING count(*) = $2::bigint`,
            values: [open, open.length],
            stale: ["tasks", open.join(","), "createTask"],
          });
        }
        for (const dep of new Set(v.task.spec.dependsOn)) this.#edges.set(dep, (this.#edges.get(dep) ?? 0) + 1);
        this.#tasks.set(v.task.id, v.task);
        return;
      }
      case "updateTask": {
        this.#tasks.set(v.task.id, v.task);
        if (v.prev.status !== "ACTIVE" || v.task.status === "ACTIVE") return;
        const expected = this.#reader.dependentTaskIds(v.task.id).length + (this.#edges.get(v.task.id) ?? 0);
        out.push({
          text: "SELECT 1 FROM task_dependencies WHERE prerequisite_id = $1 HAVING count(*) = $2::bigint",
          values: [v.task.id, expected],
          stale: ["task_dependencies", v.task.id, "updateTask"],
        });
        return;
      }
      case "updateRun": {
        const put = v.keyHolder && "put" in v.keyHolder ? v.keyHolder.put : null;
        if (!put) return;
        // After the holder planVerb wrote, under the key row's lock (`before`): two servers
        // admitting to one key count one after the other (the second, once the first
        // committed, sees its holders: each statement sees what committed before it started).
        out.push({
          text: "SELECT 1 FROM key_holders WHERE key = $1 HAVING count(*) <= $2::bigint",
          values: [put.key, put.slots],
          stale: ["key_holders", put.key, "updateRun"],
        });
        return;
      }
      case "purgeTask":
        this.#tasks.set(v.task.id, null);
        for (const dep of new Set(v.task.spec.dependsOn)) this.#edges.set(dep, (this.#edges.get(dep) ?? 0) - 1);
        return;
      default:
        return;
    }
  }
}
