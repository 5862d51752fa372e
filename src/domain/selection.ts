/**
 * Which READY run a worker gets (SPEC §4): the order within a queue and the eligibility
 * rules (queue and engine pauses, capabilities, concurrency-key slots).
 */
import type { RunId } from "./ids.js";
import type { KeyGate } from "./keys.js";

/** The fields that order READY runs. */
export interface ReadyOrderKey {
  readonly effectivePriority: number;
  readonly createdAt: number;
  readonly runId: RunId;
}

/**
 * Hand-out order: higher effective priority first, then earlier `createdAt`, then run id
 * (byte order) as the final tie-break. Negative when `a` goes first. A total order.
 */
export function compareReady(a: ReadyOrderKey, b: ReadyOrderKey): number {
  if (a.effectivePriority !== b.effectivePriority) return b.effectivePriority - a.effectivePriority;
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0;
}

/** A READY run as the selector sees it. */
export interface Candidate extends ReadyOrderKey {
  readonly queue: string;
  readonly requiredCapabilities: readonly string[];
  /** Key and its slot limit for this run's task; null when the task has no key. */
  readonly key: { readonly key: string; readonly slots: number } | null;
}

/** A worker asking for runs. */
export interface Asker {
  readonly queues: ReadonlySet<string>;
  readonly capabilities: ReadonlySet<string>;
}

/** Why a READY run is not handed to a worker, or OK. */
export type Eligibility = "OK" | "WRONG_QUEUE" | "ENGINE_PAUSED" | "QUEUE_PAUSED" | "MISSING_CAPABILITY" | "KEY_FULL";

/** Whether the worker declares every capability the run requires. */
export function hasCapabilities(required: readonly string[], declared: ReadonlySet<string>): boolean {
  for (const c of required) if (!declared.has(c)) return false;
  return true;
}

/** Decides whether `run` may be handed to `asker` now. */
export function eligibility(
  run: Candidate,
  asker: Asker,
  gate: KeyGate,
  engineFlags: { readonly enginePaused: boolean; readonly pausedQueues: ReadonlySet<string> },
): Eligibility {
  if (!asker.queues.has(run.queue)) return "WRONG_QUEUE";
  if (engineFlags.enginePaused) return "ENGINE_PAUSED";
  if (engineFlags.pausedQueues.has(run.queue)) return "QUEUE_PAUSED";
  if (!hasCapabilities(run.requiredCapabilities, asker.capabilities)) return "MISSING_CAPABILITY";
  if (run.key && !gate.canTake(run.key.key, run.runId, run.key.slots)) return "KEY_FULL";
  return "OK";
}

/**
 * Reference selection by full scan: the best `max` eligible runs in hand-out order, taking
 * key slots as it goes (two runs of a single-flight key are never picked together). The
 * engine uses an indexed structure instead; this is the specification its tests compare to.
 */
export function selectByScan(
  ready: readonly Candidate[],
  asker: Asker,
  gate: KeyGate,
  engineFlags: { readonly enginePaused: boolean; readonly pausedQueues: ReadonlySet<string> },
  max: number,
): Candidate[] {
  const picked: Candidate[] = [];
  const extra = new Map<string, number>();
  for (const run of [...ready].sort(compareReady)) {
    if (picked.length >= max) break;
    if (eligibility(run, asker, gate, engineFlags) !== "OK") continue;
    if (run.key && gate.holdOf(run.key.key, run.runId) === undefined) {
      const taken = extra.get(run.key.key) ?? 0;
      if (gate.occupancy(run.key.key) + taken >= run.key.slots) continue;
      extra.set(run.key.key, taken + 1);
    }
    picked.push(run);
  }
  return picked;
}
