/**
 * Descriptions of a task's policy, backoff and concurrency (ui/src/task-format.ts) on the run
 * page's task panel.
 */
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { BackoffSchema, ConcurrencySchema, HoldPolicy, MisfirePolicy, RunPolicySchema } from "../../../clients/typescript/src/gen/actionqueue/v1/task_pb.js";
import { describeBackoff, describeConcurrency, describePolicy } from "../../../ui/src/task-format.js";

const sec = (s: number) => ({ seconds: BigInt(s), nanos: 0 });

describe("task descriptions", () => {
  it("describes once, repeat and cron policies", () => {
    expect(describePolicy(undefined)).toBe("once, at submission");
    expect(describePolicy(create(RunPolicySchema, { kind: { case: "once", value: { startAt: sec(1_700_000_000) } } }))).toBe("once, at 2023-11-14 22:13:20 UTC");
    expect(describePolicy(create(RunPolicySchema, { kind: { case: "repeat", value: { count: 5, interval: sec(60) } } }))).toBe("repeat 5 × every 1 m 00 s, from submission");
    expect(
      describePolicy(create(RunPolicySchema, { kind: { case: "cron", value: { expression: "0 9 * * MON-FRI", timeZone: "Europe/Paris", misfirePolicy: MisfirePolicy.SKIP, maxOccurrences: 3 } } })),
    ).toBe('cron "0 9 * * MON-FRI" in Europe/Paris, at most 3 runs, misfire SKIP');
    expect(describePolicy(create(RunPolicySchema, { kind: { case: "cron", value: { expression: "* * * * *" } } }))).toBe('cron "* * * * *" in UTC, misfire CATCH_UP');
  });

  it("describes backoffs", () => {
    expect(describeBackoff(undefined)).toBe("server default");
    expect(describeBackoff(create(BackoffSchema, { kind: { case: "fixed", value: { interval: sec(5) } } }))).toBe("fixed 5.0 s");
    expect(describeBackoff(create(BackoffSchema, { kind: { case: "exponential", value: { base: sec(1), max: sec(30), jitter: true } } }))).toBe(
      "exponential from 1.0 s up to 30 s, with jitter",
    );
  });

  it("describes concurrency", () => {
    expect(describeConcurrency(undefined)).toBe("none");
    expect(describeConcurrency(create(ConcurrencySchema, { key: "" }))).toBe("none");
    expect(describeConcurrency(create(ConcurrencySchema, { key: "tenant-42" }))).toBe('key "tenant-42", 1 slot, hold during retry');
    expect(describeConcurrency(create(ConcurrencySchema, { key: "k", slots: 4, holdPolicy: HoldPolicy.RELEASE_ON_RETRY }))).toBe('key "k", 4 slots, release on retry');
  });
});
