/**
 * Concurrency keys (SPEC §6, seed 003): a gate that counts the runs occupying a key's slots,
 * and the lifecycle rule that says what each transition does to a run's slot.
 *
 * A run occupies a slot in one of two ways:
 * - RESERVED: a lease took the slot (so no other run of the key is handed out meanwhile);
 * - HELD: the run's attempt started (RUNNING), and under HOLD_DURING_RETRY the run keeps the
 *   slot through RETRY_WAIT and SUSPENDED and back through READY and LEASED.
 * Occupancy counts both. A run may take a slot when it already occupies one (no second slot
 * is taken) or when occupancy is below the limit its own task declares.
 */
import type { RunId } from "./ids.js";
import { assertNever } from "./result.js";
import { type RunState, isTerminal } from "./state.js";

/** What a task declares about its key. */
export interface KeySpec {
  /** 1 to 256 bytes of UTF-8. */
  readonly key: string;
  /** Slots, >= 1. */
  readonly slots: number;
  readonly holdPolicy: HoldPolicy;
}

/** Whether the slot survives RETRY_WAIT and SUSPENDED. */
export type HoldPolicy = "HOLD_DURING_RETRY" | "RELEASE_ON_RETRY";

/** How a run occupies a slot. */
export type Hold = "RESERVED" | "HELD";

/** Result of taking a slot. */
export type AcquireResult =
  | { readonly kind: "ACQUIRED"; readonly key: string; readonly runId: RunId; readonly hold: Hold }
  | { readonly kind: "ALREADY_HELD"; readonly key: string; readonly runId: RunId; readonly hold: Hold }
  | { readonly kind: "OCCUPIED"; readonly key: string; readonly holderRunId: RunId };

/** Result of giving a slot back. */
export type ReleaseResult =
  | { readonly kind: "RELEASED"; readonly key: string; readonly hold: Hold }
  | { readonly kind: "NOT_HELD"; readonly key: string; readonly runId: RunId };

/**
 * In-memory occupancy of every key: key -> (run -> hold). No I/O; the engine mirrors it in
 * storage inside the same transaction as the run change.
 */
export class KeyGate {
  readonly #keys = new Map<string, Map<RunId, { hold: Hold; since: number }>>();

  /** Runs occupying `key` (reserved or held). */
  occupancy(key: string): number {
    return this.#keys.get(key)?.size ?? 0;
  }

  /** How `runId` occupies `key`, if it does. */
  holdOf(key: string, runId: RunId): Hold | undefined {
    return this.#keys.get(key)?.get(runId)?.hold;
  }

  /** How `runId` occupies `key` and since when, if it does (no copy of the other occupants). */
  occupantOf(key: string, runId: RunId): { readonly hold: Hold; readonly since: number } | undefined {
    const o = this.#keys.get(key)?.get(runId);
    return o ? { hold: o.hold, since: o.since } : undefined;
  }

  /** The occupants of `key` in insertion order. */
  holders(key: string): Array<{ runId: RunId; hold: Hold; since: number }> {
    const m = this.#keys.get(key);
    return m ? [...m].map(([runId, v]) => ({ runId, hold: v.hold, since: v.since })) : [];
  }

  /** Every key with at least one occupant. */
  keys(): IterableIterator<string> {
    return this.#keys.keys();
  }

  /** True when `runId` could take a slot of `key` under `limit` (it already has one, or one is free). */
  canTake(key: string, runId: RunId, limit: number): boolean {
    const m = this.#keys.get(key);
    if (!m) return limit >= 1;
    return m.has(runId) || m.size < limit;
  }

  /**
   * Takes a slot as `hold`. A run that already occupies the key takes no second slot; a
   * RESERVED occupant asking for HELD is upgraded. Refuses when the key is full for `limit`.
   */
  acquire(key: string, runId: RunId, limit: number, hold: Hold, at: number): AcquireResult {
    let m = this.#keys.get(key);
    const current = m?.get(runId);
    if (current) {
      if (hold === "HELD" && current.hold === "RESERVED") {
        current.hold = "HELD";
        current.since = at;
        return { kind: "ACQUIRED", key, runId, hold: "HELD" };
      }
      return { kind: "ALREADY_HELD", key, runId, hold: current.hold };
    }
    if (m && m.size >= limit) {
      const first = m.keys().next().value as RunId;
      return { kind: "OCCUPIED", key, holderRunId: first };
    }
    if (limit < 1) return { kind: "OCCUPIED", key, holderRunId: runId };
    if (!m) {
      m = new Map();
      this.#keys.set(key, m);
    }
    m.set(runId, { hold, since: at });
    return { kind: "ACQUIRED", key, runId, hold };
  }

  /**
   * Gives back the slot `runId` occupies. With `onlyIf`, gives it back only when it is held
   * that way (a lapsed lease drops a reservation but keeps a slot held since a retry).
   */
  release(key: string, runId: RunId, onlyIf?: Hold): ReleaseResult {
    const m = this.#keys.get(key);
    const current = m?.get(runId);
    if (!m || !current || (onlyIf !== undefined && current.hold !== onlyIf)) {
      return { kind: "NOT_HELD", key, runId };
    }
    m.delete(runId);
    if (m.size === 0) this.#keys.delete(key);
    return { kind: "RELEASED", key, hold: current.hold };
  }

  /** Restores an occupant as stored (start-up rebuild); bypasses the limit on purpose. */
  restore(key: string, runId: RunId, hold: Hold, since: number): void {
    let m = this.#keys.get(key);
    if (!m) {
      m = new Map();
      this.#keys.set(key, m);
    }
    m.set(runId, { hold, since });
  }

  /** Forgets everything (before a rebuild from storage). */
  clear(): void {
    this.#keys.clear();
  }
}

/** What a transition does to the run's slot. */
export type KeyEffect =
  /** READY -> LEASED: reserve a slot (none taken if the run already occupies one). */
  | "RESERVE"
  /** LEASED -> RUNNING: the reservation (or a slot kept from a retry) becomes HELD. */
  | "ACQUIRE"
  /** LEASED -> READY: drop a reservation; a slot HELD since a retry stays. */
  | "UNRESERVE"
  /** Give the slot back whatever its kind. */
  | "RELEASE"
  | "NONE";

/**
 * The slot rule of SPEC §6 for one transition:
 *
 * | transition                         | HOLD_DURING_RETRY | RELEASE_ON_RETRY |
 * | RUNNING -> RETRY_WAIT / SUSPENDED  | kept              | released         |
 * | RUNNING -> terminal                | released          | released         |
 * | any other state -> terminal        | released          | released         |
 *
 * plus the lease rows (reserve on READY -> LEASED, acquire on LEASED -> RUNNING, unreserve on
 * LEASED -> READY). Every transition into a terminal state releases, so no terminal run
 * ever occupies a slot, whatever state it came from (this closes the RETRY_WAIT -> terminal
 * leak the seed leaves open).
 */
export function keyEffect(from: RunState, to: RunState, policy: HoldPolicy): KeyEffect {
  if (isTerminal(to)) return "RELEASE";
  if (from === "READY" && to === "LEASED") return "RESERVE";
  if (from === "LEASED" && to === "RUNNING") return "ACQUIRE";
  if (from === "LEASED" && to === "READY") return "UNRESERVE";
  if (from === "RUNNING" && (to === "RETRY_WAIT" || to === "SUSPENDED")) {
    switch (policy) {
      case "HOLD_DURING_RETRY":
        return "NONE";
      case "RELEASE_ON_RETRY":
        return "RELEASE";
      default:
        return assertNever(policy, "hold policy");
    }
  }
  return "NONE";
}

/** What applying a KeyEffect did, for storage and events. */
export type KeyChange =
  | { readonly kind: "TAKEN"; readonly key: string; readonly hold: Hold }
  | { readonly kind: "GIVEN_BACK"; readonly key: string; readonly hold: Hold }
  | { readonly kind: "UNCHANGED" }
  | { readonly kind: "FULL"; readonly key: string; readonly holderRunId: RunId };

/**
 * Applies `effect` for `runId` to the gate. RESERVE and ACQUIRE may find the key full
 * (FULL, gate unchanged); the caller must then refuse the transition.
 */
export function applyKeyEffect(gate: KeyGate, spec: KeySpec, runId: RunId, effect: KeyEffect, at: number): KeyChange {
  switch (effect) {
    case "NONE":
      return { kind: "UNCHANGED" };
    case "RESERVE":
    case "ACQUIRE": {
      const r = gate.acquire(spec.key, runId, spec.slots, effect === "RESERVE" ? "RESERVED" : "HELD", at);
      if (r.kind === "OCCUPIED") return { kind: "FULL", key: spec.key, holderRunId: r.holderRunId };
      if (r.kind === "ALREADY_HELD") return { kind: "UNCHANGED" };
      return { kind: "TAKEN", key: spec.key, hold: r.hold };
    }
    case "UNRESERVE":
    case "RELEASE": {
      const r = gate.release(spec.key, runId, effect === "UNRESERVE" ? "RESERVED" : undefined);
      return r.kind === "RELEASED" ? { kind: "GIVEN_BACK", key: spec.key, hold: r.hold } : { kind: "UNCHANGED" };
    }
    default:
      return assertNever(effect, "key effect");
  }
}
