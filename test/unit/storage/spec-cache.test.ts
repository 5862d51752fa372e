import { describe, expect, it } from "vitest";
import type { TaskSpec } from "../../../src/domain/task-spec.js";
import { SpecCache } from "../../../src/storage/lmdb/spec-cache.js";

const spec = (bytes: number, queue = "q"): TaskSpec => ({ queue, payload: { data: new Uint8Array(bytes), contentType: "x" } }) as unknown as TaskSpec;

describe("SpecCache", () => {
  it("loads a miss once and serves the decoded spec from then on", () => {
    const c = new SpecCache(10, 1000);
    let loads = 0;
    const load = () => {
      loads++;
      return spec(1);
    };
    const a = c.get("a", load);
    expect(c.get("a", load)).toBe(a);
    expect(loads).toBe(1);
  });

  it("does not cache what is not found", () => {
    const c = new SpecCache(10, 1000);
    expect(c.get("a", () => undefined)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it("keeps at most maxEntries, dropping the least recently used", () => {
    const c = new SpecCache(3, 1000);
    for (const id of ["a", "b", "c"]) c.get(id, () => spec(1, id));
    c.get("a", () => spec(1, "reloaded")); // a is now the most recently used
    c.get("d", () => spec(1, "d"));
    expect(c.size).toBe(3);
    expect(c.get("a", () => spec(1, "reloaded"))?.queue).toBe("a");
    expect(c.get("b", () => spec(1, "reloaded"))?.queue).toBe("reloaded");
  });

  it("keeps payload bytes within the bound and never caches one payload over a sixteenth of it", () => {
    const c = new SpecCache(100, 1600);
    for (let i = 0; i < 30; i++) c.get(`k${i}`, () => spec(100));
    expect(c.bytes).toBeLessThanOrEqual(1600);
    expect(c.size).toBe(16);
    c.get("huge", () => spec(101));
    expect(c.get("huge", () => spec(7))?.payload.data.byteLength).toBe(7);
  });

  it("forget drops an entry and its bytes", () => {
    const c = new SpecCache(10, 1000);
    c.get("a", () => spec(50));
    c.forget("a");
    c.forget("missing");
    expect([c.size, c.bytes]).toEqual([0, 0]);
  });
});
