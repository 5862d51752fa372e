/**
 * Operator settings (SPEC §4, §10): pausing the engine or a queue, and queue rate limits.
 * Each is a command: stored, then applied to memory, undone if the command fails.
 */
import type { Unit } from "./commit/unit.js";
import type { Core } from "./core.js";
import type { QueueRecord } from "./records.js";
import type { RateLimiter } from "./workers/rate-limit.js";

/** A queue's settings, or the defaults for a queue never configured. */
export function queueOf(core: Core, name: string): QueueRecord {
  return core.queues.get(name) ?? { name, paused: false, ratePerSecond: 0, burst: 0 };
}

/** Pauses or resumes the whole engine. */
export function setEnginePaused(core: Core, u: Unit, paused: boolean): boolean {
  if (core.flags.enginePaused === paused) return paused;
  const before = core.flags.enginePaused;
  core.flags.enginePaused = paused;
  u.journal.record(() => {
    core.flags.enginePaused = before;
  });
  u.write({ verb: "saveMeta", meta: core.meta() });
  u.log({ paused }, paused ? "engine paused" : "engine resumed");
  if (!paused) u.wakeAll = true;
  return paused;
}

/** Changes a queue's settings (pause, rate limit). */
export function changeQueue(core: Core, rates: RateLimiter, u: Unit, name: string, change: (q: QueueRecord) => QueueRecord, what: string): QueueRecord {
  const had = core.queues.has(name);
  const prev = queueOf(core, name);
  const next = change(prev);
  if (had && next.paused === prev.paused && next.ratePerSecond === prev.ratePerSecond && next.burst === prev.burst) return prev;
  core.queues.set(name, next);
  u.journal.record(() => {
    if (had) core.queues.set(name, prev);
    else core.queues.delete(name);
  });
  rates.reset(name);
  u.write({ verb: "saveQueue", queue: next });
  u.log({ queue: name, paused: next.paused, rate_per_second: next.ratePerSecond, burst: next.burst }, what);
  u.wake.add(name);
  return next;
}
