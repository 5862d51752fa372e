import { describe, expect, it } from "vitest";
import { type Run, transition } from "../../../src/domain/run.js";
import { RUN_STATES, type RunState, TRANSITIONS, canTransition, isTerminal } from "../../../src/domain/state.js";
import { runId } from "../../support/ids.js";
import { testRun } from "../../support/runs.js";

const ALLOWED: ReadonlyArray<readonly [RunState, RunState]> = [
  ["SCHEDULED", "READY"],
  ["SCHEDULED", "CANCELED"],
  ["READY", "LEASED"],
  ["READY", "CANCELED"],
  ["LEASED", "RUNNING"],
  ["LEASED", "READY"],
  ["LEASED", "CANCELED"],
  ["RUNNING", "RETRY_WAIT"],
  ["RUNNING", "SUSPENDED"],
  ["RUNNING", "COMPLETED"],
  ["RUNNING", "FAILED"],
  ["RUNNING", "CANCELED"],
  ["RETRY_WAIT", "READY"],
  ["RETRY_WAIT", "FAILED"],
  ["RETRY_WAIT", "CANCELED"],
  ["SUSPENDED", "READY"],
  ["SUSPENDED", "CANCELED"],
];

const runIn = (state: RunState): Run => testRun(1, state, { createdAt: 1_000, scheduledAt: 1_000, lastStateChangeAt: 1_000 });

const allowed = new Set(ALLOWED.map(([f, t]) => `${f}->${t}`));
const pairs = RUN_STATES.flatMap((from) => RUN_STATES.map((to) => [from, to] as const));

describe("run state transition table", () => {
  it("has 9 states, 81 pairs and exactly the 17 allowed transitions of SPEC §2", () => {
    expect(RUN_STATES).toHaveLength(9);
    expect(pairs).toHaveLength(81);
    const fromTable = RUN_STATES.flatMap((f) => TRANSITIONS[f].map((t) => `${f}->${t}`));
    expect(new Set(fromTable)).toEqual(allowed);
    expect(allowed.size).toBe(17);
  });

  it.each(pairs)("%s -> %s follows the table", (from, to) => {
    const result = transition(runIn(from), to, 2_000);
    const key = `${from}->${to}`;
    expect(canTransition(from, to)).toBe(allowed.has(key));
    if (allowed.has(key)) {
      expect(result.ok).toBe(true);
      if (result.ok) {
        expect(result.value.state).toBe(to);
        expect(result.value.lastStateChangeAt).toBe(2_000);
      }
    } else {
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.reason).toBe(isTerminal(from) ? "RUN_TERMINAL" : "INVALID_TRANSITION");
        expect(result.error.runId).toBe(runId(1));
      }
    }
  });

  it("marks exactly COMPLETED, FAILED and CANCELED terminal, with no way out", () => {
    expect(RUN_STATES.filter(isTerminal)).toEqual(["COMPLETED", "FAILED", "CANCELED"]);
    for (const s of RUN_STATES.filter(isTerminal)) expect(TRANSITIONS[s]).toEqual([]);
  });
});
