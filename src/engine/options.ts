/**
 * Engine options: what a caller may set (`EngineOptions`), resolved once with defaults
 * (`resolveOptions`) into what the modules read (`ResolvedOptions`).
 */
import { parseCron } from "../cron/croner-schedule.js";
import { DEFAULT_LIMITS, type Limits } from "../domain/limits.js";
import type { CronParser } from "../domain/task-spec.js";
import type { EngineLogger } from "./api.js";
import { DEFAULT_CONFLICT_BACKOFF_MS } from "./commit/conflicts.js";
import type { EngineObserver } from "./metrics.js";
import type { Clock, IdSource, Random, Store } from "./ports.js";

/** Engine settings; every field but the ports has a default. */
export interface EngineOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly ids: IdSource;
  readonly random: Random;
  readonly limits?: Partial<Limits>;
  /** Cron parser. Default: croner (src/cron). */
  readonly parseCron?: CronParser;
  /** Upcoming runs kept derived per cron task. Default 3. */
  readonly cronWindow?: number;
  /** Most missed cron occurrences derived by CATCH_UP at start-up, per task. Default 1,000. */
  readonly catchUpLimit?: number;
  /** Terminal runs and events older than this are purged. Default 7 days. */
  readonly retentionMs?: number;
  /**
   * After a task is purged its id stays reserved this long: a resubmission with the same id
   * is refused with TASK_ID_RESERVED instead of running again. Default 7 days.
   */
  readonly dedupWindowMs?: number;
  /** Submissions fail with STORAGE_QUOTA past this many bytes of live data; 0 = none. Default 0. */
  readonly storageQuotaBytes?: number;
  /** Drive timers and purges with real timers. Tests turn it off and call tick(). Default true. */
  readonly autoTimers?: boolean;
  /** Commands per transaction at most. Default 1,000. */
  readonly maxBatch?: number;
  /** Timer entries handled per tick at most. Default 500. */
  readonly maxDuePerTick?: number;
  /** Interval of retention purges with autoTimers. Default 60 s. */
  readonly purgeIntervalMs?: number;
  /**
   * Commands waiting to run (not yet in a batch) at most; a command past it is refused at once
   * with OVERLOADED. The engine's own commands (timers, long-poll wake-ups, purges) are never
   * refused. 0: unbounded. Default 2,000 (two full batches).
   */
  readonly maxQueuedCommands?: number;
  /**
   * A new command is refused with OVERLOADED while the oldest waiting command has waited
   * longer than this (a standing queue: the engine is behind). 0: off. Default 0.
   */
  readonly maxQueueDelayMs?: number;
  /**
   * Concurrent commits on a shared store: the longest random wait (ms) before a batch whose
   * commit lost a race with another server's is decided again (commit/conflicts.ts). 0: none.
   * Default 50.
   */
  readonly conflictBackoffMs?: number;
  readonly logger?: EngineLogger;
  /** Told of every flushed commit (metrics; src/engine/metrics.ts). Default: none. */
  readonly observer?: EngineObserver;
}

/** Options with every default applied. */
export interface ResolvedOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly ids: IdSource;
  readonly random: Random;
  readonly limits: Limits;
  readonly parseCron: CronParser;
  readonly cronWindow: number;
  readonly catchUpLimit: number;
  readonly retentionMs: number;
  readonly dedupWindowMs: number;
  readonly storageQuotaBytes: number;
  readonly autoTimers: boolean;
  readonly maxBatch: number;
  readonly maxDuePerTick: number;
  readonly purgeIntervalMs: number;
  readonly maxQueuedCommands: number;
  readonly maxQueueDelayMs: number;
  readonly conflictBackoffMs: number;
  readonly logger: EngineLogger;
  readonly observer: EngineObserver | null;
}

const silent: EngineLogger = { debug() {}, info() {}, warn() {}, error() {} };

const DAY_MS = 86_400_000;

/** Default bound of the engine's command queue (see EngineOptions.maxQueuedCommands). */
export const DEFAULT_MAX_QUEUED_COMMANDS = 2_000;

/** Applies the defaults. */
export function resolveOptions(o: EngineOptions): ResolvedOptions {
  return {
    store: o.store,
    clock: o.clock,
    ids: o.ids,
    random: o.random,
    limits: { ...DEFAULT_LIMITS, ...o.limits },
    parseCron: o.parseCron ?? parseCron,
    cronWindow: Math.max(1, o.cronWindow ?? 3),
    catchUpLimit: o.catchUpLimit ?? 1_000,
    retentionMs: o.retentionMs ?? 7 * DAY_MS,
    dedupWindowMs: o.dedupWindowMs ?? 7 * DAY_MS,
    storageQuotaBytes: o.storageQuotaBytes ?? 0,
    autoTimers: o.autoTimers ?? true,
    maxBatch: o.maxBatch ?? 1_000,
    maxDuePerTick: o.maxDuePerTick ?? 500,
    purgeIntervalMs: o.purgeIntervalMs ?? 60_000,
    maxQueuedCommands: Math.max(0, o.maxQueuedCommands ?? DEFAULT_MAX_QUEUED_COMMANDS),
    maxQueueDelayMs: Math.max(0, o.maxQueueDelayMs ?? 0),
    conflictBackoffMs: Math.max(0, o.conflictBackoffMs ?? DEFAULT_CONFLICT_BACKOFF_MS),
    logger: o.logger ?? silent,
    observer: o.observer ?? null,
  };
}
