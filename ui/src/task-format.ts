/**
 * Pure descriptions of a task's run policy, backoff and concurrency for the run page's task
 * panel. Unit-tested in test/unit/ui/task-format.test.ts.
 */
import type { Backoff, Concurrency, RunPolicy } from "../../clients/typescript/src/gen/actionqueue/v1/task_pb.js";
import { HoldPolicy, MisfirePolicy } from "../../clients/typescript/src/gen/actionqueue/v1/task_pb.js";
import { durationMs, formatDuration, formatTime, tsMs } from "./format.js";

/** A Duration in words ("30 s"); `unset` when absent. */
function dur(d: { seconds: bigint; nanos: number } | undefined, unset = "—"): string {
  const ms = durationMs(d);
  return ms === undefined ? unset : formatDuration(ms);
}

/** The policy in one line: "once, at …", "repeat 5 × every 1 m 00 s from …", "cron "0 9 * * *" in Europe/Paris …". */
export function describePolicy(policy: RunPolicy | undefined): string {
  const k = policy?.kind;
  switch (k?.case) {
    case undefined:
      return "once, at submission";
    case "once": {
      const at = tsMs(k.value.startAt);
      return at === undefined ? "once, at submission" : `once, at ${formatTime(at)}`;
    }
    case "repeat": {
      const at = tsMs(k.value.startAt);
      return `repeat ${k.value.count} × every ${dur(k.value.interval, "0 ms")}, from ${at === undefined ? "submission" : formatTime(at)}`;
    }
    case "cron": {
      const c = k.value;
      const parts = [`cron "${c.expression}" in ${c.timeZone === "" ? "UTC" : c.timeZone}`];
      if (c.maxOccurrences > 0) parts.push(`at most ${c.maxOccurrences} runs`);
      parts.push(`misfire ${c.misfirePolicy === MisfirePolicy.UNSPECIFIED ? "CATCH_UP" : (MisfirePolicy[c.misfirePolicy] ?? String(c.misfirePolicy))}`);
      const at = tsMs(c.startAt);
      if (at !== undefined) parts.push(`from ${formatTime(at)}`);
      return parts.join(", ");
    }
  }
}

/** The retry backoff in one line; "server default" when the task sets none. */
export function describeBackoff(b: Backoff | undefined): string {
  const k = b?.kind;
  switch (k?.case) {
    case undefined:
      return "server default";
    case "fixed":
      return `fixed ${dur(k.value.interval)}`;
    case "exponential":
      return `exponential from ${dur(k.value.base)} up to ${dur(k.value.max)}${k.value.jitter ? ", with jitter" : ""}`;
  }
}

/** A task's concurrency constraint in one line; "none" without a key. */
export function describeConcurrency(c: Concurrency | undefined): string {
  if (c === undefined || c.key === "") return "none";
  const hold = c.holdPolicy === HoldPolicy.RELEASE_ON_RETRY ? "release on retry" : "hold during retry";
  return `key "${c.key}", ${c.slots <= 0 ? 1 : c.slots} slot${c.slots > 1 ? "s" : ""}, ${hold}`;
}
