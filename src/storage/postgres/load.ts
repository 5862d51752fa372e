/**
 * Loading a PostgreSQL store's mirror (store.ts): every table read into the in-memory store's
 * tables in one snapshot.
 */
import type pg from "pg";
import { isTerminal } from "../../domain/state.js";
import type { MetaRecord } from "../../engine/ports.js";
import { MARK, type ReadyValue, inCronIndex, taskState } from "../layout.js";
import type { Tables } from "../memory/memory-reader.js";
import { type Key, type Table, compareKeys, storedCopy } from "../memory/tables.js";
import {
  RUN_COLUMNS,
  attemptFromRow,
  dueFromRow,
  eventFromRow,
  keyHolderFromRow,
  leaseFromRow,
  metaFromRow,
  queueFromRow,
  reservationFromRow,
  runFromRow,
  taskFromRow,
} from "./codec.js";

/**
 * Reads every table into `tables` (replacing what they held), in one snapshot: a REPEATABLE
 * READ transaction of its own, or, `inWindow`, the caller's transaction. Resolves with the
 * change log's head the snapshot holds.
 */
export async function loadMirror(client: pg.ClientBase, tables: Tables, inWindow: boolean): Promise<number> {
  try {
    if (!inWindow) await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const q = async (sql: string) => (await client.query<Record<string, unknown>>(sql)).rows;
    const t = tables;
    const [head] = await q("SELECT seq FROM change_head");
    const [meta] = await q("SELECT r.value, m.oldest_revision, m.engine_paused FROM revision r CROSS JOIN meta m");
    const b = new Batch();
    if (meta) b.add(t.meta, "meta", storedCopy<MetaRecord>(metaFromRow(meta)));
    for (const r of await q("SELECT t.id, t.status, t.progress, s.spec, s.payload FROM tasks t JOIN task_specs s ON s.task_id = t.id ORDER BY t.id")) {
      const task = taskFromRow(r as Parameters<typeof taskFromRow>[0]);
      b.add(t.tasks, task.id, storedCopy(taskState(task)));
      b.add(t.taskSpecs, task.id, storedCopy(task.spec));
      b.add(t.idxTaskQueue, [task.spec.queue, task.id], MARK);
      if (task.spec.parentTaskId) b.add(t.idxChildren, [task.spec.parentTaskId, task.id], MARK);
      for (const dep of task.spec.dependsOn) b.add(t.idxDependents, [dep, task.id], MARK);
      if (inCronIndex(task)) b.add(t.idxCron, task.id, MARK);
    }
    const counts = new Map<string, { key: readonly [string, string]; n: number }>();
    for (const r of await q(`SELECT ${RUN_COLUMNS} FROM runs ORDER BY id`)) {
      const run = storedCopy(runFromRow(r));
      b.add(t.runs, run.id, run);
      b.add(t.idxTaskRuns, [run.taskId, run.id], MARK);
      const ready: ReadyValue = { p: run.effectivePriority, c: run.createdAt, caps: run.capabilities, ks: run.keySlots, kh: run.keyHold };
      b.add(t.idxState, [run.queue, run.state, run.id], run.state === "READY" ? storedCopy(ready) : MARK);
      const c = counts.get(`${run.queue}\u0000${run.state}`) ?? { key: [run.queue, run.state] as const, n: 0 };
      c.n++;
      counts.set(`${run.queue}\u0000${run.state}`, c);
      if (isTerminal(run.state) && run.finishedAt !== null) b.add(t.idxFinished, [run.finishedAt, run.id], MARK);
    }
    for (const c of counts.values()) b.add(t.counts, c.key, c.n);
    // Timer entries from their rows, not from the runs' lists: a dropped entry stays dropped.
    for (const r of await q("SELECT at, kind, run_id FROM due_timers")) {
      const d = dueFromRow(r);
      b.add(t.idxDue, [d.at, d.kind, d.runId], MARK);
    }
    for (const r of await q("SELECT run_id, number, record, output FROM attempts")) {
      const a = storedCopy(attemptFromRow(r));
      b.add(t.attempts, [a.runId, a.number], a);
    }
    for (const r of await q("SELECT run_id, record FROM leases")) {
      const l = storedCopy(leaseFromRow(r));
      b.add(t.leases, l.runId, l);
    }
    for (const r of await q("SELECT key, run_id, record FROM key_holders")) {
      const h = storedCopy(keyHolderFromRow(r));
      b.add(t.keyholders, [h.key, h.runId], h);
    }
    for (const r of await q("SELECT name, paused, rate_per_second, burst FROM queues WHERE configured")) {
      const qr = storedCopy(queueFromRow(r));
      b.add(t.queues, qr.name, qr);
    }
    for (const r of await q("SELECT revision, record FROM events ORDER BY revision")) {
      const e = storedCopy(eventFromRow(r));
      b.add(t.events, e.revision, e);
    }
    for (const r of await q("SELECT task_id, purged_at, until FROM reservations")) {
      const res = storedCopy(reservationFromRow(r));
      b.add(t.reserved, res.taskId, res);
      b.add(t.idxReserved, [res.until, res.taskId], MARK);
    }
    if (!inWindow) await client.query("COMMIT");
    for (const table of Object.values(t)) table.clear();
    b.write();
    return Number(head?.seq ?? 0);
  } catch (e) {
    if (!inWindow) await client.query("ROLLBACK").catch(() => undefined);
    throw e;
  }
}

/** Entries collected per table, then written in key order (appends, not inserts, in the mirror). */
class Batch {
  readonly #byTable = new Map<Table<Key, unknown>, { key: Key; value: unknown }[]>();

  add<K extends Key, V>(table: Table<K, V>, key: K, value: V): void {
    const t = table as unknown as Table<Key, unknown>;
    let list = this.#byTable.get(t);
    if (!list) this.#byTable.set(t, (list = []));
    list.push({ key, value });
  }

  write(): void {
    for (const [table, list] of this.#byTable) {
      list.sort((a, b) => compareKeys(a.key, b.key));
      for (const { key, value } of list) table.put(key, value);
    }
  }
}
