import { describe, expect, it } from "vitest";
import { type KeySpec, KeyGate, applyKeyEffect, keyEffect } from "../../../src/domain/keys.js";
import { applyRunAction } from "../../../src/domain/lifecycle.js";
import type { Run } from "../../../src/domain/run.js";
import { RUN_STATES, type RunState, TRANSITIONS, isTerminal } from "../../../src/domain/state.js";
import { attemptId, runId } from "../../support/ids.js";
import { testRun } from "../../support/runs.js";

const HOLD: KeySpec = { key: "my-key", slots: 1, holdPolicy: "HOLD_DURING_RETRY" };
const RELEASE: KeySpec = { key: "my-key", slots: 1, holdPolicy: "RELEASE_ON_RETRY" };

describe("key gate (seed 003)", () => {
  it("acquires a free key", () => {
    const gate = new KeyGate();
    expect(gate.acquire("my-key", runId(1), 1, "HELD", 0)).toEqual({ kind: "ACQUIRED", key: "my-key", runId: runId(1), hold: "HELD" });
    expect(gate.holdOf("my-key", runId(1))).toBe("HELD");
  });

  it("does nothing for a run without a key", () => {
    const gate = new KeyGate();
    const run = ready(1);
    const r = applyRunAction(run, { type: "LEASE", at: 1 }, { gate, spec: null });
    expect(r.ok && r.value.key).toEqual({ kind: "UNCHANGED" });
    expect([...gate.keys()]).toEqual([]);
  });

  it("reports the holder when the key is occupied by another run", () => {
    const gate = new KeyGate();
    gate.acquire("my-key", runId(1), 1, "HELD", 0);
    expect(gate.acquire("my-key", runId(2), 1, "HELD", 0)).toEqual({ kind: "OCCUPIED", key: "my-key", holderRunId: runId(1) });
  });

  it("releases a held key", () => {
    const gate = new KeyGate();
    gate.acquire("my-key", runId(1), 1, "HELD", 0);
    expect(gate.release("my-key", runId(1))).toEqual({ kind: "RELEASED", key: "my-key", hold: "HELD" });
    expect(gate.occupancy("my-key")).toBe(0);
  });

  it("reports NOT_HELD when releasing a key the run does not hold", () => {
    const gate = new KeyGate();
    expect(gate.release("my-key", runId(1))).toEqual({ kind: "NOT_HELD", key: "my-key", runId: runId(1) });
    gate.acquire("my-key", runId(2), 1, "HELD", 0);
    expect(gate.release("my-key", runId(1))).toEqual({ kind: "NOT_HELD", key: "my-key", runId: runId(1) });
    expect(gate.occupancy("my-key")).toBe(1);
  });

  it("lets the holder re-acquire without taking a second slot", () => {
    const gate = new KeyGate();
    gate.acquire("k", runId(1), 2, "HELD", 0);
    expect(gate.acquire("k", runId(1), 2, "HELD", 0)).toMatchObject({ kind: "ALREADY_HELD" });
    expect(gate.occupancy("k")).toBe(1);
  });

  it("admits up to N runs for an N-slot key, then refuses", () => {
    const gate = new KeyGate();
    for (let i = 1; i <= 3; i++) expect(gate.acquire("tenant-a", runId(i), 3, "HELD", 0).kind).toBe("ACQUIRED");
    expect(gate.acquire("tenant-a", runId(4), 3, "HELD", 0).kind).toBe("OCCUPIED");
    expect(gate.acquire("tenant-b", runId(4), 3, "HELD", 0).kind).toBe("ACQUIRED");
    gate.release("tenant-a", runId(2));
    expect(gate.acquire("tenant-a", runId(4), 3, "HELD", 0).kind).toBe("ACQUIRED");
  });

  it("upgrades a reservation to a held slot without a second slot", () => {
    const gate = new KeyGate();
    gate.acquire("k", runId(1), 1, "RESERVED", 0);
    expect(gate.acquire("k", runId(1), 1, "HELD", 5)).toMatchObject({ kind: "ACQUIRED", hold: "HELD" });
    expect(gate.holders("k")).toEqual([{ runId: runId(1), hold: "HELD", since: 5 }]);
  });
});

describe("key lifecycle per transition (SPEC §6 table)", () => {
  it("acquires on entering RUNNING", () => {
    expect(keyEffect("LEASED", "RUNNING", "HOLD_DURING_RETRY")).toBe("ACQUIRE");
  });

  it("releases on RUNNING -> COMPLETED / FAILED / CANCELED under both policies", () => {
    for (const policy of ["HOLD_DURING_RETRY", "RELEASE_ON_RETRY"] as const) {
      for (const to of ["COMPLETED", "FAILED", "CANCELED"] as const) expect(keyEffect("RUNNING", to, policy)).toBe("RELEASE");
    }
  });

  it("does nothing for SCHEDULED -> READY", () => {
    expect(keyEffect("SCHEDULED", "READY", "HOLD_DURING_RETRY")).toBe("NONE");
  });

  it("holds the key through RETRY_WAIT and SUSPENDED with HOLD_DURING_RETRY", () => {
    expect(keyEffect("RUNNING", "RETRY_WAIT", "HOLD_DURING_RETRY")).toBe("NONE");
    expect(keyEffect("RUNNING", "SUSPENDED", "HOLD_DURING_RETRY")).toBe("NONE");
  });

  it("releases the key on RETRY_WAIT and SUSPENDED with RELEASE_ON_RETRY", () => {
    expect(keyEffect("RUNNING", "RETRY_WAIT", "RELEASE_ON_RETRY")).toBe("RELEASE");
    expect(keyEffect("RUNNING", "SUSPENDED", "RELEASE_ON_RETRY")).toBe("RELEASE");
  });

  it("releases on every transition into a terminal state, from any state", () => {
    for (const from of RUN_STATES) {
      for (const to of TRANSITIONS[from]) {
        if (isTerminal(to)) {
          expect(keyEffect(from, to, "HOLD_DURING_RETRY")).toBe("RELEASE");
          expect(keyEffect(from, to, "RELEASE_ON_RETRY")).toBe("RELEASE");
        }
      }
    }
  });
});

const ready = (n: number): Run => testRun(n, "READY");

/** Drives a run READY -> LEASED -> RUNNING with its attempt open, through applyRunAction. */
function toRunning(gate: KeyGate, spec: KeySpec, n: number): Run {
  let run = ready(n);
  for (const action of [
    { type: "LEASE", at: 1 } as const,
    { type: "START_ATTEMPT", at: 2, attemptId: attemptId(n) } as const,
  ]) {
    const r = applyRunAction(run, action, { gate, spec });
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    run = r.value.run;
  }
  return run;
}

function step(run: Run, gate: KeyGate, spec: KeySpec, action: Parameters<typeof applyRunAction>[1]): Run {
  const r = applyRunAction(run, action, { gate, spec });
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.value.run;
}

describe("key lifecycle through run actions", () => {
  it("keeps the slot on retry with HOLD_DURING_RETRY: no other run can take it", () => {
    const gate = new KeyGate();
    let run = toRunning(gate, HOLD, 1);
    run = step(run, gate, HOLD, { type: "FINISH_ATTEMPT", at: 3, attemptId: attemptId(1), outcome: "RETRYABLE_FAILURE", maxAttempts: 3 });
    expect(run.state).toBe("RETRY_WAIT");
    expect(gate.holdOf("my-key", runId(1))).toBe("HELD");
    const other = applyRunAction(ready(2), { type: "LEASE", at: 4 }, { gate, spec: HOLD });
    expect(other).toMatchObject({ ok: false, error: { reason: "KEY_FULL", key: "my-key", holderRunId: runId(1) } });
  });

  it("gives the slot up on retry with RELEASE_ON_RETRY", () => {
    const gate = new KeyGate();
    let run = toRunning(gate, RELEASE, 1);
    run = step(run, gate, RELEASE, { type: "FINISH_ATTEMPT", at: 3, attemptId: attemptId(1), outcome: "TIMEOUT", maxAttempts: 3 });
    expect(run.state).toBe("RETRY_WAIT");
    expect(gate.occupancy("my-key")).toBe(0);
    expect(applyRunAction(ready(2), { type: "LEASE", at: 4 }, { gate, spec: RELEASE }).ok).toBe(true);
  });

  it("lets a run that kept its slot come back through READY and LEASED into RUNNING without a second slot", () => {
    const gate = new KeyGate();
    let run = toRunning(gate, HOLD, 1);
    run = step(run, gate, HOLD, { type: "FINISH_ATTEMPT", at: 3, attemptId: attemptId(1), outcome: "RETRYABLE_FAILURE", maxAttempts: 3 });
    run = step(run, gate, HOLD, { type: "RETRY_DUE", at: 4, priority: 0 });
    run = step(run, gate, HOLD, { type: "LEASE", at: 5 });
    run = step(run, gate, HOLD, { type: "LEASE_LAPSED", at: 6 });
    expect(gate.holdOf("my-key", runId(1))).toBe("HELD");
    run = step(run, gate, HOLD, { type: "LEASE", at: 7 });
    run = step(run, gate, HOLD, { type: "START_ATTEMPT", at: 8, attemptId: attemptId(2) });
    expect(run.state).toBe("RUNNING");
    expect(gate.occupancy("my-key")).toBe(1);
  });

  it("releases on SUSPENDED -> CANCELED with HOLD_DURING_RETRY (seed 003)", () => {
    const gate = new KeyGate();
    let run = toRunning(gate, HOLD, 1);
    run = step(run, gate, HOLD, { type: "SUSPEND", at: 3 });
    expect(run.state).toBe("SUSPENDED");
    expect(gate.holdOf("my-key", runId(1))).toBe("HELD");
    run = step(run, gate, HOLD, { type: "CANCEL", at: 4 });
    expect(run.state).toBe("CANCELED");
    expect(gate.occupancy("my-key")).toBe(0);
  });

  it("releases on RETRY_WAIT -> CANCELED with HOLD_DURING_RETRY (the leak the seed leaves open)", () => {
    const gate = new KeyGate();
    let run = toRunning(gate, HOLD, 1);
    run = step(run, gate, HOLD, { type: "FINISH_ATTEMPT", at: 3, attemptId: attemptId(1), outcome: "RETRYABLE_FAILURE", maxAttempts: 3 });
    expect(gate.holdOf("my-key", runId(1))).toBe("HELD");
    run = step(run, gate, HOLD, { type: "CANCEL", at: 4 });
    expect(run.state).toBe("CANCELED");
    expect(gate.occupancy("my-key")).toBe(0);
  });

  it("releases a reservation when a LEASED run is canceled or its lease lapses", () => {
    const gate = new KeyGate();
    let a = step(ready(1), gate, HOLD, { type: "LEASE", at: 1 });
    expect(gate.holdOf("my-key", runId(1))).toBe("RESERVED");
    a = step(a, gate, HOLD, { type: "LEASE_LAPSED", at: 2 });
    expect(gate.occupancy("my-key")).toBe(0);
    a = step(a, gate, HOLD, { type: "LEASE", at: 3 });
    step(a, gate, HOLD, { type: "CANCEL", at: 4 });
    expect(gate.occupancy("my-key")).toBe(0);
  });

  it("counts leases against the slots: a second lease of a single-flight key is refused", () => {
    const gate = new KeyGate();
    step(ready(1), gate, HOLD, { type: "LEASE", at: 1 });
    expect(applyRunAction(ready(2), { type: "LEASE", at: 1 }, { gate, spec: HOLD })).toMatchObject({
      ok: false,
      error: { reason: "KEY_FULL" },
    });
  });

  it("leaves the gate untouched when an action is refused", () => {
    const gate = new KeyGate();
    gate.acquire("my-key", runId(9), 1, "HELD", 0);
    const before = gate.holders("my-key");
    expect(applyRunAction(ready(1), { type: "START_ATTEMPT", at: 1, attemptId: attemptId(1) }, { gate, spec: HOLD }).ok).toBe(false);
    expect(applyRunAction(ready(1), { type: "LEASE", at: 1 }, { gate, spec: HOLD }).ok).toBe(false);
    expect(gate.holders("my-key")).toEqual(before);
  });

  it.each<[RunState]>([["COMPLETED"], ["FAILED"]])("releases on RUNNING -> %s", (target) => {
    const gate = new KeyGate();
    const run = toRunning(gate, HOLD, 1);
    const outcome = target === "COMPLETED" ? "SUCCESS" : "TERMINAL_FAILURE";
    const done = step(run, gate, HOLD, { type: "FINISH_ATTEMPT", at: 3, attemptId: attemptId(1), outcome, maxAttempts: 3 });
    expect(done.state).toBe(target);
    expect(gate.occupancy("my-key")).toBe(0);
  });

  it("applyKeyEffect UNRESERVE keeps a held slot", () => {
    const gate = new KeyGate();
    gate.acquire("my-key", runId(1), 1, "HELD", 0);
    expect(applyKeyEffect(gate, HOLD, runId(1), "UNRESERVE", 1)).toEqual({ kind: "UNCHANGED" });
    expect(gate.holdOf("my-key", runId(1))).toBe("HELD");
  });
});
