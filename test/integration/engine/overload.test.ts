/**
 * Load shedding in the engine's command queue (docs/operations.md, "Load shedding"): past
 * the queue bound a command is refused at once with OVERLOADED and nothing of it applies;
 * the engine's own commands are never refused; a queued command whose caller's signal
 * aborted before its batch started is dropped without running.
 */
import { afterEach, describe, expect, it } from "vitest";
import { EngineError } from "../../../src/engine/errors.js";
import { type TestEngine, openTestEngine, spec, submission } from "../../support/engine.js";

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const taskCount = (te: TestEngine) => te.engine.stats().tasks;

describe("engine command queue bound", () => {
  it("refuses commands past max_queued_commands at once with OVERLOADED; the others all commit", async () => {
    t = await openTestEngine({ maxQueuedCommands: 5 });
    const { engine } = t;
    const order: string[] = [];
    // The first command starts its batch at once (the queue is empty again); the next five
    // wait behind its commit; the rest find the queue full.
    const calls = Array.from({ length: 20 }, (_, i) =>
      engine.submitTasks([submission(spec({ queue: "q" }))]).then(
        (r) => {
          order.push(`ok${i}`);
          return r;
        },
        (e: unknown) => {
          order.push(`refused${i}`);
          throw e;
        },
      ),
    );
    const results = await Promise.allSettled(calls);
    const ok = results.filter((r) => r.status === "fulfilled");
    const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    expect(ok).toHaveLength(6);
    expect(refused).toHaveLength(14);
    for (const e of refused) {
      expect(EngineError.is(e, "OVERLOADED")).toBe(true);
      expect((e as EngineError).metadata).toMatchObject({ limit: "max_queued_commands", max: "5" });
    }
    // Refused at once: every refusal settled before the first accepted command committed.
    const firstOk = order.findIndex((o) => o.startsWith("ok"));
    expect(order.slice(0, firstOk).every((o) => o.startsWith("refused"))).toBe(true);
    expect(order.slice(firstOk).every((o) => o.startsWith("ok"))).toBe(true);
    // Nothing of a refused command applied.
    expect(taskCount(t)).toBe(6);
    expect(engine.commandQueue).toMatchObject({ queued: 0, refused: 14 });
  });

  it("never refuses the engine's own commands (timers)", async () => {
    t = await openTestEngine({ maxQueuedCommands: 1 });
    const { engine, clock } = t;
    const later = clock.now() + 1_000;
    await engine.submitTasks([submission(spec({ queue: "later", policy: { kind: "ONCE", startAt: later } }))]);
    clock.advance(2_000); // the promotion timer is due
    await new Promise((r) => setImmediate(r)); // the first commit's drain loop has ended
    const first = engine.submitTasks([submission(spec())]); // in flight
    const second = engine.submitTasks([submission(spec())]); // queued: the queue is full
    await expect(engine.submitTasks([submission(spec())])).rejects.toMatchObject({ reason: "OVERLOADED" });
    // The due timer queues behind them regardless, and applies.
    await expect(engine.tick()).resolves.toBe(1);
    await Promise.all([first, second]);
    expect(taskCount(t)).toBe(3);
    expect(engine.stats(["later"]).queues[0]?.counts.READY).toBe(1);
  });

  it("with a bound of 0 queues without limit", async () => {
    t = await openTestEngine({ maxQueuedCommands: 0 });
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => t!.engine.submitTasks([submission(spec())])));
    expect(results.every((r) => r.status === "fulfilled")).toBe(true);
  });
});

describe("commands whose caller gave up", () => {
  it("drops a queued command whose signal aborted before its batch started, without running it", async () => {
    t = await openTestEngine();
    const { engine } = t;
    const first = engine.submitTasks([submission(spec({ queue: "kept" }))]); // its batch is committing
    const caller = new AbortController();
    const dropped = engine.submitTasks([submission(spec({ queue: "dropped" }))], { signal: caller.signal });
    const reason = new Error("deadline passed");
    caller.abort(reason);
    await expect(dropped).rejects.toBe(reason);
    await first;
    expect(taskCount(t)).toBe(1);
    expect(engine.stats().queues.map((q) => q.queue.name)).not.toContain("dropped");
    expect(engine.commandQueue.dropped).toBe(1);
  });

  it("refuses at once a command whose signal already aborted (a bare abort() rejects with an AbortError)", async () => {
    t = await openTestEngine();
    const caller = new AbortController();
    caller.abort();
    await expect(t.engine.submitTasks([submission(spec())], { signal: caller.signal })).rejects.toMatchObject({ name: "AbortError" });
    await expect(t.engine.cancelTask("00000000-0000-7000-8000-000000000000" as never, "", { signal: caller.signal })).rejects.toMatchObject({ name: "AbortError" });
    expect(taskCount(t)).toBe(0);
  });

  it("runs a command whose signal aborts only after its batch started (the answer is simply not awaited)", async () => {
    t = await openTestEngine();
    const caller = new AbortController();
    const p = t.engine.submitTasks([submission(spec())], { signal: caller.signal }); // starts at once
    caller.abort();
    await expect(p).resolves.toHaveLength(1);
    expect(taskCount(t)).toBe(1);
  });
});
