/**
 * Online backup (`actionqueue backup`) and restore (a server started on the backup): a copy
 * taken while a producer submits and workers complete holds exactly the database as of one
 * revision — every task acknowledged before the backup started, none acknowledged after it
 * ended, and the event log equal to the live server's up to that revision and ending there.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import type { ActionQueueClients } from "../../clients/typescript/src/index.js";
import { tempDir } from "../support/engine.js";
import { connectGrpc, startServer } from "../support/server.js";

const ROOT = join(import.meta.dirname, "..", "..");
const payload = (s: string) => ({ data: new TextEncoder().encode(s), contentType: "text/plain" });

function cli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/bin/cli.ts"), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

interface Ev {
  readonly revision: bigint;
  readonly type: number;
  readonly runId: string;
  readonly taskId: string;
  readonly toState: number;
}

/** The event log from revision 1 through `last` (the server's current revision). */
async function eventLog(c: ActionQueueClients, last: bigint): Promise<Ev[]> {
  const out: Ev[] = [];
  if (last === 0n) return out;
  const ac = new AbortController();
  try {
    for await (const m of c.runs.watchRuns({ startRevision: 1n, maxEventsPerMessage: 1000, progressIntervalMs: 100 }, { signal: ac.signal, timeoutMs: 60_000 })) {
      const events = m.kind.case === "event" ? [m.kind.value] : m.kind.case === "events" ? m.kind.value.events : [];
      for (const e of events) out.push({ revision: e.revision, type: e.type, runId: e.runId, taskId: e.taskId, toState: e.toState });
      const seen = m.kind.case === "progress" ? m.kind.value.revision : (out.at(-1)?.revision ?? 0n);
      if (seen >= last) break;
    }
  } finally {
    ac.abort();
  }
  return out.filter((e) => e.revision <= last);
}

describe("online backup and restore", () => {
  it("a backup taken under load restores to exactly the data acknowledged up to its revision", { timeout: 240_000 }, async () => {
    const live = await startServer();
    const backupDir = join(tempDir("aq-backup-"), "copy");
    const c = connectGrpc(live.port);
    type Phase = "before" | "during" | "after";
    let phase: Phase = "before";
    const acked: { id: string; phase: Phase }[] = [];
    let stop = false;
    let failure: unknown = null;
    const producer = (async () => {
      for (let i = 0; !stop; i++) {
        // The phase is read when the call is made: "before" means acknowledged before the
        // backup process was started, "after" means sent after it exited.
        const sentIn = phase;
        const r = await c.tasks.submitTask({ spec: { queue: "bk", payload: payload(`t${i}`) } });
        acked.push({ id: r.task?.id as string, phase: sentIn === "before" && phase !== "before" ? "during" : sentIn });
      }
    })().catch((e: unknown) => (failure = e));
    let completed = 0;
    const workers = Array.from({ length: 2 }, (_, w) =>
      (async () => {
        while (!stop) {
          // Long leases: the restored server must not expire them while the test reads it.
          const got = await c.workers.leaseRuns({ queues: ["bk"], workerId: `w${w}`, maxRuns: 5, startAttempt: true, leaseDuration: { seconds: 600n }, wait: { seconds: 1n } });
          for (const l of got.runs) {
            await c.workers.completeAttempt({ runId: l.run?.id as string, leaseToken: l.leaseToken, attemptId: l.attempt?.id as string, outcome: 1 });
            completed++;
          }
        }
      })().catch((e: unknown) => (failure = e)),
    );
    try {
      // Enough history before the backup, whatever this machine's speed.
      while (acked.length < 200 || completed < 50) {
        if (failure) throw failure;
        await new Promise((r) => setTimeout(r, 20));
      }
      phase = "during";
      const during0 = acked.length;
      const backup = await cli(["backup", "--data-dir", live.dataDir, "--to", backupDir]);
      const duringAcks = acked.length - during0;
      phase = "after";
      expect(backup.code, backup.stderr).toBe(0);
      const m = /revision (\d+), (\d+) bytes/.exec(backup.stdout);
      expect(m, backup.stdout).not.toBeNull();
      const revision = BigInt((m as RegExpExecArray)[1] as string);
      // Under load: the producer kept being acknowledged while the backup ran.
      expect(duringAcks).toBeGreaterThan(0);
      const after0 = acked.length;
      while (acked.length < after0 + 20) {
        if (failure) throw failure;
        await new Promise((r) => setTimeout(r, 20));
      }
      stop = true;
      await Promise.all([producer, ...workers]);
      if (failure) throw failure;

      // The live server's event log up to the backup's revision is the reference.
      const liveLast = (await c.admin.getStats({})).revision;
      expect(liveLast).toBeGreaterThan(revision);
      const liveLog = await eventLog(c, liveLast);
      const created = new Map(liveLog.filter((e) => e.type === 1).map((e) => [e.taskId, e.revision]));
      // The backup is one directory with the one data file: a valid --data-dir.
      expect(readdirSync(backupDir)).toEqual(["data.mdb"]);

      const restored = await startServer({ dataDir: backupDir });
      try {
        const r = connectGrpc(restored.port);
        const stats = await r.admin.getStats({});
        expect(stats.revision).toBe(revision);
        const restoredLog = await eventLog(r, stats.revision);
        expect(restoredLog).toEqual(liveLog.filter((e) => e.revision <= revision));
        // Task by task: present exactly when created at or before the backup's revision.
        for (const a of acked) {
          const createdAt = created.get(a.id);
          expect(createdAt, `event of ${a.id}`).toBeDefined();
          const exists = await r.tasks.getTask({ taskId: a.id }).then(
            () => true,
            (e: unknown) => {
              if (e instanceof ConnectError && e.code === Code.NotFound) return false;
              throw e;
            },
          );
          expect({ id: a.id, exists }).toEqual({ id: a.id, exists: (createdAt as bigint) <= revision });
          if (a.phase === "before") expect(exists).toBe(true);
          if (a.phase === "after") expect(exists).toBe(false);
        }
        expect(Number(stats.tasks)).toBe(acked.filter((a) => (created.get(a.id) as bigint) <= revision).length);
      } finally {
        await restored.cleanup();
      }
    } finally {
      stop = true;
      await Promise.allSettled([producer, ...workers]);
      await live.cleanup();
      rmSync(join(backupDir, ".."), { recursive: true, force: true });
    }
  });

  it("refuses a non-empty target, a directory without data, and the source itself, writing nothing", { timeout: 60_000 }, async () => {
    const live = await startServer();
    const root = tempDir("aq-backup-refusals-");
    try {
      const full = join(root, "full");
      mkdirSync(full);
      writeFileSync(join(full, "keep.txt"), "mine");
      const cases: [string[], RegExp][] = [
        [["--data-dir", live.dataDir, "--to", full], /is not empty/],
        [["--data-dir", join(root, "nothing"), "--to", join(root, "b1")], /is not a data directory/],
        [["--data-dir", live.dataDir, "--to", live.dataDir], /must differ/],
      ];
      for (const [args, message] of cases) {
        const r = await cli(["backup", ...args]);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(message);
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
      }
      expect(readdirSync(full)).toEqual(["keep.txt"]);
      expect(existsSync(join(root, "b1"))).toBe(false);
      // The server was not disturbed.
      expect((await connectGrpc(live.port).admin.getStats({})).enginePaused).toBe(false);
    } finally {
      await live.cleanup();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
