/**
 * The dashboard's hash routes (ui/src/route.ts): parsing and building #/, #/runs?…,
 * #/runs/<id> and #/keys?key=…, round trips included.
 */
import { describe, expect, it } from "vitest";
import { RunState } from "../../../clients/typescript/src/gen/actionqueue/v1/run_pb.js";
import { keysHash, NO_FILTER, parseHash, runHash, runsHash, sameFilter } from "../../../ui/src/route.js";

describe("routes", () => {
  it("parses the overview from an empty or root hash", () => {
    expect(parseHash("")).toEqual({ view: "overview" });
    expect(parseHash("#/")).toEqual({ view: "overview" });
    expect(parseHash("#")).toEqual({ view: "overview" });
  });

  it("parses the runs filter, dropping unknown states and keeping lifecycle order", () => {
    expect(parseHash("#/runs")).toEqual({ view: "runs", filter: NO_FILTER });
    expect(parseHash("#/runs?queue=emails&state=running,READY,bogus&task=t1&key=tenant%2042")).toEqual({
      view: "runs",
      filter: { queue: "emails", states: [RunState.READY, RunState.RUNNING], taskId: "t1", key: "tenant 42" },
    });
  });

  it("parses a run page and the keys view", () => {
    expect(parseHash("#/runs/0190abcd-0000-7000-8000-000000000001")).toEqual({ view: "run", runId: "0190abcd-0000-7000-8000-000000000001" });
    expect(parseHash("#/keys")).toEqual({ view: "keys", key: "" });
    expect(parseHash("#/keys?key=a%2Fb")).toEqual({ view: "keys", key: "a/b" });
    expect(parseHash("#/nope")).toEqual({ view: "notfound", path: "/nope" });
    expect(parseHash("#/runs/%E0%A4%A")).toEqual({ view: "notfound", path: "/runs/%E0%A4%A" });
  });

  it("builds hashes that parse back to the same thing", () => {
    const filter = { queue: "q:1", states: [RunState.FAILED, RunState.CANCELED], taskId: "t", key: "k&=?" };
    const h = runsHash(filter);
    expect(h).toBe("#/runs?queue=q%3A1&state=FAILED,CANCELED&task=t&key=k%26%3D%3F");
    const back = parseHash(h);
    expect(back.view === "runs" && sameFilter(back.filter, filter)).toBe(true);
    expect(runsHash()).toBe("#/runs");
    expect(runsHash(NO_FILTER)).toBe("#/runs");
    expect(parseHash(runHash("a/b"))).toEqual({ view: "run", runId: "a/b" });
    expect(parseHash(keysHash("x y"))).toEqual({ view: "keys", key: "x y" });
    expect(keysHash()).toBe("#/keys");
  });

  it("compares filters", () => {
    expect(sameFilter(NO_FILTER, { queue: "", states: [], taskId: "", key: "" })).toBe(true);
    expect(sameFilter(NO_FILTER, { ...NO_FILTER, states: [RunState.READY] })).toBe(false);
  });
});
