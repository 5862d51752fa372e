/**
 * Messages between the coordinator (`main.ts`) and its client processes (`agent.ts`), sent
 * over Node's IPC channel. Each agent gets one `init`, answers `ready` once connected, starts
 * on `go`, answers `result`; agents with a background loop (workers, watchers) then wait for
 * `stop` and answer `stopped` before exiting. `count` messages (throttled) carry progress.
 */

/** Which system an agent talks to. */
export type Target = { readonly system: "aq"; readonly url: string } | { readonly system: "bullmq"; readonly host: string; readonly port: number };

export interface ProducerRole {
  readonly role: "producer";
  readonly target: Target;
  readonly queue: string;
  readonly total: number;
  readonly batch: number;
  /** Batches in flight at once. */
  readonly inflight: number;
  /** Report submitted counts with `count` messages (pre-fill progress). */
  readonly progress: boolean;
}

export interface WorkerRole {
  readonly role: "worker";
  readonly target: Target;
  readonly queue: string;
  /** AQ: LeaseRuns.max_runs. BullMQ: Worker `concurrency`. */
  readonly width: number;
  /** AQ: LeaseRuns.wait, seconds. */
  readonly waitSeconds: number;
}

export interface WakeupRole {
  readonly role: "wakeup";
  readonly target: Target;
  readonly queue: string;
  /** Single submits per second (open loop: sends do not wait for the previous answer). */
  readonly rate: number;
  readonly seconds: number;
  /** Leading seconds whose samples are dropped. */
  readonly warmupSeconds: number;
  readonly width: number;
}

export interface SequentialRole {
  readonly role: "sequential";
  readonly target: Target;
  readonly queue: string;
  readonly count: number;
  readonly warmup: number;
}

/** AQ only: `runs` runs processed by one loop of LeaseRuns(max_runs) then BatchCompleteAttempts. */
export interface CyclesRole {
  readonly role: "cycles";
  readonly url: string;
  readonly queue: string;
  readonly runs: number;
  readonly maxRuns: number;
}

/** AQ only: `watchers` WatchRuns streams on one queue, spread over `connections` HTTP/2 connections. */
export interface WatchersRole {
  readonly role: "watchers";
  readonly url: string;
  readonly queue: string;
  readonly watchers: number;
  readonly connections: number;
  readonly maxEventsPerMessage: number;
}

export type Role = ProducerRole | WorkerRole | WakeupRole | SequentialRole | CyclesRole | WatchersRole;

export type ToAgent = { readonly kind: "init"; readonly role: Role } | { readonly kind: "go" } | { readonly kind: "stop" };

export type FromAgent =
  | { readonly type: "ready" }
  | { readonly type: "count"; readonly n: number }
  | { readonly type: "result"; readonly data: unknown }
  | { readonly type: "stopped"; readonly data: unknown }
  | { readonly type: "error"; readonly message: string };

/** Result of a producer: wall time from the first send to the last acknowledgement. */
export interface ProducerResult {
  readonly submitted: number;
  readonly ms: number;
  /** Calls refused with RESOURCE_EXHAUSTED (AQ load shedding) and retried. */
  readonly refused: number;
}

/** What a worker or watcher reports when stopped. */
export interface LoopStats {
  readonly processed: number;
  /** Completions answered with an item error (AQ) or failed jobs (BullMQ). */
  readonly errors: number;
  readonly refused: number;
  /** AQ: LeaseRuns calls; BullMQ: 0. */
  readonly calls: number;
}

/** Latencies in milliseconds, in submit order. */
export interface LatencyResult {
  readonly samples: number[];
  /** Runs never received within the grace period. */
  readonly missing: number;
  readonly refused: number;
}

export interface CyclesResult {
  readonly runs: number;
  readonly cycles: number;
  readonly ms: number;
  readonly errors: number;
  readonly refused: number;
}

/** Payloads are 16 bytes for both systems; the first 8 carry a sequence number. */
export const PAYLOAD_BYTES = 16;

export function aqPayload(seq: number): Uint8Array {
  const b = new Uint8Array(PAYLOAD_BYTES);
  new DataView(b.buffer).setFloat64(0, seq);
  return b;
}

export function aqSeq(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getFloat64(0);
}

/** BullMQ job data: a 16-character string (JSON-encoded by BullMQ, so 18 bytes stored). */
export function bullPayload(seq: number): string {
  return seq.toString(16).padStart(PAYLOAD_BYTES, "0");
}

export function bullSeq(data: unknown): number {
  return typeof data === "string" ? parseInt(data, 16) : -1;
}
