/**
 * Records and query results to response messages.
 */
import { create } from "@bufbuild/protobuf";
import { type Duration, DurationSchema } from "@bufbuild/protobuf/wkt";
import type { AttemptRecord, EventRecord, LeaseRecord, QueueRecord, RunRecord, TaskRecord, TaskSpec } from "../../engine/api.js";
import type { RunState as DomainState } from "../../domain/state.js";
import type { KeyView, QueueStats as QueueStatsView } from "../../engine/api.js";
import {
  type ConcurrencyKeyInfo,
  ConcurrencyKeyInfoSchema,
  type QueueInfo,
  QueueInfoSchema,
  type QueueStats,
  QueueStatsSchema,
  type RunCounts,
  RunCountsSchema,
} from "../../gen/actionqueue/v1/admin_service_pb.js";
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
} from "../../gen/actionqueue/v1/run_pb.js";
import { type Task, TaskSchema, type TaskSpec as PbTaskSpec, TaskSpecSchema } from "../../gen/actionqueue/v1/task_pb.js";
import { OUTCOME_TO_PB, STATE_TO_PB, TASK_STATUS_TO_PB, holdToPb, misfireToPb } from "./enums.js";
import { msToTs } from "./wire.js";


function msToDur(ms: number): Duration {
  return create(DurationSchema, { seconds: BigInt(Math.trunc(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });
}

/** The declared spec back as a proto message (the caller's form, defaults applied). */
function taskSpecToPb(s: TaskSpec): PbTaskSpec {
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
                  misfirePolicy: misfireToPb(p.misfire),
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
              holdPolicy: holdToPb(s.constraints.concurrency.holdPolicy),
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

/** ConcurrencyKeyInfo of a key's occupants. */
export function keyToPb(k: KeyView): ConcurrencyKeyInfo {
  return create(ConcurrencyKeyInfoSchema, {
    key: k.key,
    holders: k.holders.map(({ holder, run }) => ({
      runId: holder.runId,
      hold: holder.hold === "HELD" ? KeyHold.HELD : KeyHold.RESERVED,
      since: msToTs(holder.since),
      ...(run ? { state: STATE_TO_PB[run.state] } : {}),
      slots: holder.slots,
    })),
  });
}

/** RunCounts of counts per state. */
export function countsToPb(c: Record<DomainState, number>): RunCounts {
  return create(RunCountsSchema, {
    scheduled: BigInt(c.SCHEDULED),
    ready: BigInt(c.READY),
    leased: BigInt(c.LEASED),
    running: BigInt(c.RUNNING),
    retryWait: BigInt(c.RETRY_WAIT),
    suspended: BigInt(c.SUSPENDED),
    completed: BigInt(c.COMPLETED),
    failed: BigInt(c.FAILED),
    canceled: BigInt(c.CANCELED),
  });
}

/** QueueStats of one queue's stats; `oldest_ready_at` stays unset when no run is READY. */
export function queueStatsToPb(q: QueueStatsView): QueueStats {
  return create(QueueStatsSchema, {
    queue: queueToPb(q.queue),
    runs: countsToPb(q.counts),
    ...(q.oldestReadyAt !== null ? { oldestReadyAt: msToTs(q.oldestReadyAt) } : {}),
  });
}
