/**
 * Every bound of the service in one table (SPEC §11): sizes, counts, durations, name
 * patterns and the defaults resolved when a request leaves a field unset. The configurable
 * ones live in `Limits` (with `DEFAULT_LIMITS`); the fixed ones are constants below. Domain,
 * engine, server and tests all read them from here.
 */

/** Configurable limits, with documented defaults in `DEFAULT_LIMITS`. */
export interface Limits {
  /** Task payload bytes. Default 1 MiB. */
  readonly maxPayloadBytes: number;
  /** Attempt output bytes. Default 1 MiB. */
  readonly maxOutputBytes: number;
  /** Attempt error text, UTF-8 bytes. Default 64 KiB. */
  readonly maxErrorBytes: number;
  /** Runs of a repeat policy. Default 10,000. */
  readonly maxRepeatCount: number;
  /** Levels of task hierarchy. Default 8. */
  readonly maxTaskDepth: number;
  /** Items of one batch call. Default 1,000. */
  readonly maxBatch: number;
  /** Items of one page. Default 1,000. */
  readonly maxPageSize: number;
  /** Prerequisites of one task. Default 64. */
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

/** Fixed bounds. Durations in milliseconds. */
export const BOUNDS = {
  /** Queue names: [A-Za-z0-9._:-]{1,128}. */
  queueName: /^[A-Za-z0-9._:-]{1,128}$/,
  queueNameText: "[A-Za-z0-9._:-]{1,128}",
  /** Capability names: [A-Za-z0-9._:-]{1,64}. */
  capabilityName: /^[A-Za-z0-9._:-]{1,64}$/,
  capabilityNameText: "[A-Za-z0-9._:-]{1,64}",
  /** Worker ids: 1 to 128 printable ASCII characters, not starting with a space. */
  workerId: /^[\x21-\x7e][\x20-\x7e]{0,127}$/,
  /** Concurrency keys: 1 to 256 bytes of UTF-8. */
  keyBytes: { min: 1, max: 256 },
  /** Slots of one concurrency key. */
  keySlots: { min: 1, max: 10_000 },
  /** Effective and declared priorities. */
  priority: { min: -1_000_000, max: 1_000_000 },
  maxAttempts: { min: 1, max: 1_000 },
  /** Backoffs and attempt timeouts: at most 7 days. */
  maxDelayMs: 7 * 86_400_000,
  /** Repeat interval: at most 10 years. */
  maxRepeatIntervalMs: 3_650 * 86_400_000,
  /** Queues named by one LeaseRuns call. */
  leaseQueues: { min: 1, max: 64 },
  /** Capabilities a worker declares; a task requires at most `taskCapabilities`. */
  workerCapabilities: 64,
  taskCapabilities: 32,
  /** Runs handed out by one LeaseRuns call; 0 on the wire means `defaultMaxRuns`. */
  leaseMaxRuns: { min: 1, max: 1_000 },
  defaultMaxRuns: 1,
  /** Lease length (and heartbeat extension); unset on the wire means `defaultLeaseMs`. */
  leaseMs: { min: 1_000, max: 3_600_000 },
  defaultLeaseMs: 30_000,
  /** Long-poll wait of LeaseRuns. */
  waitMs: { min: 0, max: 60_000 },
  /** Tags of a task, each 1 to 64 characters. */
  tags: 32,
  tagLength: 64,
  descriptionLength: 1_024,
  contentTypeLength: 255,
  /** Reasons given by operators (suspend, cancel). */
  reasonLength: 256,
  /** Queue dispatch rate: 0 (none) or 0.001 to 1,000,000 runs per second. */
  rate: { min: 0.001, max: 1_000_000 },
  burst: { min: 0, max: 1_000_000 },
  /** Cron max_occurrences (0 = unlimited). */
  maxOccurrences: 2_147_483_647,
} as const;
