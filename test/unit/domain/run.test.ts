import { describe, expect, it } from "vitest";
import { NIL_UUID, asRunId, asTaskId } from "../../../src/domain/ids.js";
import {
  MAX_ATTEMPT_COUNT,
  type Run,
  finishAttempt,
  newReadyRun,
  newScheduledRun,
  runInvariantViolations,
  setEffectivePriority,
  startAttempt,
  transition,
} from "../../../src/domain/run.js";
import { attemptId, runId, taskId } from "../../support/ids.js";

function must<T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T {
  if (!r.ok) throw new Error(`unexpected refusal ${JSON.stringify(r.error)}`);
  return r.value;
}

function running(): Run {
  let run = must(newScheduledRun(runId(1), taskId(1), 1_000, 1_000));
  run = must(transition(run, "READY", 1_001));
  run = must(transition(run, "LEASED", 1_002));
  return must(transition(run, "RUNNING", 1_003));
}

describe("run construction", () => {
  it("creates a SCHEDULED run with no attempt, priority 0 and last change at creation", () => {
    const run = must(newScheduledRun(runId(1), taskId(1), 5_000, 1_000));
    expect(run).toMatchObject({
      state: "SCHEDULED",
      currentAttemptId: null,
      attemptCount: 0,
      effectivePriority: 0,
      lastStateChangeAt: 1_000,
    });
  });

  it("rejects a nil or empty run id and a nil task id", () => {
    expect(newScheduledRun(asRunId(NIL_UUID), taskId(1), 1, 1)).toMatchObject({ ok: false, error: { reason: "INVALID_RUN_ID" } });
    expect(newScheduledRun(asRunId(""), taskId(1), 1, 1)).toMatchObject({ ok: false, error: { reason: "INVALID_RUN_ID" } });
    expect(newScheduledRun(runId(1), asTaskId(NIL_UUID), 1, 1)).toMatchObject({ ok: false, error: { reason: "INVALID_TASK_ID" } });
    expect(newReadyRun(runId(1), asTaskId(NIL_UUID), 1, 1, 0)).toMatchObject({ ok: false, error: { reason: "INVALID_TASK_ID" } });
  });

  it("rejects a READY run scheduled after its creation", () => {
    expect(newReadyRun(runId(1), taskId(1), 1_001, 1_000, 0)).toEqual({
      ok: false,
      error: { reason: "READY_SCHEDULED_IN_FUTURE", runId: runId(1), scheduledAt: 1_001, createdAt: 1_000 },
    });
  });

  it("accepts a READY run scheduled at or before its creation, with its priority", () => {
    expect(must(newReadyRun(runId(1), taskId(1), 1_000, 1_000, 7)).effectivePriority).toBe(7);
    expect(must(newReadyRun(runId(1), taskId(1), 999, 1_000, -3)).state).toBe("READY");
  });
});

describe("attempts", () => {
  it("refuses to start an attempt when the counter is at its maximum (seed: u32::MAX overflow)", () => {
    const run: Run = { ...running(), attemptCount: MAX_ATTEMPT_COUNT };
    expect(startAttempt(run, attemptId(1))).toEqual({ ok: false, error: { reason: "ATTEMPT_COUNT_OVERFLOW", runId: runId(1) } });
  });

  it("starts an attempt one below the maximum and reaches the maximum exactly", () => {
    const run: Run = { ...running(), attemptCount: MAX_ATTEMPT_COUNT - 1 };
    expect(must(startAttempt(run, attemptId(1))).attemptCount).toBe(MAX_ATTEMPT_COUNT);
  });

  it("starts attempts only in RUNNING", () => {
    const scheduled = must(newScheduledRun(runId(1), taskId(1), 1, 1));
    expect(startAttempt(scheduled, attemptId(1))).toMatchObject({
      ok: false,
      error: { reason: "ATTEMPT_REQUIRES_RUNNING", state: "SCHEDULED" },
    });
  });

  it("refuses a second attempt while one is open", () => {
    const run = must(startAttempt(running(), attemptId(1)));
    expect(startAttempt(run, attemptId(2))).toEqual({
      ok: false,
      error: { reason: "ATTEMPT_ALREADY_ACTIVE", runId: runId(1), attemptId: attemptId(1) },
    });
  });

  it("finishes an attempt only by its own id", () => {
    const run = must(startAttempt(running(), attemptId(1)));
    expect(finishAttempt(run, attemptId(2), true)).toEqual({
      ok: false,
      error: { reason: "ATTEMPT_MISMATCH", runId: runId(1), expectedAttemptId: attemptId(1), attemptId: attemptId(2) },
    });
    const done = must(finishAttempt(run, attemptId(1), true));
    expect(done.currentAttemptId).toBeNull();
    expect(done.countedAttempts).toBe(1);
  });

  it("refuses to finish when no attempt is open, or outside RUNNING", () => {
    expect(finishAttempt(running(), attemptId(1), true)).toEqual({ ok: false, error: { reason: "NO_ACTIVE_ATTEMPT", runId: runId(1) } });
    const scheduled = must(newScheduledRun(runId(1), taskId(1), 1, 1));
    expect(finishAttempt(scheduled, attemptId(1), true)).toMatchObject({
      ok: false,
      error: { reason: "ATTEMPT_REQUIRES_RUNNING" },
    });
  });

  it("gives an uncounted (suspended) attempt back to the budget but keeps it in the counter", () => {
    const run = must(finishAttempt(must(startAttempt(running(), attemptId(1))), attemptId(1), false));
    expect(run.attemptCount).toBe(1);
    expect(run.countedAttempts).toBe(0);
  });

  it("refuses to leave RUNNING while the attempt is open, except to CANCELED", () => {
    const run = must(startAttempt(running(), attemptId(1)));
    for (const to of ["RETRY_WAIT", "SUSPENDED", "COMPLETED", "FAILED"] as const) {
      expect(transition(run, to, 5)).toEqual({
        ok: false,
        error: { reason: "ATTEMPT_IN_PROGRESS", runId: runId(1), attemptId: attemptId(1) },
      });
    }
    const canceled = must(transition(run, "CANCELED", 5));
    expect(canceled.state).toBe("CANCELED");
    expect(canceled.currentAttemptId).toBeNull();
  });
});

describe("priority snapshot", () => {
  it("changes only while READY", () => {
    const ready = must(newReadyRun(runId(1), taskId(1), 1, 1, 0));
    expect(must(setEffectivePriority(ready, 9)).effectivePriority).toBe(9);
    expect(setEffectivePriority(running(), 9)).toEqual({
      ok: false,
      error: { reason: "PRIORITY_REQUIRES_READY", runId: runId(1), state: "RUNNING" },
    });
  });
});

describe("invariant check", () => {
  it("reports an open attempt outside RUNNING and a counted total above the counter", () => {
    const bad: Run = { ...running(), state: "READY", currentAttemptId: attemptId(1), countedAttempts: 2, attemptCount: 1 };
    expect(runInvariantViolations(bad)).toEqual(["open attempt outside RUNNING", "counted attempts out of range"]);
    expect(runInvariantViolations(running())).toEqual([]);
  });
});
