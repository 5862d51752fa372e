/**
 * Worker and admin requests checked once, with defaults resolved: the engine calls these
 * before queueing a command, so a request that reaches a command is valid. Field paths are
 * proto field names; batch callers pass a prefix ("completions[3].").
 */
import { checkQueueName } from "./task-spec.js";
import { BOUNDS, type Limits } from "./limits.js";
import type { WorkerOutcome } from "./lifecycle.js";
import { type Result, err, ok } from "./result.js";
import { type FieldViolation, utf8Length } from "./violations.js";

/** A LeaseRuns request as the caller wrote it: unset numbers are null. */
export interface LeaseRequestInput {
  readonly queues: readonly string[];
  readonly workerId: string;
  readonly capabilities: readonly string[];
  /** null or 0: `BOUNDS.defaultMaxRuns`. */
  readonly maxRuns: number | null;
  /** null: `BOUNDS.defaultLeaseMs`. */
  readonly leaseDurationMs: number | null;
  /** null: 0 (no long poll). */
  readonly waitMs: number | null;
  readonly startAttempt: boolean;
}

/** A valid LeaseRuns request with defaults applied; queues deduplicated in order. */
export interface CompiledLeaseRequest {
  readonly queues: readonly string[];
  readonly workerId: string;
  readonly capabilities: ReadonlySet<string>;
  readonly maxRuns: number;
  readonly leaseDurationMs: number;
  readonly waitMs: number;
  readonly startAttempt: boolean;
}

function inRange(n: number, r: { readonly min: number; readonly max: number }): boolean {
  return Number.isSafeInteger(n) && n >= r.min && n <= r.max;
}

/** Checks a lease request and resolves its defaults. */
export function compileLeaseRequest(req: LeaseRequestInput): Result<CompiledLeaseRequest, FieldViolation[]> {
  const v: FieldViolation[] = [];
  if (req.queues.length < BOUNDS.leaseQueues.min || req.queues.length > BOUNDS.leaseQueues.max) {
    v.push({ field: "queues", description: `must name ${BOUNDS.leaseQueues.min} to ${BOUNDS.leaseQueues.max} queues` });
  }
  req.queues.forEach((q, i) => checkQueueName(v, `queues[${i}]`, q));
  if (!BOUNDS.workerId.test(req.workerId)) {
    v.push({ field: "worker_id", description: "must be 1 to 128 printable ASCII characters, not starting with a space" });
  }
  if (req.capabilities.length > BOUNDS.workerCapabilities) v.push({ field: "capabilities", description: `at most ${BOUNDS.workerCapabilities} entries` });
  req.capabilities.forEach((c, i) => {
    if (!BOUNDS.capabilityName.test(c)) v.push({ field: `capabilities[${i}]`, description: `must match ${BOUNDS.capabilityNameText}` });
  });
  const maxRuns = req.maxRuns === null || req.maxRuns === 0 ? BOUNDS.defaultMaxRuns : req.maxRuns;
  if (!inRange(maxRuns, BOUNDS.leaseMaxRuns)) v.push({ field: "max_runs", description: "must be 0 (means 1) to 1000" });
  const leaseDurationMs = req.leaseDurationMs ?? BOUNDS.defaultLeaseMs;
  if (!inRange(leaseDurationMs, BOUNDS.leaseMs)) v.push({ field: "lease_duration", description: "must be 1 s to 1 h" });
  const waitMs = req.waitMs ?? 0;
  if (!inRange(waitMs, BOUNDS.waitMs)) v.push({ field: "wait", description: "must be 0 to 60 s" });
  if (v.length > 0) return err(v);
  return ok({
    queues: [...new Set(req.queues)],
    workerId: req.workerId,
    capabilities: new Set(req.capabilities),
    maxRuns,
    leaseDurationMs,
    waitMs,
    startAttempt: req.startAttempt,
  });
}

/** Checks a heartbeat's lease extension (null: the lease's own length). */
export function checkExtendBy(v: FieldViolation[], field: string, extendByMs: number | null): void {
  if (extendByMs !== null && !inRange(extendByMs, BOUNDS.leaseMs)) v.push({ field, description: "must be 1 s to 1 h" });
}

/** What a completion carries besides its ids. */
export interface CompletionBody {
  readonly outcome: WorkerOutcome;
  readonly output: Uint8Array;
  readonly error: string;
}

/** Checks a completion's output and error against the limits. */
export function checkCompletion(v: FieldViolation[], prefix: string, c: CompletionBody, limits: Limits): void {
  if (c.output.byteLength > limits.maxOutputBytes) {
    v.push({ field: `${prefix}output`, description: `is ${c.output.byteLength} bytes; the limit is ${limits.maxOutputBytes}` });
  }
  if (c.output.byteLength > 0 && c.outcome !== "SUCCESS") v.push({ field: `${prefix}output`, description: "only a SUCCESS outcome carries output" });
  const errBytes = utf8Length(c.error);
  if (errBytes > limits.maxErrorBytes) v.push({ field: `${prefix}error`, description: `is ${errBytes} bytes; the limit is ${limits.maxErrorBytes}` });
}

/** Checks an effective priority. */
export function checkPriority(v: FieldViolation[], field: string, priority: number): void {
  if (!inRange(priority, BOUNDS.priority)) v.push({ field, description: "must be an integer from -1000000 to 1000000" });
}

/** Checks an operator's reason text. */
export function checkReason(v: FieldViolation[], field: string, reason: string): void {
  if (reason.length > BOUNDS.reasonLength) v.push({ field, description: `at most ${BOUNDS.reasonLength} characters` });
}

/** Checks a batch's size. */
export function checkBatchSize(v: FieldViolation[], field: string, n: number, limits: Limits): void {
  if (n < 1 || n > limits.maxBatch) v.push({ field, description: `must hold 1 to ${limits.maxBatch} items` });
}

/**
 * Checks a queue rate limit and resolves its burst: 0 with a rate means the rate rounded up
 * (at least 1); no rate means no burst.
 */
export function compileRateLimit(ratePerSecond: number, burst: number): Result<{ ratePerSecond: number; burst: number }, FieldViolation[]> {
  const v: FieldViolation[] = [];
  if (!Number.isFinite(ratePerSecond) || ratePerSecond < 0 || ratePerSecond > BOUNDS.rate.max || (ratePerSecond > 0 && ratePerSecond < BOUNDS.rate.min)) {
    v.push({ field: "runs_per_second", description: "must be 0 (no limit) or 0.001 to 1000000" });
  }
  if (!inRange(burst, BOUNDS.burst)) v.push({ field: "burst", description: "must be 0 to 1000000" });
  if (v.length > 0) return err(v);
  return ok({ ratePerSecond, burst: ratePerSecond > 0 ? (burst > 0 ? burst : Math.max(1, Math.ceil(ratePerSecond))) : 0 });
}

/** page_size 0 means the default page; otherwise 1 to `limits.maxPageSize`. */
export const DEFAULT_PAGE_SIZE = 100;

/** Resolves a page size, or adds a violation. */
export function pageSizeOf(v: FieldViolation[], field: string, n: number, limits: Limits): number {
  if (n === 0) return DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(n) || n < 1 || n > limits.maxPageSize) {
    v.push({ field, description: `must be from 1 to ${limits.maxPageSize}` });
    return DEFAULT_PAGE_SIZE;
  }
  return n;
}

/** Progress interval of a watch: 0 means 5 s; otherwise 100 ms to 60 s. */
export function progressIntervalOf(v: FieldViolation[], field: string, ms: number): number {
  const interval = ms === 0 ? 5_000 : ms;
  if (!Number.isSafeInteger(interval) || interval < 100 || interval > 60_000) v.push({ field, description: "must be 0 (default 5000) or 100 to 60000" });
  return interval;
}
