/** Domain runs for unit tests. */
import type { Run } from "../../src/domain/run.js";
import type { RunState } from "../../src/domain/state.js";
import { runId, taskId } from "./ids.js";

/** The n-th test run of task 1 in `state`, created and scheduled at 0, no attempt. */
export function testRun(n: number, state: RunState = "READY", over: Partial<Run> = {}): Run {
  return {
    id: runId(n),
    taskId: taskId(1),
    state,
    currentAttemptId: null,
    attemptCount: 0,
    countedAttempts: 0,
    createdAt: 0,
    scheduledAt: 0,
    effectivePriority: 0,
    lastStateChangeAt: 0,
    ...over,
  };
}
