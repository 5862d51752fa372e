/**
 * A proto TaskSpec to the engine's TaskSpecInput: a mechanical mapping that leaves unset
 * fields unset (0, "", null) for the domain to resolve (src/domain/task-spec.ts
 * compileTaskSpec). Only wire problems are violations here: malformed ids, timestamps and
 * durations, unknown enum numbers, a missing spec.
 */
import { create } from "@bufbuild/protobuf";
import type { BackoffInput, PolicySpec, TaskSpecInput } from "../../engine/api.js";
import { type TaskSpec as PbTaskSpec, TaskSpecSchema } from "../../gen/actionqueue/v1/task_pb.js";
import { holdOf, misfireOf } from "./enums.js";
import { type Violations, durToMs, optionalTaskId, taskIdOf, tsToMs } from "./wire.js";

function policyOf(s: PbTaskSpec, prefix: string, v: Violations): PolicySpec {
  const p = s.policy?.kind;
  switch (p?.case) {
    case "repeat":
      return {
        kind: "REPEAT",
        count: p.value.count,
        intervalMs: durToMs(p.value.interval, `${prefix}policy.repeat.interval`, v) ?? 0,
        startAt: tsToMs(p.value.startAt, `${prefix}policy.repeat.start_at`, v),
      };
    case "cron":
      return {
        kind: "CRON",
        expression: p.value.expression,
        timeZone: p.value.timeZone,
        maxOccurrences: p.value.maxOccurrences,
        misfire: misfireOf(p.value.misfirePolicy, `${prefix}policy.cron.misfire_policy`, v),
        startAt: tsToMs(p.value.startAt, `${prefix}policy.cron.start_at`, v),
      };
    case "once":
      return { kind: "ONCE", startAt: tsToMs(p.value.startAt, `${prefix}policy.once.start_at`, v) };
    default:
      return { kind: "ONCE", startAt: null };
  }
}

function backoffOf(s: PbTaskSpec, prefix: string, v: Violations): BackoffInput | null {
  const b = s.constraints?.backoff?.kind;
  if (b?.case === "fixed") return { kind: "FIXED", intervalMs: durToMs(b.value.interval, `${prefix}constraints.backoff.fixed.interval`, v) };
  if (b?.case === "exponential") {
    const f = `${prefix}constraints.backoff.exponential`;
    return { kind: "EXPONENTIAL", baseMs: durToMs(b.value.base, `${f}.base`, v), maxMs: durToMs(b.value.max, `${f}.max`, v), jitter: b.value.jitter };
  }
  return null;
}

/** Decodes a proto TaskSpec; violations use `prefix` + proto path ("spec.", "tasks[2].spec."). */
export function taskSpecFromPb(pb: PbTaskSpec | undefined, prefix: string, v: Violations): TaskSpecInput {
  const s = pb ?? create(TaskSpecSchema);
  if (!pb) v.add(prefix.replace(/\.$/, ""), "is required");
  const c = s.constraints;
  const conc = c?.concurrency;
  return {
    queue: s.queue,
    payload: { data: s.payload?.data ?? new Uint8Array(0), contentType: s.payload?.contentType ?? "" },
    policy: policyOf(s, prefix, v),
    constraints: {
      maxAttempts: c?.maxAttempts ?? 0,
      attemptTimeoutMs: durToMs(c?.attemptTimeout, `${prefix}constraints.attempt_timeout`, v),
      backoff: backoffOf(s, prefix, v),
      concurrency: conc ? { key: conc.key, slots: conc.slots, holdPolicy: holdOf(conc.holdPolicy, `${prefix}constraints.concurrency.hold_policy`, v) } : null,
      requiredCapabilities: c?.requiredCapabilities ?? [],
    },
    metadata: { priority: s.metadata?.priority ?? 0, tags: s.metadata?.tags ?? [], description: s.metadata?.description ?? "" },
    parentTaskId: optionalTaskId(s.parentTaskId, `${prefix}parent_task_id`, v),
    dependsOn: s.dependsOn.map((d, i) => taskIdOf(d, `${prefix}depends_on[${i}]`, v)),
  };
}
