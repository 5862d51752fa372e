/**
 * Crash safety: a child process applies commands and prints every acknowledged change; the
 * test kills it with SIGKILL at random moments (24 rounds on the same directory) and, after
 * each kill, reopens the store and checks that every acknowledged change is there, that no
 * partial change is (whole-store consistency), and that the core invariants hold.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import type { RunId, TaskId } from "../../../src/domain/ids.js";
import { canTransition, type RunState } from "../../../src/domain/state.js";
import { LmdbStore } from "../../../src/storage/lmdb/store.js";
import { seededRandom, tempDir } from "../../support/engine.js";
import { checkStore } from "../../support/invariants.js";

const ROUNDS = 24;

interface Ack {
  run?: RunId;
  rev?: number;
  state?: RunState;
  task?: TaskId;
  ready?: boolean;
}

function startChild(dir: string, seed: number): { child: ChildProcess; acks: Ack[]; ready: Promise<void>; exited: Promise<void> } {
  const child = spawn(process.execPath, ["--import", "tsx", "test/support/crash-child.ts", dir, String(seed)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const acks: Ack[] = [];
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  let onReady: () => void = () => {};
  let onFail: (e: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    const a = JSON.parse(line) as Ack;
    if (a.ready) onReady();
    else acks.push(a);
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  child.on("exit", (code, signal) => {
    if (signal !== "SIGKILL") onFail(new Error(`child exited early (code ${code}, signal ${signal}): ${stderr}`));
  });
  return { child, acks, ready, exited };
}

/** A state the run may have reached after `from`, by zero or more transitions. */
function reachable(from: RunState, to: RunState): boolean {
  const seen = new Set<RunState>([from]);
  const work: RunState[] = [from];
  while (work.length > 0) {
    const s = work.pop() as RunState;
    for (const n of ["SCHEDULED", "READY", "LEASED", "RUNNING", "RETRY_WAIT", "SUSPENDED", "COMPLETED", "FAILED", "CANCELED"] as const) {
      if (!seen.has(n) && canTransition(s, n)) {
        seen.add(n);
        work.push(n);
      }
    }
  }
  return seen.has(to);
}

describe("crash safety under SIGKILL", () => {
  it(`keeps every acknowledged change and no partial one across ${ROUNDS} kills`, async () => {
    const dir = tempDir("aq-crash-");
    const rnd = seededRandom(2026);
    let totalAcks = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const { child, acks, ready, exited } = startChild(dir, round + 1);
        await ready;
        // Let it work for a random while, then kill it mid-flight.
        await new Promise((r) => setTimeout(r, 30 + Math.floor(rnd.next() * 250)));
        child.kill("SIGKILL");
        await exited;
        totalAcks += acks.length;

        const store = await LmdbStore.open({ path: dir });
        try {
          const problems = checkStore(store);
          expect(problems, `round ${round}: store inconsistent`).toEqual([]);
          const r = store.reader;
          const oldest = r.meta().oldestRevision;
          for (const a of acks) {
            if (a.task) {
              expect(r.getTask(a.task), `round ${round}: acknowledged task ${a.task} lost`).toBeDefined();
            }
            if (a.run && a.rev !== undefined && a.state) {
              const run = r.getRun(a.run);
              expect(run, `round ${round}: acknowledged run ${a.run} lost`).toBeDefined();
              if (!run) continue;
              // The acknowledged change is in the log, exactly as acknowledged...
              if (a.rev >= oldest) {
                const [ev] = r.events(a.rev, 1);
                expect(ev?.revision).toBe(a.rev);
                expect(ev?.runId).toBe(a.run);
                expect(ev?.to).toBe(a.state);
              }
              // ...and the run is at or after it.
              expect(run.revision).toBeGreaterThanOrEqual(a.rev);
              expect(run.state === a.state || reachable(a.state, run.state), `round ${round}: run ${a.run} went back from ${a.state} to ${run.state}`).toBe(true);
            }
          }
        } finally {
          await store.close();
        }
      }
      // The rounds did real work: hundreds of acknowledged changes were checked.
      expect(totalAcks).toBeGreaterThan(ROUNDS * 5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
