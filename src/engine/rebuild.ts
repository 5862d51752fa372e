/**
 * Rebuilds every in-memory structure from committed state: flags, queue settings, the key
 * gate (from the stored key holders) and the ready index (from the READY entries of the
 * state index). Runs at start-up and after a failed commit.
 */
import type { RunId } from "../domain/ids.js";
import type { Core } from "./core.js";
import { readyInfo } from "./memory/ready-index.js";

/** Replaces memory with what the store holds. */
export function rebuild(core: Core): void {
  const r = core.store.reader;
  const meta = r.meta();
  core.flags.revision = meta.revision;
  core.flags.oldestRevision = meta.oldestRevision;
  core.flags.enginePaused = meta.enginePaused;
  core.hub.reset(meta.revision);
  core.queues.clear();
  const names = r.queueNames();
  for (const name of names) {
    const q = r.getQueue(name);
    if (q) core.queues.set(name, q);
  }
  core.gate.clear();
  for (const h of r.allKeyHolders()) core.gate.restore(h.key, h.runId, h.hold, h.since);
  core.ready.clear();
  for (const queue of names) {
    let after: RunId | undefined;
    for (;;) {
      const entries = r.readyEntries(queue, after, 10_000);
      if (entries.length === 0) break;
      for (const e of entries) core.ready.add(readyInfo(queue, e));
      after = entries.at(-1)?.runId;
    }
  }
}
