/**
 * Load shedding at the command queue (docs/operations.md, "Load shedding"): when a new command
 * is refused instead of queued (pipeline.ts).
 */
import { EngineError } from "../errors.js";

/** The bounds of the queue of commands not yet run. */
export interface QueueBounds {
  /** Most commands waiting to run; more are refused with OVERLOADED. 0: unbounded. */
  readonly maxQueued: number;
  /** A new command is refused while the oldest waiting one has waited longer. 0: off. */
  readonly maxQueueDelayMs: number;
}

/**
 * OVERLOADED when a new command would pass a bound, given how many commands wait and when the
 * oldest was queued (performance.now(); undefined: none waits); null when it may queue. The
 * refusal's metadata `limit` names the bound (max_queued_commands or max_queue_delay).
 */
export function overloadRefusal(bounds: QueueBounds, queued: number, oldestQueuedAt: number | undefined, now: number): EngineError | null {
  const { maxQueued, maxQueueDelayMs } = bounds;
  if (maxQueued > 0 && queued >= maxQueued) {
    return new EngineError("OVERLOADED", `the engine has ${queued} commands waiting (limit ${maxQueued}); retry with backoff`, {
      metadata: { limit: "max_queued_commands", queued: String(queued), max: String(maxQueued) },
    });
  }
  if (maxQueueDelayMs > 0 && oldestQueuedAt !== undefined && now - oldestQueuedAt > maxQueueDelayMs) {
    const waited = Math.round(now - oldestQueuedAt);
    return new EngineError("OVERLOADED", `the oldest waiting command has waited ${waited} ms (limit ${maxQueueDelayMs} ms); retry with backoff`, {
      metadata: { limit: "max_queue_delay", waited_ms: String(waited), max_ms: String(maxQueueDelayMs) },
    });
  }
  return null;
}
