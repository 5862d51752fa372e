/**
 * watchRuns against the real server: it resumes across a server restart (same port, same
 * data directory) with no gap and no duplicate, starts live without missing what follows the
 * call, ends quietly on abort or break (releasing the server's watch slot), and ends by
 * throwing the typed error when retrying cannot help (INVALID_ARGUMENT, REVISION_PURGED).
 */
import { rmSync } from "node:fs";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import {
  type ActionQueueClients,
  AttemptOutcome,
  InvalidArgumentError,
  type ReconnectInfo,
  RevisionPurgedError,
  type RunEvent,
  RunEventType,
  createActionQueueClients,
  createClient,
  createNodeTransport,
  watchRuns,
} from "../../../clients/typescript/src/index.js";
import { type ServerProcess, startServer } from "../../support/server.js";

const payload = { data: new Uint8Array([1]), contentType: "application/octet-stream" };
const servers: ServerProcess[] = [];
// A short shutdown grace keeps restarts quick (the server otherwise waits up to 10 s for
// open connections); it changes nothing the tests check.
const GRACE = ["--shutdown-grace", "1s"];
afterEach(async () => {
  // Restart tests keep the data directory across their two servers; it goes here.
  for (const s of servers.splice(0)) {
    await s.cleanup();
    rmSync(s.dataDir, { recursive: true, force: true });
  }
});

async function start(...args: Parameters<typeof startServer>): Promise<ServerProcess> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}

/** Submits `n` tasks to `queue`; returns their first run ids. */
async function submit(aq: ActionQueueClients, queue: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await aq.tasks.submitTask({ spec: { queue, payload } })).runs[0]?.id as string);
  return ids;
}

/** Reads `it` until `n` events arrived. */
async function take(it: AsyncIterator<RunEvent>, n: number): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) throw new Error(`watch ended after ${out.length} of ${n} events`);
    out.push(r.value);
  }
  return out;
}

/** The whole retained history of `queue` from revision 1 up to `until`, read by a fresh watch. */
async function history(aq: ActionQueueClients, queue: string, until: bigint): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  const ac = new AbortController();
  for await (const e of watchRuns(aq, { queues: [queue] }, { fromRevision: 1n, signal: ac.signal })) {
    out.push(e);
    if (e.revision >= until) break;
  }
  return out;
}

describe("watchRuns", () => {
  // SIGTERM: the server ends the stream with UNAVAILABLE (SHUTTING_DOWN); SIGKILL: the
  // connection just drops, as in a crash or a network failure.
  it.each(["SIGTERM", "SIGKILL"] as const)("resumes across a server restart (%s) with no gap and no duplicate", async (signal) => {
    const first = await start({ keepData: true, args: GRACE });
    const { port, dataDir } = first;
    const aq = createClient(first.url);
    const q = "watch-restart";
    const reconnects: ReconnectInfo[] = [];
    const it = watchRuns(aq, { queues: [q] }, {
      fromRevision: 1n,
      // No progress message may move the resume point: this test checks resuming after events.
      progressIntervalMs: 60_000,
      backoff: { initialMs: 50, maxMs: 500 },
      onReconnect: (i) => reconnects.push(i),
    })[Symbol.asyncIterator]();
    await submit(aq, q, 3);
    const before = await take(it, 3);
    // While the consumer holds off reading, the server restarts and more changes are
    // committed: they happen while no stream is open, so only the resume can deliver them.
    await first.stop(signal);
    const second = await start({ dataDir, keepData: true, args: [...GRACE, "--listen", `127.0.0.1:${port}`] });
    expect(second.port).toBe(port);
    const after = await submit(aq, q, 4);
    const rest = await take(it, 4);
    await it.return?.();

    const got = [...before, ...rest];
    const revisions = got.map((e) => e.revision);
    expect(new Set(revisions).size).toBe(revisions.length);
    expect([...revisions].sort((a, b) => (a < b ? -1 : 1))).toEqual(revisions);
    expect(rest.map((e) => e.runId)).toEqual(after);
    expect(rest.every((e) => e.type === RunEventType.CREATED)).toBe(true);
    expect(reconnects.length).toBeGreaterThan(0);
    expect(reconnects[0]?.nextRevision).toBe((before.at(-1)?.revision as bigint) + 1n);
    // No gap: exactly what an uninterrupted replay of the queue's history holds.
    const all = await history(aq, q, revisions.at(-1) as bigint);
    expect(all.map((e) => e.revision)).toEqual(revisions);
  });

  it("starts live: only changes after the call, none missed even across a restart before the first event", async () => {
    const first = await start({ keepData: true, args: GRACE });
    const aq = createClient(first.url);
    const q = "watch-live";
    await submit(aq, q, 2);
    let connected!: (start: bigint) => void;
    const pinned = new Promise<bigint>((resolve) => (connected = resolve));
    const it = watchRuns(aq, { queues: [q] }, { backoff: { initialMs: 50, maxMs: 500 }, onConnect: (i) => connected(i.startRevision) })[Symbol.asyncIterator]();
    // The first next() pins "now" (GetStats), then opens the stream; it stays pending until
    // an event comes. The restart happens before any event, so only the pinned revision
    // tells the resumed stream where to start.
    const pending = it.next();
    const startRevision = await pinned;
    expect(startRevision).toBe((await aq.admin.getStats({})).revision + 1n);
    await first.stop();
    const second = await start({ dataDir: first.dataDir, keepData: true, args: [...GRACE, "--listen", `127.0.0.1:${first.port}`] });
    const after = await submit(createClient(second.url), q, 2);
    const firstEvent = await pending;
    const rest = await take(it, 1);
    await it.return?.();
    expect([firstEvent.value as RunEvent, ...rest].map((e) => e.runId)).toEqual(after);
  });

  it("ends quietly on abort, and `break` releases the server's watch slot", async () => {
    const s = await start({ args: ["--max-watches", "1"] });
    const aq = createClient(s.url);
    const ac = new AbortController();
    const seen: RunEvent[] = [];
    const loop = (async () => {
      for await (const e of watchRuns(aq, { queues: ["watch-abort"] }, { fromRevision: 1n, signal: ac.signal })) seen.push(e);
    })();
    await submit(aq, "watch-abort", 1);
    await expect.poll(() => seen.length, { timeout: 20_000 }).toBe(1);
    ac.abort();
    await expect(loop).resolves.toBeUndefined();

    for await (const e of watchRuns(aq, { queues: ["watch-abort"] }, { fromRevision: 1n })) {
      expect(e.runId).toBe(seen[0]?.runId);
      break;
    }
    // With --max-watches 1, a raw stream only opens once both watches above are gone.
    const raw = createActionQueueClients(createNodeTransport(s.url));
    await expect
      .poll(
        async () => {
          const probe = new AbortController();
          try {
            for await (const m of raw.runs.watchRuns({ queues: ["watch-abort"], startRevision: 1n }, { signal: probe.signal })) {
              return m.kind.case;
            }
            return "ended";
          } catch (e) {
            return (e as { code?: Code }).code === Code.ResourceExhausted ? "overloaded" : String(e);
          } finally {
            probe.abort();
          }
        },
        { timeout: 20_000, interval: 200 },
      )
      .toBe("event");
  });

  it("throws InvalidArgumentError for a bad filter instead of retrying", async () => {
    const s = await start();
    const reconnects: ReconnectInfo[] = [];
    const e = await (async () => {
      for await (const _ of watchRuns(createClient(s.url), { queues: ["no spaces allowed"] }, { fromRevision: 1n, onReconnect: (i) => reconnects.push(i) })) void _;
    })().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(reconnects).toEqual([]);
  });

  it("throws RevisionPurgedError with the oldest revision when the start was purged", async () => {
    const s = await start({ args: ["--retention", "1s", "--purge-interval", "1s"] });
    const aq = createClient(s.url);
    const q = "watch-purged";
    await submit(aq, q, 1);
    const leased = (await aq.workers.leaseRuns({ queues: [q], workerId: "w", startAttempt: true })).runs[0];
    await aq.workers.completeAttempt({ runId: leased?.run?.id as string, leaseToken: leased?.leaseToken as string, attemptId: leased?.attempt?.id as string, outcome: AttemptOutcome.SUCCESS });
    await expect.poll(async () => (await aq.admin.getStats({})).oldestRevision, { timeout: 30_000, interval: 250 }).toBeGreaterThan(1n);
    const oldest = (await aq.admin.getStats({})).oldestRevision;
    const e = await (async () => {
      for await (const _ of watchRuns(aq, { queues: [q] }, { fromRevision: 1n })) void _;
    })().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RevisionPurgedError);
    expect((e as RevisionPurgedError).oldestRevision).toBeGreaterThanOrEqual(oldest);
    expect((e as RevisionPurgedError).requestedRevision).toBe(1n);
  });
});
