/**
 * The engine's options for a parsed configuration: production time, ids and randomness, and
 * every limit and interval the flags set. One place, so that each way of starting the
 * server (src/main.ts; the benchmarks' in-memory entry) builds the same engine.
 */
import type { Config } from "./config.js";
import type { EngineLogger, EngineOptions } from "./engine/engine.js";
import type { Store } from "./engine/ports.js";
import { uuidV7Source } from "./ids/uuidv7.js";

/** Options of `Engine.open` for `config` over `store`, logging to `log`. */
export function engineOptions(config: Config, store: Store, log: EngineLogger): EngineOptions {
  return {
    store,
    clock: { now: () => Date.now() },
    ids: uuidV7Source(),
    random: { next: Math.random },
    limits: {
      maxPayloadBytes: config.maxPayloadBytes,
      maxOutputBytes: config.maxOutputBytes,
      maxErrorBytes: config.maxErrorBytes,
      maxRepeatCount: config.maxRepeatCount,
      maxTaskDepth: config.maxTaskDepth,
    },
    retentionMs: config.retentionMs,
    dedupWindowMs: config.dedupWindowMs,
    purgeIntervalMs: Math.max(10, config.purgeIntervalMs),
    storageQuotaBytes: config.storageQuotaBytes,
    cronWindow: config.cronWindow,
    maxQueuedCommands: config.maxQueuedCommands,
    maxQueueDelayMs: config.maxQueueDelayMs,
    logger: log,
  };
}
