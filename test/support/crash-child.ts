/**
 * Child process for the crash test. It opens the engine on a directory and applies random
 * commands as fast as it can, printing one JSON line per acknowledged change (after the
 * command's promise resolved, i.e. after the flush). The parent kills it with SIGKILL at a
 * random moment and checks, after reopening, that every acknowledged change is there.
 *
 * Output lines: {"run": id, "rev": revision, "state": S} for every run an acknowledged
 * command touched, and {"task": id, "status": S}. stdout to a pipe is synchronous on Linux,
 * so a line the parent read was written after the acknowledgement.
 */
import { asAttemptId, asLeaseToken, type RunId } from "../../src/domain/ids.js";
import { Engine } from "../../src/engine/engine.js";
import { EngineError } from "../../src/engine/errors.js";
import type { RunRecord } from "../../src/engine/records.js";
import { uuidV7Source } from "../../src/ids/uuidv7.js";
import { LmdbStore } from "../../src/storage/lmdb/store.js";
import { seededRandom, spec } from "./engine.js";

const [dir, seedArg] = process.argv.slice(2) as [string, string];
const rnd = seededRandom(Number(seedArg));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd.next() * xs.length)] as T;

const ids = uuidV7Source();

const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const ack = (runs: readonly RunRecord[]) => {
  for (const r of runs) out({ run: r.id, rev: r.revision, state: r.state });
};

const store = await LmdbStore.open({ path: dir });
const engine = await Engine.open({ store, clock: { now: () => Date.now() }, ids, random: rnd, autoTimers: true });
out({ ready: true, revision: engine.revision });

const leased: Array<{ runId: RunId; token: string; attemptId: string | null }> = [];
const keys = ["alpha", "beta", "gamma"];

async function step(): Promise<void> {
  const op = pick(["submit", "submit", "lease", "lease", "complete", "complete", "cancel", "heartbeat"] as const);
  switch (op) {
    case "submit": {
      const n = 1 + Math.floor(rnd.next() * 4);
      const items = Array.from({ length: n }, () => ({
        taskId: null,
        spec: spec({
          policy: rnd.next() < 0.2 ? { kind: "REPEAT" as const, count: 3, intervalMs: 0, startAt: null } : { kind: "ONCE" as const, startAt: null },
          constraints: {
            maxAttempts: 3,
            backoff: { kind: "FIXED" as const, intervalMs: 0 },
            concurrency: rnd.next() < 0.5 ? { key: pick(keys), slots: pick([1, 2]), holdPolicy: pick(["HOLD_DURING_RETRY", "RELEASE_ON_RETRY"] as const) } : null,
          },
        }),
      }));
      const results = await engine.submitTasks(items);
      for (const r of results) {
        out({ task: r.task.id, status: r.task.status });
        ack(r.runs);
      }
      return;
    }
    case "lease": {
      const r = await engine.leaseRuns({
        queues: ["default"],
        workerId: "crash-worker",
        capabilities: [],
        maxRuns: 1 + Math.floor(rnd.next() * 5),
        leaseDurationMs: 60_000,
        waitMs: 0,
        startAttempt: rnd.next() < 0.7,
      });
      for (const g of r.grants) leased.push({ runId: g.run.id, token: g.lease.token, attemptId: g.attempt?.id ?? null });
      ack(r.grants.map((g) => g.run));
      return;
    }
    case "complete": {
      const batch = leased.splice(0, 1 + Math.floor(rnd.next() * 5));
      const started = [];
      for (const l of batch) {
        if (l.attemptId === null) {
          try {
            const s = await engine.startAttempt(l.runId, asLeaseToken(l.token));
            ack([s.run]);
            started.push({ ...l, attemptId: s.attempt.id });
          } catch (e) {
            if (!EngineError.is(e)) throw e;
          }
        } else started.push(l);
      }
      const results = await engine.completeAttempts(
        started.map((l) => ({
          runId: l.runId,
          token: asLeaseToken(l.token),
          attemptId: asAttemptId(l.attemptId as string),
          outcome: pick(["SUCCESS", "SUCCESS", "RETRYABLE_FAILURE", "TERMINAL_FAILURE", "SUSPENDED"] as const),
          output: new Uint8Array(0),
          error: "",
        })),
      );
      for (const r of results) if (r.ok) ack([r.value.run]);
      return;
    }
    case "cancel": {
      const ids = engine.reader.runIds(undefined, 50);
      if (ids.length === 0) return;
      try {
        ack([await engine.cancelRun(pick(ids))]);
      } catch (e) {
        if (!EngineError.is(e)) throw e;
      }
      return;
    }
    case "heartbeat": {
      const items = leased.slice(0, 10).map((l) => ({ runId: l.runId, token: asLeaseToken(l.token), extendByMs: null }));
      if (items.length > 0) await engine.heartbeat(items);
      return;
    }
  }
}

// Several command streams at once, so batches hold many commands.
await Promise.all(
  Array.from({ length: 4 }, async () => {
    for (;;) await step();
  }),
);
