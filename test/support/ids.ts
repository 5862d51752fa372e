/** Deterministic ids for tests: canonical UUIDs built from a counter, in creation order. */
import {
  type AttemptId,
  type IdSource,
  type LeaseToken,
  type RunId,
  type TaskId,
  asAttemptId,
  asLeaseToken,
  asRunId,
  asTaskId,
} from "../../src/domain/ids.js";

/** The n-th test UUID (n >= 1), with a one-hex-digit kind tag so kinds never collide. */
export function testUuid(n: number, tag = 0): string {
  const tail = n.toString(16).padStart(12, "0");
  return `00000000-0000-7000-8${tag.toString(16)}00-${tail}`;
}

export const runId = (n: number): RunId => asRunId(testUuid(n, 1));
export const taskId = (n: number): TaskId => asTaskId(testUuid(n, 2));
export const attemptId = (n: number): AttemptId => asAttemptId(testUuid(n, 3));
export const leaseToken = (n: number): LeaseToken => asLeaseToken(testUuid(n, 4));

/** An IdSource handing out sequential ids. */
export function sequentialIds(): IdSource {
  let n = 0;
  return {
    runId: () => runId(++n),
    taskId: () => taskId(++n),
    attemptId: () => attemptId(++n),
    leaseToken: () => leaseToken(++n),
  };
}
