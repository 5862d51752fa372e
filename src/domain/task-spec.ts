/**
 * What a caller declares about a task, in engine terms (epoch ms, branded ids), with the
 * validation every submission goes through before anything touches storage. Field paths in
 * violations use proto field names relative to the TaskSpec ("queue",
 * "policy.repeat.count"), so the server can prefix them ("spec.", "tasks[3].spec.").
 */
import type { CronSchedule, MisfirePolicy } from "./derive.js";
import type { TaskId } from "./ids.js";
import type { HoldPolicy, KeySpec } from "./keys.js";
import { BOUNDS, type Limits } from "./limits.js";
import type { Result } from "./result.js";
import { type BackoffPolicy, DEFAULT_BACKOFF } from "./retry.js";
import { isValidInstant } from "./time.js";
import { type FieldViolation, checkInt, prefixed, utf8Length } from "./violations.js";

/** Parses a cron expression in a time zone; the error is the parser's message. */
export type CronParser = (expression: string, timeZone: string) => Result<CronSchedule, string>;

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

// Control characters are exactly what this pattern is for.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;
const MAX_PRIORITY = BOUNDS.priority.max;
const MAX_DELAY_MS = BOUNDS.maxDelayMs;

function checkInstant(v: FieldViolation[], field: string, at: number | null): void {
  if (at !== null && !isValidInstant(at)) v.push({ field, description: "must lie between 1970-01-01 and 9999-12-31" });
}

/** Valid queue name? */
export function checkQueueName(v: FieldViolation[], field: string, q: string): void {
  if (!BOUNDS.queueName.test(q)) v.push({ field, description: `must match ${BOUNDS.queueNameText}` });
}

/** Valid concurrency key? 1 to 256 bytes of UTF-8, no control characters. */
export function checkConcurrencyKey(v: FieldViolation[], field: string, key: string): void {
  const n = utf8Length(key);
  if (n < BOUNDS.keyBytes.min || n > BOUNDS.keyBytes.max) v.push({ field, description: `must be 1 to 256 bytes of UTF-8; got ${n}` });
  else if (CONTROL.test(key) || key.includes("\uFFFD")) v.push({ field, description: "must not contain control characters or invalid UTF-8" });
}

/**
 * Every violation of `spec` against `limits`. Cron expressions are parsed here so an invalid
 * one is refused with the parser's message. An empty list means the spec may be stored.
 */
export function validateTaskSpec(spec: TaskSpec, limits: Limits, parseCron: CronParser): FieldViolation[] {
  const v: FieldViolation[] = [];
  checkQueueName(v, "queue", spec.queue);
  if (spec.payload.data.byteLength > limits.maxPayloadBytes) {
    v.push({ field: "payload.data", description: `is ${spec.payload.data.byteLength} bytes; the limit is ${limits.maxPayloadBytes}` });
  }
  const ct = spec.payload.contentType;
  if (ct.length < 1 || ct.length > BOUNDS.contentTypeLength || !PRINTABLE_ASCII.test(ct)) {
    v.push({ field: "payload.content_type", description: "must be 1 to 255 printable ASCII characters" });
  }
  const p = spec.policy;
  switch (p.kind) {
    case "ONCE":
      checkInstant(v, "policy.once.start_at", p.startAt);
      break;
    case "REPEAT":
      checkInt(v, "policy.repeat.count", p.count, 1, limits.maxRepeatCount);
      checkInt(v, "policy.repeat.interval", p.intervalMs, 0, BOUNDS.maxRepeatIntervalMs);
      checkInstant(v, "policy.repeat.start_at", p.startAt);
      break;
    case "CRON": {
      const parsed = parseCron(p.expression, p.timeZone);
      if (!parsed.ok) {
        const field = parsed.error.startsWith("unknown time zone") ? "policy.cron.time_zone" : "policy.cron.expression";
        v.push({ field, description: parsed.error });
      }
      checkInt(v, "policy.cron.max_occurrences", p.maxOccurrences, 0, BOUNDS.maxOccurrences);
      checkInstant(v, "policy.cron.start_at", p.startAt);
      break;
    }
  }
  const c = spec.constraints;
  checkInt(v, "constraints.max_attempts", c.maxAttempts, BOUNDS.maxAttempts.min, BOUNDS.maxAttempts.max);
  checkInt(v, "constraints.attempt_timeout", c.attemptTimeoutMs, 0, MAX_DELAY_MS);
  const b = c.backoff;
  if (b.kind === "FIXED") {
    checkInt(v, "constraints.backoff.fixed.interval", b.intervalMs, 0, MAX_DELAY_MS);
  } else {
    checkInt(v, "constraints.backoff.exponential.base", b.baseMs, 1, MAX_DELAY_MS);
    checkInt(v, "constraints.backoff.exponential.max", b.maxMs, 1, MAX_DELAY_MS);
    // Compared only when base itself is valid: a base out of range is the one problem to report.
    const baseOk = Number.isSafeInteger(b.baseMs) && b.baseMs >= 1 && b.baseMs <= MAX_DELAY_MS;
    if (baseOk && Number.isSafeInteger(b.maxMs) && b.maxMs < b.baseMs) {
      v.push({ field: "constraints.backoff.exponential.max", description: "must be at least base" });
    }
  }
  if (c.concurrency) {
    checkConcurrencyKey(v, "constraints.concurrency.key", c.concurrency.key);
    checkInt(v, "constraints.concurrency.slots", c.concurrency.slots, BOUNDS.keySlots.min, BOUNDS.keySlots.max);
  }
  if (c.requiredCapabilities.length > BOUNDS.taskCapabilities) v.push({ field: "constraints.required_capabilities", description: "at most 32 entries" });
  c.requiredCapabilities.forEach((cap, i) => {
    if (!BOUNDS.capabilityName.test(cap)) {
      v.push({ field: `constraints.required_capabilities[${i}]`, description: `must match ${BOUNDS.capabilityNameText}` });
    }
  });
  const m = spec.metadata;
  checkInt(v, "metadata.priority", m.priority, -MAX_PRIORITY, MAX_PRIORITY);
  if (m.tags.length > BOUNDS.tags) v.push({ field: "metadata.tags", description: "at most 32 entries" });
  m.tags.forEach((t, i) => {
    if (t.length < 1 || t.length > BOUNDS.tagLength || CONTROL.test(t)) v.push({ field: `metadata.tags[${i}]`, description: "must be 1 to 64 characters without control characters" });
  });
  if (m.description.length > BOUNDS.descriptionLength) v.push({ field: "metadata.description", description: "at most 1,024 characters" });
  if (spec.dependsOn.length > limits.maxDependencies) {
    v.push({ field: "depends_on", description: `at most ${limits.maxDependencies} tasks` });
  }
  return v;
}

/** A backoff as the caller wrote it: unset durations are null. */
export type BackoffInput =
  | { readonly kind: "FIXED"; readonly intervalMs: number | null }
  | { readonly kind: "EXPONENTIAL"; readonly baseMs: number | null; readonly maxMs: number | null; readonly jitter: boolean };

/**
 * A task spec as the caller wrote it, before defaults: "" and 0 and null mean "unset" where
 * the wire has no presence (content type, time zone, max_attempts, slots, timeout, backoff).
 * A resolved TaskSpec is a valid input.
 */
export interface TaskSpecInput {
  readonly queue: string;
  /** contentType "" = application/octet-stream. */
  readonly payload: { readonly data: Uint8Array; readonly contentType: string };
  /** A cron time zone "" = UTC. */
  readonly policy: PolicySpec;
  readonly constraints: {
    /** 0 = 1. */
    readonly maxAttempts: number;
    /** null or 0 = no attempt timeout. */
    readonly attemptTimeoutMs: number | null;
    /** null = DEFAULT_BACKOFF; an exponential max left unset = max(1 h, base). */
    readonly backoff: BackoffInput | null;
    /** slots 0 = 1; holdPolicy null = HOLD_DURING_RETRY. */
    readonly concurrency: { readonly key: string; readonly slots: number; readonly holdPolicy: HoldPolicy | null } | null;
    readonly requiredCapabilities: readonly string[];
  };
  readonly metadata: { readonly priority: number; readonly tags: readonly string[]; readonly description: string };
  readonly parentTaskId: TaskId | null;
  readonly dependsOn: readonly TaskId[];
}

/** Content type of a payload that declares none. */
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";
/** Max of an exponential backoff that declares a base only: max(1 h, base). */
const DEFAULT_EXPONENTIAL_MAX_MS = 3_600_000;

function resolveBackoff(b: BackoffInput | null, v: FieldViolation[]): BackoffPolicy {
  if (b === null) return DEFAULT_BACKOFF;
  if (b.kind === "FIXED") {
    if (b.intervalMs === null) v.push({ field: "constraints.backoff.fixed.interval", description: "is required" });
    return { kind: "FIXED", intervalMs: b.intervalMs ?? 0 };
  }
  if (b.baseMs === null) v.push({ field: "constraints.backoff.exponential.base", description: "is required" });
  const base = b.baseMs ?? 1_000;
  return { kind: "EXPONENTIAL", baseMs: base, maxMs: b.maxMs ?? Math.max(DEFAULT_EXPONENTIAL_MAX_MS, base), jitter: b.jitter };
}

/**
 * Compiles a caller's spec: resolves every default, validates against `limits` (field paths
 * relative to the spec, e.g. "constraints.max_attempts") and normalises it. The one place a
 * task spec is checked.
 */
export function compileTaskSpec(input: TaskSpecInput, limits: Limits, parseCron: CronParser): { spec: TaskSpec; violations: FieldViolation[] } {
  const v: FieldViolation[] = [];
  const c = input.constraints;
  const p = input.policy;
  const conc = c.concurrency;
  const spec: TaskSpec = {
    ...input,
    payload: { data: input.payload.data, contentType: input.payload.contentType === "" ? DEFAULT_CONTENT_TYPE : input.payload.contentType },
    policy: p.kind === "CRON" && p.timeZone === "" ? { ...p, timeZone: "UTC" } : p,
    constraints: {
      maxAttempts: c.maxAttempts === 0 ? 1 : c.maxAttempts,
      attemptTimeoutMs: c.attemptTimeoutMs ?? 0,
      backoff: resolveBackoff(c.backoff, v),
      concurrency: conc ? { key: conc.key, slots: conc.slots === 0 ? 1 : conc.slots, holdPolicy: conc.holdPolicy ?? "HOLD_DURING_RETRY" } : null,
      requiredCapabilities: c.requiredCapabilities,
    },
  };
  const checked = validateTaskSpec(spec, limits, parseCron);
  const seen = new Set(v.map((x) => x.field));
  prefixed(v, "", checked.filter((x) => !seen.has(x.field)));
  return { spec: normalizeSpec(spec), violations: v };
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

function base64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function canon(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bytes: base64(value) };
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
