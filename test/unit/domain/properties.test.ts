/**
 * Properties of the lifecycle over random command sequences: a small world of runs sharing
 * concurrency keys is driven through `applyRunAction` (the function the engine uses) with
 * arbitrary commands, legal or not, and the invariants are checked after every step.
 */
import { fc, test as fcTest } from "@fast-check/vitest";
import { expect, test } from "vitest";
import { asAttemptId } from "../../../src/domain/ids.js";
import { type HoldPolicy, KeyGate, type KeySpec } from "../../../src/domain/keys.js";
import { type RunAction, type WorkerOutcome, applyRunAction } from "../../../src/domain/lifecycle.js";
import { WORKER_OUTCOMES } from "../../../src/domain/retry.js";
import { type Run, runInvariantViolations } from "../../../src/domain/run.js";
import { RUN_STATES, isTerminal } from "../../../src/domain/state.js";
import { attemptId } from "../../support/ids.js";
import { testRun } from "../../support/runs.js";

interface RunSetup {
  readonly maxAttempts: number;
  readonly key: KeySpec | null;
}

const KEYS = ["alpha", "beta"] as const;
const SLOTS: Record<(typeof KEYS)[number], number> = { alpha: 1, beta: 2 };

const arbSetup: fc.Arbitrary<RunSetup> = fc.record({
  maxAttempts: fc.integer({ min: 1, max: 4 }),
  key: fc.option(
    fc.record({
      key: fc.constantFrom(...KEYS),
      holdPolicy: fc.constantFrom<HoldPolicy>("HOLD_DURING_RETRY", "RELEASE_ON_RETRY"),
    }).map((k) => ({ key: k.key, slots: SLOTS[k.key], holdPolicy: k.holdPolicy })),
    { nil: null },
  ),
});

type Kind = RunAction["type"];
const KINDS: Kind[] = [
  "PROMOTE",
  "LEASE",
  "LEASE_LAPSED",
  "RELEASE_LEASE",
  "START_ATTEMPT",
  "FINISH_ATTEMPT",
  "RETRY_DUE",
  "SUSPEND",
  "RESUME",
  "CANCEL",
  "SET_PRIORITY",
];

/** Actions that make sense in each state; most commands pick one so runs reach deep states. */
const PLAUSIBLE: Record<Run["state"], Kind[]> = {
  SCHEDULED: ["PROMOTE", "PROMOTE", "CANCEL"],
  READY: ["LEASE", "LEASE", "LEASE", "SET_PRIORITY", "CANCEL"],
  LEASED: ["START_ATTEMPT", "START_ATTEMPT", "START_ATTEMPT", "LEASE_LAPSED", "RELEASE_LEASE", "CANCEL"],
  RUNNING: ["FINISH_ATTEMPT", "FINISH_ATTEMPT", "FINISH_ATTEMPT", "FINISH_ATTEMPT", "SUSPEND", "CANCEL"],
  RETRY_WAIT: ["RETRY_DUE", "RETRY_DUE", "CANCEL"],
  SUSPENDED: ["RESUME", "RESUME", "CANCEL"],
  COMPLETED: KINDS,
  FAILED: KINDS,
  CANCELED: KINDS,
};

const arbCommand = fc.record({
  run: fc.nat(),
  plausible: fc.nat({ max: 9 }).map((n) => n < 9),
  pick: fc.nat(),
  outcome: fc.constantFrom<WorkerOutcome>(...WORKER_OUTCOMES),
  wrongAttempt: fc.boolean(),
  priority: fc.integer({ min: -5, max: 5 }),
});

type Command = typeof arbCommand extends fc.Arbitrary<infer C> ? C : never;

/**
 * Drives the world through `commands`, checking every invariant after every step.
 * Returns the states runs were moved into, so coverage of the generator can be checked.
 */
function simulate(setups: readonly RunSetup[], commands: readonly Command[]): Set<string> {
  const gate = new KeyGate();
  let nextAttempt = 1;
  const runs: Run[] = setups.map((_, i) => testRun(i + 1, "SCHEDULED"));
  let now = 1;
  const reached = new Set<string>();
  for (const cmd of commands) {
    const i = cmd.run % runs.length;
    const run = runs[i] as Run;
    const setup = setups[i] as RunSetup;
    now++;
    const choices = cmd.plausible ? PLAUSIBLE[run.state] : KINDS;
    const kind = choices[cmd.pick % choices.length] as Kind;
    let action: RunAction;
    switch (kind) {
      case "PROMOTE":
      case "RETRY_DUE":
      case "RESUME":
        action = { type: kind, at: now, priority: cmd.priority };
        break;
      case "SET_PRIORITY":
        action = { type: kind, priority: cmd.priority };
        break;
      case "START_ATTEMPT":
        action = { type: kind, at: now, attemptId: attemptId(nextAttempt++) };
        break;
      case "FINISH_ATTEMPT":
        action = {
          type: kind,
          at: now,
          attemptId: cmd.wrongAttempt || run.currentAttemptId === null ? asAttemptId("bogus") : run.currentAttemptId,
          outcome: cmd.outcome,
          maxAttempts: setup.maxAttempts,
        };
        break;
      default:
        action = { type: kind, at: now };
    }
    const before = run;
    const result = applyRunAction(run, action, { gate, spec: setup.key });
    if (result.ok) {
      runs[i] = result.value.run;
      reached.add(result.value.to);
    }

    // Terminal states never change.
    if (isTerminal(before.state)) expect(runs[i]).toEqual(before);
    for (const [j, r] of runs.entries()) {
      const s = setups[j] as RunSetup;
      // Counted attempts never exceed max_attempts.
      expect(r.countedAttempts).toBeLessThanOrEqual(s.maxAttempts);
      expect(runInvariantViolations(r)).toEqual([]);
      if (s.key) {
        const hold = gate.holdOf(s.key.key, r.id);
        // A terminal run never holds a key; a RUNNING run always holds its slot.
        if (isTerminal(r.state)) expect(hold).toBeUndefined();
        if (r.state === "RUNNING") expect(hold).toBe("HELD");
        if (r.state === "LEASED") expect(hold).toBeDefined();
        if (r.state === "SCHEDULED") expect(hold).toBeUndefined();
        if ((r.state === "RETRY_WAIT" || r.state === "SUSPENDED") && s.key.holdPolicy === "RELEASE_ON_RETRY") {
          expect(hold).toBeUndefined();
        }
      }
    }
    // A key never has more occupants than its slots.
    for (const k of KEYS) expect(gate.occupancy(k)).toBeLessThanOrEqual(SLOTS[k]);
    // Every occupant is a run that declares that key.
    for (const k of gate.keys()) {
      for (const h of gate.holders(k)) {
        const j = runs.findIndex((r) => r.id === h.runId);
        expect(setups[j]?.key?.key).toBe(k);
      }
    }
  }
  return reached;
}

const arbWorld = fc.tuple(fc.array(arbSetup, { minLength: 1, maxLength: 6 }), fc.array(arbCommand, { minLength: 20, maxLength: 200, size: "max" }));

fcTest.prop([arbWorld], { numRuns: 400 })(
  "terminal runs never change, attempts stay within max_attempts, keys within slots, terminal runs hold no key",
  ([setups, commands]) => {
    simulate(setups, commands);
  },
);

test("the command generator drives runs into every state", () => {
  const reached = new Set<string>();
  for (const [setups, commands] of fc.sample(arbWorld, { numRuns: 100, seed: 42 })) {
    for (const s of simulate(setups, commands)) reached.add(s);
  }
  // SCHEDULED is where runs start; no transition leads into it.
  expect([...reached].sort()).toEqual(RUN_STATES.filter((s) => s !== "SCHEDULED").sort());
});
