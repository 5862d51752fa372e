/**
 * Hash routes of the dashboard, as pure functions (the page is one file served at /ui/, so
 * the route lives after '#'):
 *   #/                                       overview
 *   #/runs?queue=q&state=READY,RUNNING&task=t&key=k   runs, filtered
 *   #/runs/<run id>                          one run
 *   #/keys?key=k                             concurrency keys (with a looked-up key)
 * Unit-tested in test/unit/ui/route.test.ts.
 */
import type { RunState } from "../../clients/typescript/src/gen/actionqueue/v1/run_pb.js";
import { parseState, RUN_STATES, stateName } from "./format.js";

/** The filter of the runs view; empty strings and an empty list match everything. */
export interface RunFilter {
  readonly queue: string;
  readonly states: readonly RunState[];
  readonly taskId: string;
  readonly key: string;
}

/** The filter that matches every run. */
export const NO_FILTER: RunFilter = { queue: "", states: [], taskId: "", key: "" };

/** A parsed route. */
export type Route =
  | { readonly view: "overview" }
  | { readonly view: "runs"; readonly filter: RunFilter }
  | { readonly view: "run"; readonly runId: string }
  | { readonly view: "keys"; readonly key: string }
  | { readonly view: "notfound"; readonly path: string };

/** The route of `location.hash` (with or without the leading '#'). */
export function parseHash(hash: string): Route {
  const h = hash.startsWith("#") ? hash.slice(1) : hash;
  const q = h.indexOf("?");
  const path = (q < 0 ? h : h.slice(0, q)).replace(/\/+$/, "") || "/";
  const params = new URLSearchParams(q < 0 ? "" : h.slice(q + 1));
  if (path === "/") return { view: "overview" };
  if (path === "/runs") return { view: "runs", filter: filterFromParams(params) };
  if (path === "/keys") return { view: "keys", key: params.get("key") ?? "" };
  const run = /^\/runs\/([^/]+)$/.exec(path);
  if (run?.[1] !== undefined) {
    try {
      return { view: "run", runId: decodeURIComponent(run[1]) };
    } catch {
      return { view: "notfound", path };
    }
  }
  return { view: "notfound", path };
}

/** The runs filter in `params` (unknown state names are dropped; states deduplicated, in lifecycle order). */
export function filterFromParams(params: URLSearchParams): RunFilter {
  const named = new Set((params.get("state") ?? "").split(",").map(parseState).filter((s): s is RunState => s !== undefined));
  return {
    queue: (params.get("queue") ?? "").trim(),
    states: RUN_STATES.filter((s) => named.has(s)),
    taskId: (params.get("task") ?? "").trim(),
    key: params.get("key") ?? "",
  };
}

/** The hash of the runs view with `filter` ("#/runs" when it matches everything). */
export function runsHash(filter: Partial<RunFilter> = {}): string {
  const p = new URLSearchParams();
  if (filter.queue) p.set("queue", filter.queue);
  if (filter.states !== undefined && filter.states.length > 0) p.set("state", filter.states.map(stateName).join(","));
  if (filter.taskId) p.set("task", filter.taskId);
  if (filter.key) p.set("key", filter.key);
  const qs = p.toString().replace(/%2C/g, ",");
  return qs === "" ? "#/runs" : `#/runs?${qs}`;
}

/** The hash of one run. */
export function runHash(runId: string): string {
  return `#/runs/${encodeURIComponent(runId)}`;
}

/** The hash of the keys view, optionally looking up `key`. */
export function keysHash(key = ""): string {
  return key === "" ? "#/keys" : `#/keys?${new URLSearchParams({ key }).toString()}`;
}

/** Whether two filters are the same. */
export function sameFilter(a: RunFilter, b: RunFilter): boolean {
  return a.queue === b.queue && a.taskId === b.taskId && a.key === b.key && a.states.length === b.states.length && a.states.every((s, i) => b.states[i] === s);
}
