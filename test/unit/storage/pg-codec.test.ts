/**
 * The PostgreSQL codec (src/storage/postgres/codec.ts) without a database: every record
 * survives record → row → (what pg hands back: jsonb parsed, bytea as a Buffer, bigint as a
 * string unless the pool parses it) → record; the pool's int8 parser and the query bounds.
 */
import { describe, expect, it } from "vitest";
import {
  PG_TYPES,
  attemptFromRow,
  attemptToRow,
  ceilBound,
  eventFromRow,
  eventToRow,
  floorBound,
  int,
  keyHolderFromRow,
  keyHolderToRow,
  leaseFromRow,
  leaseToRow,
  limitOf,
  poolConfig,
  queueFromRow,
  queueToRow,
  readyEntryFromRow,
  runFromRow,
  runToRow,
  taskFromRow,
  taskToRow,
} from "../../../src/storage/postgres/codec.js";
import { CRON_POLICY, attemptRec, eventRec, holderRec, leaseRec, queueRec, runRec, taskRec } from "../../contract/records.js";
import { taskId } from "../../support/ids.js";

/** What pg returns for a jsonb parameter written as text. */
const fromJson = (text: string): unknown => JSON.parse(text);
/** A bytea value as pg returns it. */
const asBuffer = (b: Buffer): Buffer => Buffer.from(b);

describe("postgres codec", () => {
  it("round-trips tasks with their spec apart and the payload as bytes", () => {
    for (const task of [
      taskRec(1),
      taskRec(2, { policy: CRON_POLICY, parentTaskId: taskId(1), dependsOn: [taskId(1)], payload: { data: new Uint8Array([0, 255, 1]), contentType: "x/y" } }),
      taskRec(3, {}, { status: "FAILED", statusReason: "boom", openRuns: 2, cron: null }),
    ]) {
      const row = taskToRow(task);
      expect(row.queue).toBe(task.spec.queue);
      expect(row.is_cron).toBe(task.spec.policy.kind === "CRON");
      expect(JSON.parse(row.spec)).not.toHaveProperty("payload.data");
      const back = taskFromRow({ id: row.id, status: row.status, progress: fromJson(row.progress), spec: fromJson(row.spec), payload: asBuffer(row.payload) });
      expect(back).toEqual(task);
      expect(back.spec.payload.data).toBeInstanceOf(Uint8Array);
      expect(Buffer.isBuffer(back.spec.payload.data)).toBe(false);
    }
  });

  it("round-trips runs with the columns apart from the jsonb rest, bigints as strings or numbers", () => {
    const runs = [
      runRec(1),
      runRec(2, { state: "READY", effectivePriority: -5, keySlots: { key: "k", slots: 3 }, keyHold: "RESERVED", capabilities: ["a", "b"], due: [[9_000, "PROMOTE"]] }),
      runRec(3, { state: "COMPLETED", finishedAt: 1_767_225_600_000, revision: 42, lastLeaseToken: null }),
    ];
    for (const run of runs) {
      const row = runToRow(run);
      const rest = fromJson(row.record) as Record<string, unknown>;
      for (const col of ["id", "taskId", "queue", "state", "effectivePriority", "createdAt", "revision", "finishedAt", "capabilities", "keySlots", "keyHold"]) {
        expect(rest).not.toHaveProperty(col);
      }
      const asPg = (bigints: (v: number | null) => unknown) => ({
        ...row,
        created_at: bigints(row.created_at),
        revision: bigints(row.revision),
        finished_at: bigints(row.finished_at),
        record: rest,
      });
      expect(runFromRow(asPg((v) => (v === null ? null : String(v))))).toEqual(run);
      expect(runFromRow(asPg((v) => v))).toEqual(run);
      const ready = readyEntryFromRow(asPg((v) => v));
      expect(ready).toEqual({ runId: run.id, effectivePriority: run.effectivePriority, createdAt: run.createdAt, capabilities: run.capabilities, keySlots: run.keySlots, keyHold: run.keyHold });
    }
  });

  it("round-trips attempts, leases, key holders, queues and events", () => {
    const attempt = attemptRec(1, 2, { outcome: "RETRYABLE_FAILURE", error: "x", finishedAt: 4_000 });
    const a = attemptToRow(attempt);
    expect(attemptFromRow({ run_id: a.run_id, number: String(a.number), record: fromJson(a.record), output: asBuffer(a.output) })).toEqual(attempt);
    const lease = leaseRec(1);
    const l = leaseToRow(lease);
    expect(leaseFromRow({ run_id: l.run_id, record: fromJson(l.record) })).toEqual(lease);
    const holder = holderRec("ключ", 2, { hold: "HELD" });
    const h = keyHolderToRow(holder);
    expect(keyHolderFromRow({ key: h.key, run_id: h.run_id, record: fromJson(h.record) })).toEqual(holder);
    const queue = queueRec("q", { paused: true, ratePerSecond: 2.5, burst: 4 });
    expect(queueFromRow(queueToRow(queue))).toEqual(queue);
    const event = eventRec(7, runRec(1), { from: "READY", attempt: { id: attempt.id, number: 2, outcome: null, error: "", workerId: "w" } });
    const e = eventToRow(event);
    expect(eventFromRow({ revision: "7", record: fromJson(e.record) })).toEqual(event);
  });

  it("parses int8 per pool as a safe integer and leaves other types to pg", () => {
    expect(poolConfig({ max: 2 }).types).toBe(PG_TYPES);
    const parse8 = PG_TYPES.getTypeParser(20, "text") as (s: string) => unknown;
    expect(parse8("1767225600000")).toBe(1_767_225_600_000);
    expect(() => parse8("9007199254740993")).toThrow(/safe integer/);
    const parseText = PG_TYPES.getTypeParser(25, "text") as (s: string) => unknown;
    expect(parseText("12")).toBe("12");
    expect(int("-3")).toBe(-3);
    expect(() => int("1.5")).toThrow();
  });

  it("bounds queries as the memory reader does", () => {
    expect(limitOf(undefined)).toBeNull();
    expect(limitOf(Number.NaN)).toBeNull();
    expect(limitOf(-1)).toBe(0);
    expect(limitOf(2.1)).toBe(3);
    expect(limitOf(Number.MAX_SAFE_INTEGER)).toBe(Number.MAX_SAFE_INTEGER);
    expect(floorBound(10.9)).toBe(10);
    expect(floorBound(Infinity)).toBe(Number.MAX_SAFE_INTEGER);
    expect(ceilBound(0.2)).toBe(1);
    expect(ceilBound(-Infinity)).toBe(-Number.MAX_SAFE_INTEGER);
  });
});
