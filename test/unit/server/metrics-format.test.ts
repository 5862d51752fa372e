/**
 * The metrics page's format: the registry's output (fed through the engine observer port and
 * the RPC recorder) passes the strict text-format parser the e2e tests use, with the names,
 * types and labels documented in docs/operations.md; and the parser itself refuses malformed
 * pages, so a pass means something.
 */
import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { TaskService } from "../../../src/gen/actionqueue/v1/task_service_pb.js";
import { Metrics, RPC_OK } from "../../../src/server/metrics/metrics.js";
import { parseExposition, sumOf, value } from "../../e2e/metrics-parser.js";

describe("metrics format", () => {
  it("writes what the engine observer and the RPC recorder were told, as valid exposition text", async () => {
    const m = new Metrics();
    const o = m.engineObserver;
    o.commit(3, 12, 1.5);
    o.created("emails", "READY");
    o.created("emails", "SCHEDULED");
    o.transition("emails", "READY", "LEASED");
    o.leased("emails", 250);
    o.attemptEnded("emails", "SUCCESS", 2_000);
    o.created('odd "queue"\\name', "READY");
    const submit = TaskService.method.submitTask;
    m.rpc(submit, RPC_OK, 0.002);
    m.rpc(submit, RPC_OK, 0.003);
    m.rpc(submit, Code.InvalidArgument, 0.001);
    const { contentType, body } = await m.scrape();
    expect(contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    const f = parseExposition(body);
    expect(f.get("actionqueue_run_transitions_total")?.type).toBe("counter");
    expect(f.get("actionqueue_lease_wait_seconds")?.type).toBe("histogram");
    expect(value(f, "actionqueue_commit_duration_seconds_sum", {})).toBeCloseTo(0.0015);
    expect(value(f, "actionqueue_commit_batch_commands_sum", {})).toBe(3);
    expect(value(f, "actionqueue_commit_batch_verbs_sum", {})).toBe(12);
    expect(value(f, "actionqueue_runs_created_total", { queue: "emails", state: "READY" })).toBe(1);
    expect(value(f, "actionqueue_runs_created_total", { queue: "emails", state: "SCHEDULED" })).toBe(1);
    // Label values are escaped, and read back as they were.
    expect(value(f, "actionqueue_runs_created_total", { queue: 'odd "queue"\\name', state: "READY" })).toBe(1);
    expect(value(f, "actionqueue_run_transitions_total", { queue: "emails", from: "READY", to: "LEASED" })).toBe(1);
    expect(value(f, "actionqueue_lease_wait_seconds_bucket", { queue: "emails", le: "0.1" })).toBe(0);
    expect(value(f, "actionqueue_lease_wait_seconds_bucket", { queue: "emails", le: "0.25" })).toBe(1);
    expect(value(f, "actionqueue_attempt_duration_seconds_count", { queue: "emails", outcome: "SUCCESS" })).toBe(1);
    expect(value(f, "actionqueue_attempt_duration_seconds_sum", { queue: "emails", outcome: "SUCCESS" })).toBe(2);
    expect(value(f, "actionqueue_rpcs_total", { service: "actionqueue.v1.TaskService", method: "SubmitTask", code: "OK" })).toBe(2);
    expect(value(f, "actionqueue_rpcs_total", { service: "actionqueue.v1.TaskService", method: "SubmitTask", code: "INVALID_ARGUMENT" })).toBe(1);
    expect(value(f, "actionqueue_rpc_duration_seconds_count", { service: "actionqueue.v1.TaskService", method: "SubmitTask" })).toBe(3);
    // Without a server attached the scrape-time series are simply absent or zero, not errors.
    expect(sumOf(f, "actionqueue_runs", {})).toBe(0);
    // No id-like label anywhere: only the documented label names.
    const labelNames = new Set<string>();
    for (const fam of f.values()) for (const s of fam.samples) for (const k of Object.keys(s.labels)) labelNames.add(k);
    for (const k of labelNames) expect(["queue", "state", "from", "to", "outcome", "class", "limit", "service", "method", "code", "le", "quantile", "kind", "type", "space", "version", "major", "minor", "patch"]).toContain(k);
  });

  it.each([
    ["a sample with no TYPE", "foo 1\n"],
    ["a bad number", "# TYPE foo gauge\nfoo 1,5\n"],
    ["an unquoted label value", "# TYPE foo gauge\nfoo{a=b} 1\n"],
    ["a bad escape", '# TYPE foo gauge\nfoo{a="\\t"} 1\n'],
    ["a duplicate label", '# TYPE foo gauge\nfoo{a="1",a="2"} 1\n'],
    ["the same series twice", '# TYPE foo gauge\nfoo{a="1"} 1\nfoo{a="1"} 2\n'],
    ["a family split in two", "# TYPE foo gauge\nfoo 1\n# TYPE bar gauge\nbar 1\nfoo 2\n"],
    ["TYPE twice", "# TYPE foo gauge\n# TYPE foo counter\n"],
    ["a negative counter", "# TYPE foo_total counter\nfoo_total -1\n"],
    ["a gauge sample with a histogram suffix", "# TYPE foo gauge\nfoo_sum 1\n"],
    ["a bucket without le", "# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n"],
    ["buckets not cumulative", '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ["no +Inf bucket", '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ["+Inf differing from _count", '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n'],
    ["garbage", "# TYPE foo gauge\nfoo\n"],
  ])("the parser refuses %s", (_, text) => {
    expect(() => parseExposition(text)).toThrow();
  });

  it("the parser accepts what Prometheus accepts: NaN in any case, ±Inf, exponents, timestamps, comments", () => {
    const f = parseExposition('# a comment\n# HELP g A gauge.\n# TYPE g gauge\ng{x="1"} Nan\ng{x="2"} -Inf\ng{x="3"} 1.5e-3 1700000000000\n');
    expect(value(f, "g", { x: "1" })).toBeNaN();
    expect(value(f, "g", { x: "2" })).toBe(Number.NEGATIVE_INFINITY);
    expect(value(f, "g", { x: "3" })).toBe(0.0015);
    expect(f.get("g")?.help).toBe("A gauge.");
  });
});
