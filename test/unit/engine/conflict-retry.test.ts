/**
 * The pipeline's rule for concurrent commits (src/engine/commit/pipeline.ts #runShared): a
 * batch whose commit lost a race (CommitConflict) is undone in memory and decided again, its
 * refusals answered only once it committed; after MAX_CONFLICT_ROUNDS lost rounds its commands
 * fail with STORAGE_IO and nothing of it is kept. The engine runs over the in-memory store
 * behind a shared-store adapter whose commit loses a set number of races first (the races
 * themselves are made to happen on PostgreSQL in test/integration/postgres/concurrent-commits).
 */
import { describe, expect, it } from "vitest";
import type { TaskId } from "../../../src/domain/ids.js";
import { Engine } from "../../../src/engine/engine.js";
import { MAX_CONFLICT_ROUNDS, conflictBackoffMs } from "../../../src/engine/commit/conflicts.js";
import { CommitConflict, type Followed, type SharedCommit, type SharedStore, type Store, type StoreVerb } from "../../../src/engine/ports.js";
import { uuidV7Source } from "../../../src/ids/uuidv7.js";
import { MemoryStore } from "../../../src/storage/memory/memory-store.js";
import { ManualClock } from "../../support/clock.js";
import { seededRandom, spec, submission } from "../../support/engine.js";
import { sequentialIds } from "../../support/ids.js";

const NOTHING: Followed = { verbs: [], reloaded: false };

/** A one-server shared store over the memory store whose next `losses` commits lose a race. */
class Racing implements SharedStore {
  readonly shared = true;
  readonly concurrent = true;
  commitsTried = 0;
  /** Runs before a commit loses its race (another server committing meanwhile). */
  beforeLoss: (() => Promise<void>) | null = null;
  constructor(
    readonly inner: MemoryStore,
    public losses: number,
  ) {}
  get reader() {
    return this.inner.reader;
  }
  async acquire(): Promise<Followed> {
    return NOTHING;
  }
  async release(): Promise<void> {}
  async follow(): Promise<Followed> {
    return NOTHING;
  }
  onChange(): void {}
  async claim(): Promise<ReadonlySet<string>> {
    return new Set();
  }
  async commit(verbs: readonly StoreVerb[]): Promise<SharedCommit> {
    this.commitsTried++;
    if (this.losses > 0) {
      this.losses--;
      await this.beforeLoss?.();
      throw new CommitConflict("another server changed a row this batch read");
    }
    await this.inner.commit(verbs);
    return { followed: NOTHING, revisionDelta: 0 };
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

async function open(losses: number): Promise<{ engine: Engine; store: Racing }> {
  const store = new Racing(MemoryStore.open(), losses);
  // No wait between rounds (conflicts.ts): its bounds are tested below, and these tests lose up to 64 rounds.
  const engine = await Engine.open({ store, clock: new ManualClock(), ids: sequentialIds(), random: seededRandom(3), autoTimers: false, conflictBackoffMs: 0 });
  return { engine, store };
}

const id = (n: number) => `00000000-0000-7000-8000-${String(n).padStart(12, "0")}` as TaskId;

describe("a concurrent commit that lost a race", () => {
  it("is undone in memory and decided again: stored once, the ready index holds the run once", async () => {
    const { engine, store } = await open(2);
    const [r] = await engine.submitTasks([submission(spec({ queue: "q" }))]);
    expect(r?.created).toBe(true);
    expect(engine.commitConflicts).toBe(2);
    expect(store.commitsTried).toBe(3);
    expect(store.reader.taskCount()).toBe(1);
    expect(engine.readyIndexed).toBe(1);
    expect(engine.queries.getRun(r?.runs[0]?.id as never).run.state).toBe("READY");
    await engine.close();
  });

  it("answers a refusal only once its batch committed: decided again on what another server committed meanwhile, it succeeds", async () => {
    // Two engines on one memory store: `other` stands for another server; what it commits is
    // handed to `engine` as followed verbs when its next window opens.
    const inner = MemoryStore.open();
    const committedByOther: StoreVerb[] = [];
    const otherStore: Store = {
      reader: inner.reader,
      commit: async (verbs) => {
        await inner.commit(verbs);
        committedByOther.push(...verbs);
      },
      close: async () => undefined,
    };
    const store = new Racing(inner, 1);
    store.acquire = async () => ({ verbs: committedByOther.splice(0), reloaded: false });
    const engine = await Engine.open({ store, clock: new ManualClock(), ids: sequentialIds(), random: seededRandom(3), autoTimers: false });
    const other = await Engine.open({ store: otherStore, clock: new ManualClock(), ids: uuidV7Source(), random: seededRandom(4), autoTimers: false });
    // The first commit loses its race to the other server creating task 7.
    store.beforeLoss = () => other.submitTasks([submission(spec({ queue: "q" }), id(7))]).then(() => undefined);
    // One batch: a submission (so the batch writes and commits) and a cancel of task 7, which
    // the first round refuses (TASK_NOT_FOUND) and the second, after following, carries out.
    const submitted = engine.submitTasks([submission(spec({ queue: "q" }))]);
    const canceled = engine.cancelTask(id(7));
    await expect(submitted).resolves.toHaveLength(1);
    await expect(canceled).resolves.toMatchObject({ task: { id: id(7), status: "CANCELED" } });
    expect(engine.commitConflicts).toBe(1);
    await engine.close();
    await other.close();
  });

  it(`fails its commands with STORAGE_IO after ${MAX_CONFLICT_ROUNDS} lost rounds, keeping nothing, and the engine goes on`, async () => {
    const { engine, store } = await open(1_000);
    await expect(engine.submitTasks([submission(spec({ queue: "q" }))])).rejects.toMatchObject({ reason: "STORAGE_IO" });
    expect(store.commitsTried).toBe(MAX_CONFLICT_ROUNDS);
    expect(engine.commitConflicts).toBe(MAX_CONFLICT_ROUNDS);
    expect(store.reader.taskCount()).toBe(0);
    expect(engine.readyIndexed).toBe(0);
    store.losses = 0;
    const [r] = await engine.submitTasks([submission(spec({ queue: "q" }))]);
    expect(r?.created).toBe(true);
    expect(engine.readyIndexed).toBe(1);
    await engine.close();
  });
});

describe("the wait before a batch is decided again", () => {
  it("is a uniform draw below 2^(round-1) ms, capped, and none with a cap of 0", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((round) => conflictBackoffMs(round, 0.999_999, 50))).toEqual([1, 2, 4, 8, 16, 32, 50].map((c) => c * 0.999_999));
    for (const round of [1, 5, 64, 1_000]) {
      expect(conflictBackoffMs(round, 0, 50)).toBe(0);
      expect(conflictBackoffMs(round, 0.5, 0)).toBe(0);
    }
    expect(conflictBackoffMs(10, 0.5, 50)).toBe(25);
    // Never above the cap or below 0, whatever the draw; no overflow for any round.
    for (let round = 1; round <= 2_000; round += 37) {
      for (const draw of [-1, 0.25, 0.75, 1, 2]) {
        const ms = conflictBackoffMs(round, draw, 50);
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThanOrEqual(50);
      }
    }
  });
});
