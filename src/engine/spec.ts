/**
 * What a caller declares about a task, in engine terms (epoch ms, branded ids), with the
 * validation every submission goes through before anything touches storage. Field paths in
 * violations use proto field names relative to the TaskSpec ("queue",
 * "policy.repeat.count"), so the server can prefix them ("spec.", "tasks[3].spec.").
 */
import type { TaskId } from "../domain/ids.js";
import type { HoldPolicy, KeySpec } from "../domain/keys.js";
import type { BackoffPolicy } from "../domain/retry.js";
import type { MisfirePolicy } from "../domain/derive.js";
import { isValidInstant } from "../domain/time.js";
import { parseCron } from "../cron/croner-schedule.js";
import type { FieldViolation } from "./errors.js";

/** Run policy; `startAt` null means "at submission". */
export type PolicySpec =
  | { readonly kind: "ONCE"; readonly startAt: number | null }
  | { readonly kind: "REPEAT"; readonly count: number; readonly intervalMs: number; readonly startAt: number | null }
  | {
      readonly kind: "CRON";
      readonly expression: string;
      readonly timeZone: string;
      readonly maxOccurrences: number;
      readonly misfire: MisfirePolicy;
      readonly startAt: number | null;
    };

/** A task as declared by its caller, with defaults applied. */
export interface TaskSpec {
  readonly queue: string;
  readonly payload: { readonly data: Uint8Array; readonly contentType: string };
  readonly policy: PolicySpec;
  readonly constraints: {
    readonly maxAttempts: number;
    /** 0 = no attempt timeout. */
    readonly attemptTimeoutMs: number;
    readonly backoff: BackoffPolicy;
    readonly concurrency: KeySpec | null;
    /** Sorted, without duplicates. */
    readonly requiredCapabilities: readonly string[];
  };
  readonly metadata: { readonly priority: number; readonly tags: readonly string[]; readonly description: string };
  readonly parentTaskId: TaskId | null;
  /** Sorted, without duplicates. */
  readonly dependsOn: readonly TaskId[];
}

/** Configurable limits (SPEC §11), with documented defaults in `DEFAULT_LIMITS`. */
export interface Limits {
  readonly maxPayloadBytes: number;
  readonly maxOutputBytes: number;
  readonly maxErrorBytes: number;
  readonly maxRepeatCount: number;
  readonly maxTaskDepth: number;
  readonly maxBatch: number;
  readonly maxPageSize: number;
  readonly maxDependencies: number;
}

/** Defaults: payload and output 1 MiB, error text 64 KiB, repeat 10,000, depth 8, batches and pages 1,000. */
export const DEFAULT_LIMITS: Limits = {
  maxPayloadBytes: 1 << 20,
  maxOutputBytes: 1 << 20,
  maxErrorBytes: 64 << 10,
  maxRepeatCount: 10_000,
  maxTaskDepth: 8,
  maxBatch: 1_000,
  maxPageSize: 1_000,
  maxDependencies: 64,
};

/** Queue names: [A-Za-z0-9._:-]{1,128}. */
export const QUEUE_NAME = /^[A-Za-z0-9._:-]{1,128}$/;
/** Capability names: [A-Za-z0-9._:-]{1,64}. */
export const CAPABILITY_NAME = /^[A-Za-z0-9._:-]{1,64}$/;
/** Priorities: -1,000,000 to 1,000,000. */
export const MAX_PRIORITY = 1_000_000;
/** Longest duration accepted for backoffs and timeouts: 7 days. */
export const MAX_DELAY_MS = 7 * 86_400_000;
/** Longest repeat interval: 10 years. */
export const MAX_REPEAT_INTERVAL_MS = 3_650 * 86_400_000;

const CONTROL = /[\u0000-\u001f\u007f]/;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** UTF-8 length of a string. */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

function checkInt(v: FieldViolation[], field: string, n: number, min: number, max: number): void {
  if (!Number.isSafeInteger(n) || n < min || n > max) v.push({ field, description: `must be an integer from ${min} to ${max}; got ${n}` });
}

function checkInstant(v: FieldViolation[], field: string, at: number | null): void {
  if (at !== null && !isValidInstant(at)) v.push({ field, description: "must lie between 1970-01-01 and 9999-12-31" });
}

/** Valid queue name? */
export function checkQueueName(v: FieldViolation[], field: string, q: string): void {
  if (!QUEUE_NAME.test(q)) v.push({ field, description: "must match [A-Za-z0-9._:-]{1,128}" });
}

/** Valid concurrency key? 1 to 256 bytes of UTF-8, no control characters. */
export function checkConcurrencyKey(v: FieldViolation[], field: string, key: string): void {
  const n = utf8Length(key);
  if (n < 1 || n > 256) v.push({ field, description: `must be 1 to 256 bytes of UTF-8; got ${n}` });
  else if (CONTROL.test(key) || key.includes("\uFFFD")) v.push({ field, description: "must not contain control characters or invalid UTF-8" });
}

/**
 * Every violation of `spec` against `limits`. Cron expressions are parsed here so an invalid
 * one is refused with the parser's message. An empty list means the spec may be stored.
 */
export function validateTaskSpec(spec: TaskSpec, limits: Limits): FieldViolation[] {
  const v: FieldViolation[] = [];
  checkQueueName(v, "queue", spec.queue);
  if (spec.payload.data.byteLength > limits.maxPayloadBytes) {
    v.push({ field: "payload.data", description: `is ${spec.payload.data.byteLength} bytes; the limit is ${limits.maxPayloadBytes}` });
  }
  const ct = spec.payload.contentType;
  if (ct.length < 1 || ct.length > 255 || !PRINTABLE_ASCII.test(ct)) {
    v.push({ field: "payload.content_type", description: "must be 1 to 255 printable ASCII characters" });
  }
  const p = spec.policy;
  switch (p.kind) {
    case "ONCE":
      checkInstant(v, "policy.once.start_at", p.startAt);
      break;
    case "REPEAT":
      checkInt(v, "policy.repeat.count", p.count, 1, limits.maxRepeatCount);
      checkInt(v, "policy.repeat.interval", p.intervalMs, 0, MAX_REPEAT_INTERVAL_MS);
      checkInstant(v, "policy.repeat.start_at", p.startAt);
      break;
    case "CRON": {
      const parsed = parseCron(p.expression, p.timeZone);
      if (!parsed.ok) {
        const field = parsed.error.startsWith("unknown time zone") ? "policy.cron.time_zone" : "policy.cron.expression";
        v.push({ field, description: parsed.error });
      }
      checkInt(v, "policy.cron.max_occurrences", p.maxOccurrences, 0, 2_147_483_647);
      checkInstant(v, "policy.cron.start_at", p.startAt);
      break;
    }
  }
  const c = spec.constraints;
  checkInt(v, "constraints.max_attempts", c.maxAttempts, 1, 1_000);
  checkInt(v, "constraints.attempt_timeout", c.attemptTimeoutMs, 0, MAX_DELAY_MS);
  const b = c.backoff;
  if (b.kind === "FIXED") {
    checkInt(v, "constraints.backoff.fixed.interval", b.intervalMs, 0, MAX_DELAY_MS);
  } else {
    checkInt(v, "constraints.backoff.exponential.base", b.baseMs, 1, MAX_DELAY_MS);
    checkInt(v, "constraints.backoff.exponential.max", b.maxMs, 1, MAX_DELAY_MS);
    if (Number.isSafeInteger(b.baseMs) && Number.isSafeInteger(b.maxMs) && b.maxMs < b.baseMs) {
      v.push({ field: "constraints.backoff.exponential.max", description: "must be at least base" });
    }
  }
  if (c.concurrency) {
    checkConcurrencyKey(v, "constraints.concurrency.key", c.concurrency.key);
    checkInt(v, "constraints.concurrency.slots", c.concurrency.slots, 1, 10_000);
  }
  if (c.requiredCapabilities.length > 32) v.push({ field: "constraints.required_capabilities", description: "at most 32 entries" });
  c.requiredCapabilities.forEach((cap, i) => {
    if (!CAPABILITY_NAME.test(cap)) v.push({ field: `constraints.required_capabilities[${i}]`, description: "must match [A-Za-z0-9._:-]{1,64}" });
  });
  const m = spec.metadata;
  checkInt(v, "metadata.priority", m.priority, -MAX_PRIORITY, MAX_PRIORITY);
  if (m.tags.length > 32) v.push({ field: "metadata.tags", description: "at most 32 entries" });
  m.tags.forEach((t, i) => {
    if (t.length < 1 || t.length > 64 || CONTROL.test(t)) v.push({ field: `metadata.tags[${i}]`, description: "must be 1 to 64 characters without control characters" });
  });
  if (m.description.length > 1_024) v.push({ field: "metadata.description", description: "at most 1,024 characters" });
  if (spec.dependsOn.length > limits.maxDependencies) {
    v.push({ field: "depends_on", description: `at most ${limits.maxDependencies} tasks` });
  }
  return v;
}

/** Resolves "start at submission" for a policy. */
export function resolveStart(policy: PolicySpec, now: number): number {
  return policy.startAt ?? now;
}

/** Normalises capabilities and dependencies (sorted, deduplicated) so equal specs compare equal. */
export function normalizeSpec(spec: TaskSpec): TaskSpec {
  return {
    ...spec,
    constraints: { ...spec.constraints, requiredCapabilities: [...new Set(spec.constraints.requiredCapabilities)].sort() },
    dependsOn: [...new Set(spec.dependsOn)].sort(),
  };
}

function canon(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  if (Array.isArray(value)) return value.map(canon);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = canon((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** A canonical string of a normalised spec: equal specs give equal strings (idempotency). */
export function canonicalSpec(spec: TaskSpec): string {
  return JSON.stringify(canon(spec));
}

/** The key spec with defaults applied: 1 slot, HOLD_DURING_RETRY. */
export function keySpec(key: string, slots = 1, holdPolicy: HoldPolicy = "HOLD_DURING_RETRY"): KeySpec {
  return { key, slots, holdPolicy };
}
