/**
 * Other servers' commits, brought into this engine's memory (several servers on one shared
 * store, docs/scaling.md "Several servers on one PostgreSQL"). The store has already applied
 * them to its reader; what lives only in memory follows here, verb by verb, as this engine's
 * own commands would have changed it: the ready index, the key gate, queue settings, flags and
 * the rate limiters' buckets. The caller then publishes the events to watchers, wakes long
 * polls and re-arms the timer.
 */
import type { Core } from "./core.js";
import { readyInfoOf } from "./memory/ready-index.js";
import type { StoreVerb } from "./ports.js";
import type { EventRecord, RunRecord } from "./records.js";
import type { RateLimiter } from "./workers/rate-limit.js";

/** What the followed verbs mean for watchers, long polls and the timer. */
export interface FollowEffects {
  readonly events: EventRecord[];
  /** Queues that may have runs for waiting workers; null: check every waiter. */
  readonly wake: Set<string> | null;
}

/** Applies other servers' verbs to memory, in commit order. */
export function followVerbs(core: Core, rates: RateLimiter, verbs: readonly StoreVerb[]): FollowEffects {
  const events: EventRecord[] = [];
  let wake: Set<string> | null = new Set<string>();
  const wakeAll = () => {
    wake = null;
  };
  const ready = (run: RunRecord) => {
    if (run.state === "READY") {
      core.ready.add(readyInfoOf(run));
      wake?.add(run.queue);
    } else core.ready.remove(run.id);
  };
  for (const v of verbs) {
    switch (v.verb) {
      case "createRun":
        ready(v.run);
        events.push(v.event);
        break;
      case "updateRun": {
        ready(v.run);
        if (v.event) events.push(v.event);
        // A run handed out by another server spends a token of its queue's bucket here too.
        if (v.prev.state === "READY" && v.run.state === "LEASED") rates.spent(core.queues.get(v.run.queue), core.clock.now());
        const k = v.keyHolder;
        if (k && "put" in k) {
          core.gate.restore(k.put.key, k.put.runId, k.put.hold, k.put.since);
          core.ready.keyChanged(k.put.key);
        } else if (k && "remove" in k) {
          core.gate.release(k.remove.key, k.remove.runId);
          core.ready.keyChanged(k.remove.key);
          wakeAll();
        }
        break;
      }
      case "purgeRun":
        core.ready.remove(v.run.id);
        break;
      case "saveQueue": {
        const before = core.queues.get(v.queue.name);
        core.queues.set(v.queue.name, v.queue);
        if (before?.ratePerSecond !== v.queue.ratePerSecond || before?.burst !== v.queue.burst) rates.reset(v.queue.name);
        wakeAll();
        break;
      }
      case "saveMeta":
        if (v.meta.revision > core.flags.revision) core.flags.revision = v.meta.revision;
        core.flags.oldestRevision = v.meta.oldestRevision;
        if (core.flags.enginePaused !== v.meta.enginePaused) wakeAll();
        core.flags.enginePaused = v.meta.enginePaused;
        break;
      case "createTask":
      case "updateTask":
      case "dropTimer":
      case "purgeTask":
      case "purgeEvents":
      case "releaseReservation":
        // Read from the store when needed; nothing of them lives in memory.
        break;
    }
  }
  return { events, wake };
}
