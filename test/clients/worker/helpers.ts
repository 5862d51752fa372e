/**
 * Helpers of the worker SDK tests: submitting tasks, reading runs and attempts back, waiting
 * for a condition with a generous deadline (never a fixed sleep), and a Connect client whose
 * WorkerService calls are counted (to assert on heartbeat rounds by order, not by time).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  type ActionQueueClients,
  type Attempt,
  type Run,
  RunState,
  type TaskSpecSchema,
} from "../../../clients/typescript/src/index.js";
import { waitFor } from "../../support/wait.js";

export { waitFor };

/** A task spec as the generated init shape. */
export type SpecInit = MessageInitShape<typeof TaskSpecSchema>;

const utf8 = new TextEncoder();

/** Submits `n` one-run tasks to `queue` (payload "0", "1", …) in batches of 1,000; returns the task ids in order. */
export async function submitMany(c: ActionQueueClients, queue: string, n: number, extra: Omit<SpecInit, "queue" | "payload" | "$typeName"> = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let from = 0; from < n; from += 1_000) {
    const count = Math.min(1_000, n - from);
    const reply = await c.tasks.batchSubmitTasks({
      tasks: Array.from({ length: count }, (_, i) => {
        const spec: SpecInit = { ...extra, queue, payload: { data: utf8.encode(String(from + i)), contentType: "text/plain" } };
        return { spec };
      }),
    });
    for (const r of reply.results) ids.push(r.task?.id ?? "");
  }
  return ids;
}

/** Submits one task and returns its first run's id. */
export async function submitOne(c: ActionQueueClients, spec: SpecInit): Promise<string> {
  const reply = await c.tasks.submitTask({ spec });
  const runId = reply.runs[0]?.id;
  if (runId === undefined) throw new Error("submit returned no run");
  return runId;
}

/** Constraints of a task retried `maxAttempts` times with a fixed backoff of `backoffMs`. */
export function retrying(maxAttempts: number, backoffMs = 0): SpecInit["constraints"] {
  return { maxAttempts, backoff: { kind: { case: "fixed", value: { interval: durationFromMs(backoffMs) } } } };
}

/** Every run of `queue` (optionally only in `states`), all pages. */
export async function listRuns(c: ActionQueueClients, queue: string, states: RunState[] = []): Promise<Run[]> {
  const out: Run[] = [];
  let pageToken = "";
  do {
    const page = await c.runs.listRuns({ queue, states, pageSize: 1_000, pageToken });
    out.push(...page.runs);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return out;
}

/** The attempts of one run, in number order. */
export async function attemptsOf(c: ActionQueueClients, runId: string): Promise<Attempt[]> {
  return (await c.runs.listAttempts({ runId, pageSize: 1_000 })).attempts;
}

/** Waits until run `runId` is in `state`; returns it. */
export function waitForState(c: ActionQueueClients, runId: string, state: RunState, timeoutMs = 30_000): Promise<Run> {
  return waitFor(`run ${runId} to be ${RunState[state]}`, async () => {
    const run = (await c.runs.getRun({ runId })).run;
    return run?.state === state ? run : undefined;
  }, timeoutMs);
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });
}

/** `promise`, or a rejection naming `what` after `ms` (a generous bound, so that a hang fails fast instead of at the test timeout). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise with its resolve function. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Calls of the counted WorkerService methods, in the order they started and ended. */
export interface CallLog {
  /** "start:<method>:<n items>" and "end:<method>" entries, in order. */
  readonly entries: string[];
  /** BatchHeartbeat calls started so far. */
  heartbeatsStarted: number;
  /** Item counts of every BatchHeartbeat call. */
  readonly heartbeatSizes: number[];
  /** LeaseRuns calls started so far. */
  leasesStarted: number;
}

/** `clients` with batchHeartbeat and leaseRuns counted in `log` (the other calls pass through). */
export function countingClients(clients: ActionQueueClients): { clients: ActionQueueClients; log: CallLog } {
  const log: CallLog = { entries: [], heartbeatsStarted: 0, heartbeatSizes: [], leasesStarted: 0 };
  const workers = new Proxy(clients.workers, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === "leaseRuns" && typeof value === "function") {
        return (req: unknown, opts: unknown) => {
          log.leasesStarted++;
          return (value as (r: unknown, o: unknown) => unknown).call(target, req, opts);
        };
      }
      if (prop !== "batchHeartbeat" || typeof value !== "function") return value;
      return async (req: { heartbeats?: unknown[] }, opts: unknown) => {
        log.heartbeatsStarted++;
        log.heartbeatSizes.push(req.heartbeats?.length ?? 0);
        log.entries.push(`start:batchHeartbeat:${req.heartbeats?.length ?? 0}`);
        try {
          return (await (value as (r: unknown, o: unknown) => Promise<unknown>).call(target, req, opts)) as unknown;
        } finally {
          log.entries.push("end:batchHeartbeat");
        }
      };
    },
  });
  return { clients: { ...clients, workers }, log };
}

/** The attempt's output as text. */
export function outputText(a: Attempt | undefined): string {
  return new TextDecoder().decode(a?.output ?? new Uint8Array());
}
