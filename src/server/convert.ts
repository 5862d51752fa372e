/**
 * Proto <-> engine conversion at the server edge: well-known types to epoch ms, enums to
 * domain strings, requests to engine inputs (collecting every field violation with its
 * proto path), records to response messages.
 */
import { create } from "@bufbuild/protobuf";
import { type Duration, DurationSchema, type Timestamp, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { type AttemptId, type LeaseToken, type RunId, type TaskId, parseUuid } from "../domain/ids.js";
import type { HoldPolicy } from "../domain/keys.js";
import type { MisfirePolicy as DomainMisfire } from "../domain/derive.js";
import { type AttemptOutcome as DomainOutcome, DEFAULT_BACKOFF, type BackoffPolicy } from "../domain/retry.js";
import type { RunState as DomainState } from "../domain/state.js";
import type { TaskStatus as DomainTaskStatus } from "../domain/task.js";
import { MAX_TIME_MS } from "../domain/time.js";
import type { FieldViolation } from "../engine/errors.js";
import type { AttemptRecord, EventRecord, LeaseRecord, QueueRecord, RunRecord, TaskRecord } from "../engine/records.js";
import type { PolicySpec, TaskSpec } from "../domain/task-spec.js";
import { type QueueInfo, QueueInfoSchema } from "../gen/actionqueue/v1/admin_service_pb.js";
import {
  type Attempt,
  AttemptOutcome,
  AttemptSchema,
  KeyHold,
  LeaseInfoSchema,
  type Run,
  type RunEvent,
  RunEventSchema,
  RunEventType,
  RunSchema,
  RunState,
} from "../gen/actionqueue/v1/run_pb.js";
import {
  HoldPolicy as PbHoldPolicy,
  MisfirePolicy,
  type Task,
  TaskSchema,
  type TaskSpec as PbTaskSpec,
  TaskSpecSchema,
  TaskStatus,
} from "../gen/actionqueue/v1/task_pb.js";

/** Collects field violations while converting a request. */
export class Violations {
  readonly list: FieldViolation[] = [];
  add(field: string, description: string): void {
    this.list.push({ field, description });
  }
  get empty(): boolean {
    return this.list.length === 0;
  }
}

const MAX_SECONDS = 253_402_300_799n;

/** Epoch ms of a Timestamp (truncated to ms); null when unset. Adds a violation when out of range. */
export function tsToMs(ts: Timestamp | undefined, field: string, v: Violations): number | null {
  if (!ts) return null;
  if (ts.seconds < 0n || ts.seconds > MAX_SECONDS || ts.nanos < 0 || ts.nanos > 999_999_999) {
    v.add(field, "must lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z with nanos in [0, 999999999]");
    return null;
  }
  return Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000);
}

/** Milliseconds of a Duration (truncated); null when unset. Adds a violation outside [minMs, maxMs]. */
export function durToMs(d: Duration | undefined, field: string, v: Violations, minMs: number, maxMs: number): number | null {
  if (!d) return null;
  const nanosOk = d.nanos > -1_000_000_000 && d.nanos < 1_000_000_000 && (d.seconds === 0n || d.nanos === 0 || d.seconds > 0n === d.nanos > 0);
  if (!nanosOk || d.seconds < -315_576_000_000n || d.seconds > 315_576_000_000n) {
    v.add(field, "is not a valid google.protobuf.Duration");
    return null;
  }
  const ms = Number(d.seconds) * 1000 + Math.trunc(d.nanos / 1_000_000);
  if (ms < minMs || ms > maxMs) {
    v.add(field, `must be from ${minMs} ms to ${maxMs} ms; got ${ms} ms`);
    return null;
  }
  return ms;
}

/** Timestamp of epoch ms. */
export function msToTs(ms: number): Timestamp {
  const clamped = Math.min(Math.max(ms, 0), MAX_TIME_MS);
  return create(TimestampSchema, { seconds: BigInt(Math.floor(clamped / 1000)), nanos: (clamped % 1000) * 1_000_000 });
}

/** Duration of ms. */
export function msToDur(ms: number): Duration {
  return create(DurationSchema, { seconds: BigInt(Math.trunc(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });
}

/** Parses a required UUID id field. */
export function requiredId(raw: string, field: string, v: Violations): string {
  const r = parseUuid(raw);
  if (!r.ok) {
    v.add(field, r.error === "EMPTY" ? "is required" : r.error === "NIL" ? "must not be the nil UUID" : "must be a canonical UUID (8-4-4-4-12 hex)");
    return raw;
  }
  return r.value;
}

/** Parses an optional UUID id field (empty = absent). */
export function optionalId(raw: string, field: string, v: Violations): string | null {
  return raw === "" ? null : requiredId(raw, field, v);
}

export const asRun = (s: string) => s as RunId;
export const asTask = (s: string) => s as TaskId;
export const asAttempt = (s: string) => s as AttemptId;
export const asToken = (s: string) => s as LeaseToken;

/** A lease token: any non-empty printable string up to 64 characters (tokens are UUIDs). */
export function requiredToken(raw: string, field: string, v: Violations): LeaseToken {
  if (raw.length === 0) v.add(field, "is required");
  else if (raw.length > 64 || !/^[\x21-\x7e]+$/.test(raw)) v.add(field, "is not a lease token");
  return raw as LeaseToken;
}

// ── enums ─────────────────────────────────────────────────────────────────────────────

const STATE_TO_PB: Record<DomainState, RunState> = {
  SCHEDULED: RunState.SCHEDULED,
  READY: RunState.READY,
  LEASED: RunState.LEASED,
  RUNNING: RunState.RUNNING,
  RETRY_WAIT: RunState.RETRY_WAIT,
  SUSPENDED: RunState.SUSPENDED,
  COMPLETED: RunState.COMPLETED,
  FAILED: RunState.FAILED,
  CANCELED: RunState.CANCELED,
};
const PB_TO_STATE = new Map<number, DomainState>(Object.entries(STATE_TO_PB).map(([k, n]) => [n, k as DomainState]));

export const stateToPb = (s: DomainState): RunState => STATE_TO_PB[s];

/** Domain state of a proto enum value; adds a violation for UNSPECIFIED or unknown numbers. */
export function pbToState(n: RunState, field: string, v: Violations): DomainState | null {
  const s = PB_TO_STATE.get(n);
  if (!s) v.add(field, `is not a run state (${n})`);
  return s ?? null;
}

const OUTCOME_TO_PB: Record<DomainOutcome, AttemptOutcome> = {
  SUCCESS: AttemptOutcome.SUCCESS,
  TERMINAL_FAILURE: AttemptOutcome.TERMINAL_FAILURE,
  RETRYABLE_FAILURE: AttemptOutcome.RETRYABLE_FAILURE,
  TIMEOUT: AttemptOutcome.TIMEOUT,
  SUSPENDED: AttemptOutcome.SUSPENDED,
  CANCELED: AttemptOutcome.CANCELED,
};

/** Worker outcome of a proto value; UNSPECIFIED, CANCELED and unknown numbers are violations. */
export function pbToWorkerOutcome(n: AttemptOutcome, field: string, v: Violations): Exclude<DomainOutcome, "CANCELED"> | null {
  switch (n) {
    case AttemptOutcome.SUCCESS:
      return "SUCCESS";
    case AttemptOutcome.TERMINAL_FAILURE:
      return "TERMINAL_FAILURE";
    case AttemptOutcome.RETRYABLE_FAILURE:
      return "RETRYABLE_FAILURE";
    case AttemptOutcome.TIMEOUT:
      return "TIMEOUT";
    case AttemptOutcome.SUSPENDED:
      return "SUSPENDED";
    case AttemptOutcome.CANCELED:
      v.add(field, "CANCELED is set by the server only");
      return null;
    default:
      v.add(field, n === AttemptOutcome.UNSPECIFIED ? "is required" : `is not an attempt outcome (${n})`);
      return null;
  }
}

const TASK_STATUS_TO_PB: Record<DomainTaskStatus, TaskStatus> = {
  ACTIVE: TaskStatus.ACTIVE,
  COMPLETED: TaskStatus.COMPLETED,
  FAILED: TaskStatus.FAILED,
  CANCELED: TaskStatus.CANCELED,
};
const PB_TO_TASK_STATUS = new Map<number, DomainTaskStatus>(Object.entries(TASK_STATUS_TO_PB).map(([k, n]) => [n, k as DomainTaskStatus]));

/** Domain task status of a proto value, or a violation. */
export function pbToTaskStatus(n: TaskStatus, field: string, v: Violations): DomainTaskStatus | null {
  const s = PB_TO_TASK_STATUS.get(n);
  if (!s) v.add(field, `is not a task status (${n})`);
  return s ?? null;
}

function misfireOf(n: MisfirePolicy, field: string, v: Violations): DomainMisfire {
  switch (n) {
    case MisfirePolicy.UNSPECIFIED:
    case MisfirePolicy.CATCH_UP:
      return "CATCH_UP";
    case MisfirePolicy.SKIP:
      return "SKIP";
    case MisfirePolicy.COALESCE:
      return "COALESCE";
    default:
      v.add(field, `is not a misfire policy (${n})`);
      return "CATCH_UP";
  }
}

function holdOf(n: PbHoldPolicy, field: string, v: Violations): HoldPolicy {
  switch (n) {
    case PbHoldPolicy.UNSPECIFIED:
    case PbHoldPolicy.HOLD_DURING_RETRY:
      return "HOLD_DURING_RETRY";
    case PbHoldPolicy.RELEASE_ON_RETRY:
      return "RELEASE_ON_RETRY";
    default:
      v.add(field, `is not a hold policy (${n})`);
      return "HOLD_DURING_RETRY";
  }
}

const DAY = 86_400_000;

/** Converts a proto TaskSpec (with defaults applied); violations use `prefix` + proto path. */
export function taskSpecFromPb(pb: PbTaskSpec | undefined, prefix: string, v: Violations): TaskSpec {
  const s = pb ?? create(TaskSpecSchema);
  if (!pb) v.add(prefix.replace(/\.$/, ""), "is required");
  const p = s.policy?.kind;
  let policy: PolicySpec;
  switch (p?.case) {
    case "repeat": {
      const r = p.value;
      policy = {
        kind: "REPEAT",
        count: r.count,
        intervalMs: durToMs(r.interval, `${prefix}policy.repeat.interval`, v, 0, 3_650 * DAY) ?? 0,
        startAt: tsToMs(r.startAt, `${prefix}policy.repeat.start_at`, v),
      };
      break;
    }
    case "cron": {
      const c = p.value;
      policy = {
        kind: "CRON",
        expression: c.expression,
        timeZone: c.timeZone === "" ? "UTC" : c.timeZone,
        maxOccurrences: c.maxOccurrences,
        misfire: misfireOf(c.misfirePolicy, `${prefix}policy.cron.misfire_policy`, v),
        startAt: tsToMs(c.startAt, `${prefix}policy.cron.start_at`, v),
      };
      break;
    }
    case "once":
      policy = { kind: "ONCE", startAt: tsToMs(p.value.startAt, `${prefix}policy.once.start_at`, v) };
      break;
    default:
      policy = { kind: "ONCE", startAt: null };
  }
  const c = s.constraints;
  let backoff: BackoffPolicy = DEFAULT_BACKOFF;
  const b = c?.backoff?.kind;
  if (b?.case === "fixed") {
    const ms = durToMs(b.value.interval, `${prefix}constraints.backoff.fixed.interval`, v, 0, 7 * DAY);
    if (!b.value.interval) v.add(`${prefix}constraints.backoff.fixed.interval`, "is required");
    backoff = { kind: "FIXED", intervalMs: ms ?? 0 };
  } else if (b?.case === "exponential") {
    const base = durToMs(b.value.base, `${prefix}constraints.backoff.exponential.base`, v, 1, 7 * DAY);
    if (!b.value.base) v.add(`${prefix}constraints.backoff.exponential.base`, "is required");
    const max = durToMs(b.value.max, `${prefix}constraints.backoff.exponential.max`, v, 1, 7 * DAY);
    backoff = { kind: "EXPONENTIAL", baseMs: base ?? 1_000, maxMs: max ?? Math.max(3_600_000, base ?? 0), jitter: b.value.jitter };
  }
  const conc = c?.concurrency;
  if (conc && conc.key === "") v.add(`${prefix}constraints.concurrency.key`, "is required when concurrency is set");
  const maxAttempts = c?.maxAttempts ?? 0;
  const parent = optionalId(s.parentTaskId, `${prefix}parent_task_id`, v);
  const deps = s.dependsOn.map((d, i) => requiredId(d, `${prefix}depends_on[${i}]`, v) as TaskId);
  return {
    queue: s.queue,
    payload: { data: s.payload?.data ?? new Uint8Array(0), contentType: s.payload?.contentType || "application/octet-stream" },
    policy,
    constraints: {
      maxAttempts: maxAttempts === 0 ? 1 : maxAttempts,
      attemptTimeoutMs: durToMs(c?.attemptTimeout, `${prefix}constraints.attempt_timeout`, v, 0, 7 * DAY) ?? 0,
      backoff,
      concurrency: conc && conc.key !== "" ? { key: conc.key, slots: conc.slots === 0 ? 1 : conc.slots, holdPolicy: holdOf(conc.holdPolicy, `${prefix}constraints.concurrency.hold_policy`, v) } : null,
      requiredCapabilities: c?.requiredCapabilities ?? [],
    },
    metadata: { priority: s.metadata?.priority ?? 0, tags: s.metadata?.tags ?? [], description: s.metadata?.description ?? "" },
    parentTaskId: parent as TaskId | null,
    dependsOn: deps,
  };
}

// ── records to messages ───────────────────────────────────────────────────────────────

/** The declared spec back as a proto message (the caller's form, defaults applied). */
export function taskSpecToPb(s: TaskSpec): PbTaskSpec {
  const p = s.policy;
  const start = (at: number | null) => (at === null ? undefined : msToTs(at));
  const b = s.constraints.backoff;
  return create(TaskSpecSchema, {
    queue: s.queue,
    payload: { data: s.payload.data, contentType: s.payload.contentType },
    policy: {
      kind:
        p.kind === "ONCE"
          ? { case: "once", value: { startAt: start(p.startAt) } }
          : p.kind === "REPEAT"
            ? { case: "repeat", value: { count: p.count, interval: msToDur(p.intervalMs), startAt: start(p.startAt) } }
            : {
                case: "cron",
                value: {
                  expression: p.expression,
                  timeZone: p.timeZone,
                  maxOccurrences: p.maxOccurrences,
                  misfirePolicy: p.misfire === "SKIP" ? MisfirePolicy.SKIP : p.misfire === "COALESCE" ? MisfirePolicy.COALESCE : MisfirePolicy.CATCH_UP,
                  startAt: start(p.startAt),
                },
              },
    },
    constraints: {
      maxAttempts: s.constraints.maxAttempts,
      ...(s.constraints.attemptTimeoutMs > 0 ? { attemptTimeout: msToDur(s.constraints.attemptTimeoutMs) } : {}),
      backoff: {
        kind:
          b.kind === "FIXED"
            ? { case: "fixed", value: { interval: msToDur(b.intervalMs) } }
            : { case: "exponential", value: { base: msToDur(b.baseMs), max: msToDur(b.maxMs), jitter: b.jitter } },
      },
      ...(s.constraints.concurrency
        ? {
            concurrency: {
              key: s.constraints.concurrency.key,
              slots: s.constraints.concurrency.slots,
              holdPolicy: s.constraints.concurrency.holdPolicy === "RELEASE_ON_RETRY" ? PbHoldPolicy.RELEASE_ON_RETRY : PbHoldPolicy.HOLD_DURING_RETRY,
            },
          }
        : {}),
      requiredCapabilities: [...s.constraints.requiredCapabilities],
    },
    metadata: { priority: s.metadata.priority, tags: [...s.metadata.tags], description: s.metadata.description },
    parentTaskId: s.parentTaskId ?? "",
    dependsOn: [...s.dependsOn],
  });
}

/** Task message of a record. */
export function taskToPb(t: TaskRecord): Task {
  return create(TaskSchema, {
    id: t.id,
    spec: taskSpecToPb(t.spec),
    status: TASK_STATUS_TO_PB[t.status],
    createdAt: msToTs(t.createdAt),
    statusChangedAt: msToTs(t.statusChangedAt),
    runsDerived: t.runsDerived,
    statusReason: t.statusReason,
    pendingDependencies: t.pendingDeps,
    depth: t.depth,
    ...(t.cron?.nextAt != null && t.status === "ACTIVE" ? { nextOccurrenceAt: msToTs(t.cron.nextAt) } : {}),
  });
}

/** Run message of a record (and its live lease, if any). */
export function runToPb(r: RunRecord, lease: LeaseRecord | undefined): Run {
  return create(RunSchema, {
    id: r.id,
    taskId: r.taskId,
    queue: r.queue,
    state: STATE_TO_PB[r.state],
    occurrence: r.occurrence,
    attemptCount: Math.min(r.attemptCount, 2_147_483_647),
    countedAttempts: Math.min(r.countedAttempts, 2_147_483_647),
    currentAttemptId: r.currentAttemptId ?? "",
    effectivePriority: r.effectivePriority,
    scheduledAt: msToTs(r.scheduledAt),
    createdAt: msToTs(r.createdAt),
    lastStateChangeAt: msToTs(r.lastStateChangeAt),
    ...(r.retryAt !== null && r.state === "RETRY_WAIT" ? { retryAt: msToTs(r.retryAt) } : {}),
    ...(lease && (r.state === "LEASED" || r.state === "RUNNING")
      ? { lease: create(LeaseInfoSchema, { workerId: lease.workerId, grantedAt: msToTs(lease.grantedAt), expiresAt: msToTs(lease.expiresAt) }) }
      : {}),
    concurrencyKey: r.keySlots?.key ?? "",
    keyHold: r.keyHold === "HELD" ? KeyHold.HELD : r.keyHold === "RESERVED" ? KeyHold.RESERVED : KeyHold.UNSPECIFIED,
    revision: BigInt(r.revision),
    stateReason: r.stateReason,
  });
}

/** Attempt message of a record. */
export function attemptToPb(a: AttemptRecord): Attempt {
  return create(AttemptSchema, {
    id: a.id,
    runId: a.runId,
    number: Math.min(a.number, 2_147_483_647),
    workerId: a.workerId,
    outcome: a.outcome ? OUTCOME_TO_PB[a.outcome] : AttemptOutcome.UNSPECIFIED,
    error: a.error,
    output: a.output,
    startedAt: msToTs(a.startedAt),
    ...(a.finishedAt !== null ? { finishedAt: msToTs(a.finishedAt) } : {}),
    counted: a.counted,
  });
}

/** RunEvent message of a log entry. */
export function eventToPb(e: EventRecord): RunEvent {
  return create(RunEventSchema, {
    revision: BigInt(e.revision),
    type: e.type === "CREATED" ? RunEventType.CREATED : e.type === "PRIORITY_CHANGED" ? RunEventType.PRIORITY_CHANGED : RunEventType.TRANSITION,
    runId: e.runId,
    taskId: e.taskId,
    queue: e.queue,
    fromState: e.from ? STATE_TO_PB[e.from] : RunState.UNSPECIFIED,
    toState: STATE_TO_PB[e.to],
    time: msToTs(e.at),
    ...(e.attempt
      ? {
          attempt: {
            id: e.attempt.id,
            number: e.attempt.number,
            outcome: e.attempt.outcome ? OUTCOME_TO_PB[e.attempt.outcome] : AttemptOutcome.UNSPECIFIED,
            error: e.attempt.error,
            workerId: e.attempt.workerId,
          },
        }
      : {}),
    reason: e.reason,
    effectivePriority: e.priority,
  });
}

/** QueueInfo message of a queue record. */
export function queueToPb(q: QueueRecord): QueueInfo {
  return create(QueueInfoSchema, { name: q.name, paused: q.paused, runsPerSecond: q.ratePerSecond, burst: q.burst });
}
