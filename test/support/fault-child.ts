/**
 * Child process for the storage-fault test: run under `ulimit -f` (with SIGXFSZ ignored) so
 * the data file cannot grow past a limit, it submits tasks until a commit fails, then checks
 * that reads go on and memory matches disk, and prints one JSON line per step.
 */
import { Engine } from "../../src/engine/engine.js";
import { EngineError } from "../../src/engine/errors.js";
import { LmdbStore } from "../../src/storage/lmdb/store.js";
import { spec, seededRandom } from "./engine.js";
import { sequentialIds } from "./ids.js";
import { ManualClock } from "./clock.js";

const dir = process.argv[2] as string;
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

const store = await LmdbStore.open({ path: dir });
const engine = await Engine.open({ store, clock: new ManualClock(), ids: sequentialIds(), random: seededRandom(1), autoTimers: false });
const accepted: string[] = [];
let failure: EngineError | null = null;
const big = new Uint8Array(60_000).fill(7);
for (let i = 0; i < 2_000 && !failure; i++) {
  try {
    const r = await engine.submitTask({ taskId: null, spec: spec({ payload: { data: big, contentType: "application/octet-stream" } }) });
    accepted.push(r.task.id);
  } catch (e) {
    if (!EngineError.is(e)) throw e;
    failure = e;
  }
}
say({ step: "fill", accepted: accepted.length, reason: failure?.reason ?? null, message: failure?.message ?? null });
// Reads go on.
const readable = accepted.every((id) => engine.reader.getTask(id as never)?.id === id);
say({ step: "reads", ok: readable, taskCount: engine.reader.taskCount() });
// Memory agrees with disk: the ready index holds exactly the READY runs stored.
const stored = engine.reader.counts("default").READY;
say({ step: "memory", readyIndexed: engine.readyIndexed, readyStored: stored });
// The engine still answers commands that need no new pages, e.g. a lease of a stored run.
try {
  const l = await engine.leaseRuns({ queues: ["default"], workerId: "w", capabilities: [], maxRuns: 1, leaseDurationMs: 30_000, waitMs: 0, startAttempt: false });
  say({ step: "lease", ok: true, granted: l.grants.length });
} catch (e) {
  say({ step: "lease", ok: false, reason: EngineError.is(e) ? e.reason : String(e) });
}
await engine.close();
say({ step: "closed" });
