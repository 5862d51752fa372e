/**
 * Records ↔ rows of the PostgreSQL schema (./schema.ts, docs/scaling.md "Schema"). Pure
 * functions: the writer (./writer.ts) turns records into query parameters with them, the
 * reader (./reader.ts) turns rows back into records. A field lives either in a typed column
 * or in the row's `jsonb` rest, never both (copies of fields that never change, such as a
 * task's queue, excepted); binary fields are `bytea`.
 *
 * Types as pg returns them: `bigint` (int8) and `count(*)` arrive as strings unless the pool
 * parses them (`PG_TYPES`, set per pool by `poolConfig`, never globally); `int` accepts both
 * and refuses anything that is not a safe integer. `bytea` arrives as a Buffer and leaves
 * here as a fresh Uint8Array (as the records declare); `jsonb` arrives parsed.
 */
import type pg from "pg";
import pgRuntime from "pg";
import type { AttemptId, LeaseToken, RunId, TaskId } from "../../domain/ids.js";
import type { DueEntry, MetaRecord } from "../../engine/ports.js";
import type {
  AttemptRecord,
  DueKind,
  EventRecord,
  KeyHolderRecord,
  LeaseRecord,
  QueueRecord,
  ReadyEntry,
  ReservationRecord,
  RunRecord,
  TaskRecord,
  TaskStateRecord,
} from "../../engine/records.js";

/** OID of int8 (bigint); the schema has no int8[] columns. */
const INT8 = 20;

/** A bigint column as a JS number; refuses values that are not safe integers. */
export function int(v: unknown): number {
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n)) throw new Error(`not a safe integer from PostgreSQL: ${String(v)}`);
  return n;
}

/** A nullable bigint column. */
export function intOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : int(v);
}

/**
 * Type parsers for one pool: int8 as a number (a safe integer, or the parse fails), the rest
 * as pg's defaults. Passed through the pool's `types` option, so pg's global table is left
 * as it is for every other user of the driver in the process.
 */
export const PG_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === INT8 && format !== "binary") return (text: string) => int(text);
    return pgRuntime.types.getTypeParser(oid, format ?? "text");
  }) as pg.CustomTypesConfig["getTypeParser"],
};

/** Pool settings with this store's type parsers. */
export function poolConfig(config: pg.PoolConfig): pg.PoolConfig {
  return { ...config, types: PG_TYPES };
}

/** Bytes for a bytea parameter (pg sends Buffers as bytea). */
export function toBytea(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A bytea column as a fresh Uint8Array (not a Buffer: the records hold plain byte arrays). */
export function fromBytea(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new Error("bytea column is not bytes");
  return new Uint8Array(v);
}

/** A jsonb parameter: pg would send arrays as PostgreSQL arrays, so everything is stringified. */
export function json(v: unknown): string {
  return JSON.stringify(v);
}

// ─── tasks ─────────────────────────────────────────────────────────────────────────────

/** Parameters of a task's rows: `tasks` and `task_specs`. */
export interface TaskRow {
  readonly id: string;
  readonly queue: string;
  readonly parent_id: string | null;
  readonly is_cron: boolean;
  readonly status: string;
  /** TaskStateRecord without id and status, as jsonb text. */
  readonly progress: string;
  /** TaskSpec without payload.data, as jsonb text. */
  readonly spec: string;
  readonly payload: Buffer;
}

/** The `tasks.progress` value of a task: its state without the columns. */
export function taskProgress(task: TaskRecord): string {
  const { spec: _spec, id: _id, status: _status, ...progress } = task;
  return json(progress);
}

export function taskToRow(task: TaskRecord): TaskRow {
  const { payload, ...spec } = task.spec;
  return {
    id: task.id,
    queue: task.spec.queue,
    parent_id: task.spec.parentTaskId,
    is_cron: task.spec.policy.kind === "CRON",
    status: task.status,
    progress: taskProgress(task),
    spec: json({ ...spec, payload: { contentType: payload.contentType } }),
    payload: toBytea(payload.data),
  };
}

/** A task from its `tasks` row joined with its `task_specs` row. */
export function taskFromRow(r: { id: string; status: string; progress: unknown; spec: unknown; payload: unknown }): TaskRecord {
  const progress = r.progress as Omit<TaskStateRecord, "id" | "status">;
  const spec = r.spec as Omit<TaskRecord["spec"], "payload"> & { payload: { contentType: string } };
  return {
    ...progress,
    id: r.id as TaskId,
    status: r.status as TaskRecord["status"],
    spec: { ...spec, payload: { data: fromBytea(r.payload), contentType: spec.payload.contentType } },
  };
}

// ─── runs ──────────────────────────────────────────────────────────────────────────────

/** Parameters of a `runs` row (version is the store's, not the record's). */
export interface RunRow {
  readonly id: string;
  readonly task_id: string;
  readonly queue: string;
  readonly state: string;
  readonly effective_priority: number;
  readonly created_at: number;
  readonly revision: number;
  readonly finished_at: number | null;
  readonly capabilities: readonly string[];
  readonly concurrency_key: string | null;
  readonly key_slots: number | null;
  readonly key_hold: string | null;
  /** The rest of the record, as jsonb text. */
  readonly record: string;
}

export function runToRow(run: RunRecord): RunRow {
  const { id, taskId, queue, state, effectivePriority, createdAt, revision, finishedAt, capabilities, keySlots, keyHold, ...rest } = run;
  return {
    id,
    task_id: taskId,
    queue,
    state,
    effective_priority: effectivePriority,
    created_at: createdAt,
    revision,
    finished_at: finishedAt,
    capabilities,
    concurrency_key: keySlots?.key ?? null,
    key_slots: keySlots?.slots ?? null,
    key_hold: keyHold,
    record: json(rest),
  };
}

/** The columns a RunRecord is read from. */
export const RUN_COLUMNS = "id, task_id, queue, state, effective_priority, created_at, revision, finished_at, capabilities, concurrency_key, key_slots, key_hold, record";

export function runFromRow(r: Record<string, unknown>): RunRecord {
  // The record minus the columns (runToRow), as stored.
  const rest = r.record as Omit<RunRecord, "id" | "taskId" | "queue" | "state" | "effectivePriority" | "createdAt" | "revision" | "finishedAt" | "capabilities" | "keySlots" | "keyHold">;
  return {
    ...rest,
    id: r.id as RunId,
    taskId: r.task_id as TaskId,
    queue: r.queue as string,
    state: r.state as RunRecord["state"],
    effectivePriority: r.effective_priority as number,
    createdAt: int(r.created_at),
    revision: int(r.revision),
    finishedAt: intOrNull(r.finished_at),
    capabilities: r.capabilities as string[],
    keySlots: r.concurrency_key === null ? null : { key: r.concurrency_key as string, slots: r.key_slots as number },
    keyHold: r.key_hold as RunRecord["keyHold"],
  };
}

/** A READY run as the selection index needs it (columns id, effective_priority, created_at, capabilities, concurrency_key, key_slots, key_hold). */
export function readyEntryFromRow(r: Record<string, unknown>): ReadyEntry {
  return {
    runId: r.id as RunId,
    effectivePriority: r.effective_priority as number,
    createdAt: int(r.created_at),
    capabilities: r.capabilities as string[],
    keySlots: r.concurrency_key === null ? null : { key: r.concurrency_key as string, slots: r.key_slots as number },
    keyHold: r.key_hold as ReadyEntry["keyHold"],
  };
}

// ─── attempts, leases, key holders ────────────────────────────────────────────────────

export function attemptToRow(a: AttemptRecord): { run_id: string; number: number; record: string; output: Buffer } {
  const { runId, number, output, ...rest } = a;
  return { run_id: runId, number, record: json(rest), output: toBytea(output) };
}

export function attemptFromRow(r: Record<string, unknown>): AttemptRecord {
  const rest = r.record as Omit<AttemptRecord, "runId" | "number" | "output">;
  return { ...rest, id: rest.id as AttemptId, runId: r.run_id as RunId, number: int(r.number), output: fromBytea(r.output) };
}

export function leaseToRow(l: LeaseRecord): { run_id: string; record: string } {
  const { runId, ...rest } = l;
  return { run_id: runId, record: json(rest) };
}

export function leaseFromRow(r: Record<string, unknown>): LeaseRecord {
  const rest = r.record as Omit<LeaseRecord, "runId">;
  return { ...rest, token: rest.token as LeaseToken, runId: r.run_id as RunId };
}

export function keyHolderToRow(h: KeyHolderRecord): { key: string; run_id: string; record: string } {
  const { key, runId, ...rest } = h;
  return { key, run_id: runId, record: json(rest) };
}

export function keyHolderFromRow(r: Record<string, unknown>): KeyHolderRecord {
  const rest = r.record as Omit<KeyHolderRecord, "key" | "runId">;
  return { ...rest, key: r.key as string, runId: r.run_id as RunId };
}

// ─── queues, events, reservations, timers, meta ───────────────────────────────────────

export function queueToRow(q: QueueRecord): { name: string; paused: boolean; rate_per_second: number; burst: number } {
  return { name: q.name, paused: q.paused, rate_per_second: q.ratePerSecond, burst: q.burst };
}

export function queueFromRow(r: Record<string, unknown>): QueueRecord {
  return { name: r.name as string, paused: r.paused as boolean, ratePerSecond: r.rate_per_second as number, burst: r.burst as number };
}

export function eventToRow(e: EventRecord): { revision: number; record: string } {
  const { revision, ...rest } = e;
  return { revision, record: json(rest) };
}

export function eventFromRow(r: Record<string, unknown>): EventRecord {
  const rest = r.record as Omit<EventRecord, "revision">;
  return { ...rest, revision: int(r.revision) };
}

export function reservationFromRow(r: Record<string, unknown>): ReservationRecord {
  return { taskId: r.task_id as TaskId, purgedAt: int(r.purged_at), until: int(r.until) };
}

export function dueFromRow(r: Record<string, unknown>): DueEntry {
  return { at: int(r.at), kind: r.kind as DueKind, runId: r.run_id as RunId };
}

/** MetaRecord from the revision counter and the meta row. */
export function metaFromRow(r: Record<string, unknown>): MetaRecord {
  return { revision: int(r.value), oldestRevision: int(r.oldest_revision), enginePaused: r.engine_paused as boolean };
}

// ─── query bounds ─────────────────────────────────────────────────────────────────────

/**
 * A LIMIT as the memory and LMDB readers apply it (lmdb-js's `limit`): none when undefined
 * or NaN (null: `LIMIT NULL` is no limit), nothing when <= 0, a fraction rounds up.
 */
export function limitOf(limit: number | undefined): number | null {
  if (limit === undefined || Number.isNaN(limit)) return null;
  if (limit === Infinity) return null;
  return Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, Math.ceil(limit)));
}

/** The largest integer <= `n`, within the safe range (for `column <= n` on bigint columns). */
export function floorBound(n: number): number {
  if (Number.isNaN(n)) return -1;
  return Math.max(-Number.MAX_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(n)));
}

/** The smallest integer >= `n`, within the safe range (for `column >= n` on bigint columns). */
export function ceilBound(n: number): number {
  if (Number.isNaN(n)) return Number.MAX_SAFE_INTEGER;
  return Math.max(-Number.MAX_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, Math.ceil(n)));
}
