/**
 * Submission (SPEC §3, §7): a batch of tasks is checked field by field first, then each task
 * is stored with its relations and the runs its policy derives, all in one command (all or
 * none). A caller's task id makes the submission idempotent: the same spec returns the
 * stored task, another spec is TASK_CONFLICT, and the id of a purged task stays reserved
 * for the deduplication window (TASK_ID_RESERVED).
 */
import { deriveOnce, deriveRepeat, firstCronCursor, refillCronWindow } from "../../domain/derive.js";
import type { TaskId } from "../../domain/ids.js";
import { checkDepth, checkNoCycle, isTaskTerminal } from "../../domain/task.js";
import { type TaskSpec, canonicalSpec, compileTaskSpec, resolveStart } from "../../domain/task-spec.js";
import { type FieldViolation, prefixed } from "../../domain/violations.js";
import type { Submission, SubmitResult } from "../api.js";
import type { Unit } from "../commit/unit.js";
import { type Core, changeTask, mustTask } from "../core.js";
import { EngineError, invalidArgument } from "../errors.js";
import type { RunRecord, TaskRecord } from "../records.js";
import { settleTask } from "./cascade.js";
import { deriveRuns } from "./cron.js";

const RUNS_IN_SUBMIT_REPLY = 100;

/** A submission that passed validation, normalised. */
export interface CheckedSubmission {
  readonly taskId: TaskId | null;
  readonly spec: TaskSpec;
}

/**
 * Compiles every item (defaults, validation, normalisation). Violations name
 * `tasks[i].spec.<field>` for a batch, `spec.<field>` for a single submission, together with
 * the ones the caller found decoding the wire form (`decoded`, never named twice); any
 * violation rejects the whole call with INVALID_ARGUMENT.
 */
export function checkSubmissions(core: Core, items: readonly Submission[], batch: boolean, decoded: readonly FieldViolation[] = []): CheckedSubmission[] {
  const limits = core.options.limits;
  if (items.length === 0 || items.length > limits.maxBatch) {
    throw invalidArgument([...decoded, { field: "tasks", description: `must hold 1 to ${limits.maxBatch} tasks` }]);
  }
  const violations: FieldViolation[] = [...decoded];
  const named = new Set(decoded.map((x) => x.field));
  const seen = new Set<string>();
  const checked = items.map((item, i) => {
    // Compile the spec as the caller wrote it, so list indexes in field paths are theirs.
    const compiled = compileTaskSpec(item.spec, limits, core.parseCron);
    const own: FieldViolation[] = [];
    prefixed(own, batch ? `tasks[${i}].spec.` : "spec.", compiled.violations);
    // Not twice, and not below a field the decoder already named (a missing spec has no queue).
    violations.push(...own.filter((x) => !named.has(x.field) && ![...named].some((n) => x.field.startsWith(`${n}.`))));
    if (item.taskId !== null) {
      if (seen.has(item.taskId)) violations.push({ field: `tasks[${i}].task_id`, description: "appears twice in the batch" });
      seen.add(item.taskId);
    }
    return { taskId: item.taskId, spec: compiled.spec };
  });
  if (violations.length > 0) throw invalidArgument(violations);
  return checked;
}

function checkQuota(core: Core, u: Unit): void {
  const quota = core.options.storageQuotaBytes;
  if (quota <= 0) return;
  if (u.now - core.usedBytesAt > 1_000) {
    core.usedBytes = core.store.reader.usedBytes();
    core.usedBytesAt = u.now;
  }
  if (core.usedBytes >= quota) {
    throw new EngineError("STORAGE_QUOTA", `storage quota of ${quota} bytes reached (${core.usedBytes} in use)`, {
      metadata: { quota_bytes: String(quota), used_bytes: String(core.usedBytes) },
    });
  }
}

function firstRuns(u: Unit, taskId: TaskId): RunRecord[] {
  return u.runIdsOfTask(taskId, RUNS_IN_SUBMIT_REPLY).flatMap((id) => u.run(id) ?? []);
}

/** The same id again: the stored task for the same spec, an error otherwise. */
function existing(u: Unit, taskId: TaskId, spec: TaskSpec): SubmitResult | null {
  const task = u.task(taskId);
  if (task) {
    if (canonicalSpec(task.spec) !== canonicalSpec(spec)) {
      throw new EngineError("TASK_CONFLICT", `task ${taskId} exists with a different spec`, { metadata: { task_id: taskId } });
    }
    return { task, created: false, runs: firstRuns(u, task.id) };
  }
  const reserved = u.reservation(taskId);
  if (reserved && reserved.until > u.now) {
    throw new EngineError("TASK_ID_RESERVED", `task id ${taskId} belonged to a task purged at ${new Date(reserved.purgedAt).toISOString()}; it is reserved until ${new Date(reserved.until).toISOString()}`, {
      metadata: { task_id: taskId, reserved_until: new Date(reserved.until).toISOString() },
    });
  }
  return null;
}

/** Depth under the parent and prerequisites still pending; refuses bad relations. */
function relations(core: Core, u: Unit, id: TaskId, spec: TaskSpec): { depth: number; pendingDeps: number } {
  let depth = 0;
  const maxDepth = core.options.limits.maxTaskDepth;
  if (spec.parentTaskId) {
    const parent = u.task(spec.parentTaskId);
    if (!parent) throw new EngineError("TASK_NOT_FOUND", `parent task ${spec.parentTaskId} not found`, { metadata: { task_id: spec.parentTaskId } });
    if (isTaskTerminal(parent.status)) {
      throw new EngineError("TASK_TERMINAL", `parent task ${parent.id} is ${parent.status}`, { metadata: { task_id: parent.id, status: parent.status } });
    }
    const d = checkDepth(parent.depth, maxDepth);
    if (!d.ok) {
      throw new EngineError("HIERARCHY_TOO_DEEP", `a task may be at most ${maxDepth} levels deep`, { metadata: { limit: String(maxDepth), task_id: parent.id } });
    }
    depth = d.value;
  }
  let pendingDeps = 0;
  for (const dep of spec.dependsOn) {
    if (dep === id) continue;
    const t = u.task(dep);
    if (!t) throw new EngineError("TASK_NOT_FOUND", `prerequisite task ${dep} not found`, { metadata: { task_id: dep } });
    if (t.status === "FAILED" || t.status === "CANCELED") {
      throw new EngineError("TASK_TERMINAL", `prerequisite task ${dep} is ${t.status}`, { metadata: { task_id: dep, status: t.status } });
    }
    if (t.status !== "COMPLETED") pendingDeps++;
  }
  const cycle = checkNoCycle(id, spec.dependsOn, (t) => u.task(t)?.spec.dependsOn ?? []);
  if (!cycle.ok) {
    throw new EngineError("DEPENDENCY_CYCLE", `dependencies of ${id} would form a cycle`, {
      metadata: { task_id: id, path: cycle.error.reason === "DEPENDENCY_CYCLE" ? cycle.error.path.join(" -> ") : "" },
    });
  }
  return { depth, pendingDeps };
}

/** The first run times of a policy and, for cron, the cursor after them. */
function firstTimes(core: Core, spec: TaskSpec, startAt: number): { times: number[]; cron: TaskRecord["cron"] } {
  const p = spec.policy;
  if (p.kind === "ONCE") {
    const d = deriveOnce(startAt);
    if (!d.ok) throw invalidArgument([{ field: "spec.policy.once.start_at", description: "out of range" }]);
    return { times: d.value, cron: null };
  }
  if (p.kind === "REPEAT") {
    const d = deriveRepeat(p.count, p.intervalMs, startAt, core.options.limits.maxRepeatCount);
    if (!d.ok) {
      const description = d.error.reason === "SCHEDULE_OVERFLOW" ? "the last run would fall after 9999-12-31" : `invalid repeat schedule (${d.error.reason})`;
      throw invalidArgument([{ field: "spec.policy.repeat", description }]);
    }
    return { times: d.value, cron: null };
  }
  const schedule = core.schedule(p.expression, p.timeZone);
  if (!schedule) throw invalidArgument([{ field: "spec.policy.cron.expression", description: "invalid cron expression" }]);
  const r = refillCronWindow(schedule, firstCronCursor(schedule, startAt), 0, core.options.cronWindow, p.maxOccurrences);
  return { times: r.times, cron: r.cursor };
}

/** Stores one checked task with its runs. */
export function submitOne(core: Core, u: Unit, item: CheckedSubmission): SubmitResult {
  const { spec } = item;
  if (item.taskId !== null) {
    const again = existing(u, item.taskId, spec);
    if (again) return again;
  }
  checkQuota(core, u);
  const id = item.taskId ?? core.ids.taskId();
  const now = u.now;
  const { depth, pendingDeps } = relations(core, u, id, spec);
  const startAt = resolveStart(spec.policy, now);
  const { times, cron } = firstTimes(core, spec, startAt);
  const task: TaskRecord = {
    id,
    spec,
    status: "ACTIVE",
    statusReason: "",
    createdAt: now,
    statusChangedAt: now,
    startAt,
    runsDerived: times.length,
    cron,
    depth,
    pendingDeps,
    openRuns: times.length,
    failedRuns: 0,
    openChildren: 0,
    failedChildren: 0,
    skippedOccurrences: 0,
    pendingRuns: 0,
  };
  u.createTask(task);
  if (spec.parentTaskId) changeTask(u, spec.parentTaskId, (t) => ({ ...t, openChildren: t.openChildren + 1 }));
  const created = deriveRuns(core, u, task, times, 0);
  u.log({ task_id: id, queue: spec.queue, runs: created.length, policy: spec.policy.kind }, "task submitted", "debug");
  if (times.length === 0) settleTask(core, u, id);
  return { task: mustTask(u, id), created: true, runs: created.slice(0, RUNS_IN_SUBMIT_REPLY) };
}
