/**
 * Pure formatting for the dashboard: durations, ages, bytes, times, enum names, status codes
 * and attempt output (UTF-8 text when it decodes cleanly, hex otherwise). No DOM, no clock:
 * callers pass "now". Unit-tested in test/unit/ui/format.test.ts.
 */
import { AttemptOutcome, KeyHold, RunState } from "../../clients/typescript/src/gen/actionqueue/v1/run_pb.js";
import { TaskStatus } from "../../clients/typescript/src/gen/actionqueue/v1/task_pb.js";

/** A google.protobuf.Timestamp or Duration as protobuf-es gives it. */
export interface WireTime {
  readonly seconds: bigint;
  readonly nanos: number;
}

/** Epoch milliseconds of a Timestamp; undefined when unset. */
export function tsMs(ts: WireTime | undefined): number | undefined {
  return ts === undefined ? undefined : Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6);
}

/** Milliseconds of a Duration; undefined when unset. */
export function durationMs(d: WireTime | undefined): number | undefined {
  return tsMs(d);
}

/**
 * A duration for people: "0 ms", "850 ms", "12.3 s", "4 m 05 s", "3 h 12 m", "2 d 4 h".
 * Negative durations get a leading minus.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.floor(s)} s`;
  const totalS = Math.floor(s);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (totalS < 3600) return `${Math.floor(totalS / 60)} m ${pad(totalS % 60)} s`;
  if (totalS < 86_400) return `${Math.floor(totalS / 3600)} h ${pad(Math.floor((totalS % 3600) / 60))} m`;
  return `${Math.floor(totalS / 86_400)} d ${Math.floor((totalS % 86_400) / 3600)} h`;
}

/** How long ago `thenMs` was at `nowMs` ("—" when unknown); never negative (clock skew shows as 0). */
export function formatAge(nowMs: number, thenMs: number | undefined): string {
  if (thenMs === undefined) return "—";
  return formatDuration(Math.max(0, nowMs - thenMs));
}

/** `thenMs` relative to `nowMs`: "5 s ago", "in 3 m 00 s" (the future beyond a second), "—" when unknown. */
export function formatRelative(nowMs: number, thenMs: number | undefined): string {
  if (thenMs === undefined) return "—";
  return thenMs > nowMs + 1000 ? `in ${formatDuration(thenMs - nowMs)}` : `${formatDuration(Math.max(0, nowMs - thenMs))} ago`;
}

/** A byte count with binary units: "0 B", "512 B", "1.5 KiB", "3.25 MiB". */
export function formatBytes(n: number | bigint): string {
  let v = Number(n);
  if (!Number.isFinite(v) || v < 0) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${v} B`;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

/** A count with thousands separators ("12,345"); accepts bigint (int64 counts). */
export function formatCount(n: number | bigint): string {
  const i = typeof n === "bigint" ? n : Number.isFinite(n) ? BigInt(Math.trunc(n)) : 0n;
  return i.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A time as "YYYY-MM-DD HH:MM:SS UTC" (the form the server's logs use); "—" when unset. */
export function formatTime(ms: number | undefined): string {
  if (ms === undefined) return "—";
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** The short name of a run state ("READY"); "UNSPECIFIED" for 0 and unknown values. */
export function stateName(s: RunState): string {
  return RunState[s] ?? `STATE_${s}`;
}

/** Every real run state, in lifecycle order. */
export const RUN_STATES: readonly RunState[] = [
  RunState.SCHEDULED,
  RunState.READY,
  RunState.LEASED,
  RunState.RUNNING,
  RunState.RETRY_WAIT,
  RunState.SUSPENDED,
  RunState.COMPLETED,
  RunState.FAILED,
  RunState.CANCELED,
];

/** Whether `s` is terminal (COMPLETED, FAILED, CANCELED). */
export function isTerminal(s: RunState): boolean {
  return s === RunState.COMPLETED || s === RunState.FAILED || s === RunState.CANCELED;
}

/** The run state named `name` ("READY", case-insensitive); undefined when none. */
export function parseState(name: string): RunState | undefined {
  const up = name.trim().toUpperCase();
  return RUN_STATES.find((s) => RunState[s] === up);
}

/** The short name of an attempt outcome ("SUCCESS"); "—" while the attempt is open. */
export function outcomeName(o: AttemptOutcome): string {
  return o === AttemptOutcome.UNSPECIFIED ? "—" : (AttemptOutcome[o] ?? `OUTCOME_${o}`);
}

/** The short name of a key hold ("HELD", "RESERVED"); "—" when none. */
export function holdName(h: KeyHold): string {
  return h === KeyHold.UNSPECIFIED ? "—" : (KeyHold[h] ?? `HOLD_${h}`);
}

/** The short name of a task status ("ACTIVE"). */
export function taskStatusName(s: TaskStatus): string {
  return TaskStatus[s] ?? `STATUS_${s}`;
}

/** gRPC status code names, indexed by code. */
const CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

/** The gRPC name of a status code ("PERMISSION_DENIED"). */
export function codeName(code: number): string {
  return CODE_NAMES[code] ?? `CODE_${code}`;
}

/** What an error is made of, as the dashboard shows it. */
export interface ErrorParts {
  readonly code: number | undefined;
  readonly reason: string;
  readonly message: string;
}

/** One line for an error: "PERMISSION_DENIED: message (reason PERMISSION_DENIED)". */
export function errorLine(e: ErrorParts): string {
  const head = e.code === undefined ? e.message : `${codeName(e.code)}: ${e.message}`;
  return e.reason === "" ? head : `${head} (reason ${e.reason})`;
}

/** The most output text or hex bytes shown; the rest is cut with a note. */
export const OUTPUT_TEXT_LIMIT = 256 * 1024;
export const OUTPUT_HEX_LIMIT = 16 * 1024;

/** How attempt output is shown. */
export type OutputView =
  | { readonly kind: "empty" }
  | { readonly kind: "text" | "hex"; readonly text: string; readonly truncated: boolean; readonly bytes: number };

/**
 * Attempt output for display: UTF-8 text when the bytes decode cleanly and hold no control
 * characters but tab, line feed and carriage return; otherwise hex, 16 bytes a line with the
 * offset. Long outputs are cut (OUTPUT_TEXT_LIMIT characters, OUTPUT_HEX_LIMIT bytes).
 */
export function outputView(bytes: Uint8Array): OutputView {
  if (bytes.length === 0) return { kind: "empty" };
  let text: string | undefined;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    text = undefined;
  }
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
  if (text !== undefined && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) {
    const truncated = text.length > OUTPUT_TEXT_LIMIT;
    return { kind: "text", text: truncated ? text.slice(0, OUTPUT_TEXT_LIMIT) : text, truncated, bytes: bytes.length };
  }
  const shown = bytes.subarray(0, OUTPUT_HEX_LIMIT);
  return { kind: "hex", text: hexDump(shown), truncated: bytes.length > shown.length, bytes: bytes.length };
}

/** Hex, 16 bytes a line, each line prefixed with its offset ("00000010  de ad be ef"). */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const row = Array.from(bytes.subarray(off, off + 16), (b) => b.toString(16).padStart(2, "0")).join(" ");
    lines.push(`${off.toString(16).padStart(8, "0")}  ${row}`);
  }
  return lines.join("\n");
}

/** A queue's rate limit: "none" or "5 runs/s, burst 10". */
export function formatRateLimit(runsPerSecond: number, burst: number): string {
  if (runsPerSecond <= 0) return "none";
  return `${Number(runsPerSecond.toPrecision(6))} runs/s, burst ${burst}`;
}
