/**
 * The dashboard's pure formatting (ui/src/format.ts): durations, ages, bytes, counts, times,
 * enum and status-code names, error lines, and attempt output as text or hex.
 */
import { describe, expect, it } from "vitest";
import { AttemptOutcome, KeyHold, RunState } from "../../../clients/typescript/src/gen/actionqueue/v1/run_pb.js";
import {
  codeName,
  errorLine,
  formatAge,
  formatBytes,
  formatCount,
  formatDuration,
  formatRateLimit,
  formatRelative,
  formatTime,
  hexDump,
  holdName,
  isTerminal,
  OUTPUT_HEX_LIMIT,
  OUTPUT_TEXT_LIMIT,
  outcomeName,
  outputView,
  parseState,
  RUN_STATES,
  stateName,
  tsMs,
} from "../../../ui/src/format.js";

const utf8 = (s: string) => new TextEncoder().encode(s);

describe("durations and times", () => {
  it("formats durations from milliseconds to days", () => {
    expect(formatDuration(0)).toBe("0 ms");
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(1_250)).toBe("1.3 s");
    expect(formatDuration(12_300)).toBe("12 s");
    expect(formatDuration(245_000)).toBe("4 m 05 s");
    expect(formatDuration(3 * 3600_000 + 12 * 60_000)).toBe("3 h 12 m");
    expect(formatDuration(2 * 86_400_000 + 4 * 3600_000)).toBe("2 d 4 h");
    expect(formatDuration(-1500)).toBe("-1.5 s");
    expect(formatDuration(Number.NaN)).toBe("—");
  });

  it("never shows a negative age and says when a time is in the future", () => {
    expect(formatAge(10_000, 4_000)).toBe("6.0 s");
    expect(formatAge(10_000, 12_000)).toBe("0 ms");
    expect(formatAge(10_000, undefined)).toBe("—");
    expect(formatRelative(10_000, 4_000)).toBe("6.0 s ago");
    expect(formatRelative(10_000, 70_000)).toBe("in 1 m 00 s");
    expect(formatRelative(10_000, 10_500)).toBe("0 ms ago");
    expect(formatRelative(10_000, undefined)).toBe("—");
  });

  it("converts Timestamps to epoch milliseconds and formats them in UTC", () => {
    expect(tsMs({ seconds: 1_700_000_000n, nanos: 123_456_789 })).toBe(1_700_000_000_123);
    expect(tsMs(undefined)).toBeUndefined();
    expect(formatTime(Date.UTC(2024, 4, 1, 12, 34, 56, 789))).toBe("2024-05-01 12:34:56 UTC");
    expect(formatTime(undefined)).toBe("—");
  });
});

describe("sizes and counts", () => {
  it("formats bytes with binary units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(10n * 1024n * 1024n)).toBe("10.0 MiB");
    expect(formatBytes(300 * 1024 ** 3)).toBe("300 GiB");
    expect(formatBytes(-1)).toBe("—");
  });

  it("groups thousands, for numbers and int64 bigints", () => {
    expect(formatCount(0)).toBe("0");
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatCount(12345678901234567890n)).toBe("12,345,678,901,234,567,890");
    expect(formatCount(Number.NaN)).toBe("0");
  });

  it("describes a rate limit", () => {
    expect(formatRateLimit(0, 0)).toBe("none");
    expect(formatRateLimit(5, 10)).toBe("5 runs/s, burst 10");
    expect(formatRateLimit(0.1 + 0.2, 1)).toBe("0.3 runs/s, burst 1");
  });
});

describe("names", () => {
  it("names every run state and parses names back", () => {
    expect(RUN_STATES.map(stateName)).toEqual(["SCHEDULED", "READY", "LEASED", "RUNNING", "RETRY_WAIT", "SUSPENDED", "COMPLETED", "FAILED", "CANCELED"]);
    for (const s of RUN_STATES) expect(parseState(stateName(s).toLowerCase())).toBe(s);
    expect(parseState("UNSPECIFIED")).toBeUndefined();
    expect(parseState("nope")).toBeUndefined();
  });

  it("knows the terminal states", () => {
    expect(RUN_STATES.filter(isTerminal)).toEqual([RunState.COMPLETED, RunState.FAILED, RunState.CANCELED]);
  });

  it("names outcomes, holds and status codes", () => {
    expect(outcomeName(AttemptOutcome.UNSPECIFIED)).toBe("—");
    expect(outcomeName(AttemptOutcome.RETRYABLE_FAILURE)).toBe("RETRYABLE_FAILURE");
    expect(holdName(KeyHold.HELD)).toBe("HELD");
    expect(holdName(KeyHold.UNSPECIFIED)).toBe("—");
    expect(codeName(7)).toBe("PERMISSION_DENIED");
    expect(codeName(16)).toBe("UNAUTHENTICATED");
    expect(codeName(99)).toBe("CODE_99");
  });

  it("puts an error on one line: code, message, reason", () => {
    expect(errorLine({ code: 9, reason: "RUN_TERMINAL", message: "run r is COMPLETED" })).toBe("FAILED_PRECONDITION: run r is COMPLETED (reason RUN_TERMINAL)");
    expect(errorLine({ code: 14, reason: "", message: "down" })).toBe("UNAVAILABLE: down");
    expect(errorLine({ code: undefined, reason: "", message: "Failed to fetch" })).toBe("Failed to fetch");
  });
});

describe("attempt output", () => {
  it("shows clean UTF-8 as text, tabs and newlines included", () => {
    expect(outputView(utf8("ok"))).toEqual({ kind: "text", text: "ok", truncated: false, bytes: 2 });
    expect(outputView(utf8("héllo ✓\n\tdone\r\n"))).toMatchObject({ kind: "text", text: "héllo ✓\n\tdone\r\n" });
    expect(outputView(new Uint8Array())).toEqual({ kind: "empty" });
  });

  it("shows invalid UTF-8 and control characters as hex", () => {
    expect(outputView(new Uint8Array([0xff, 0xfe, 0x00]))).toEqual({ kind: "hex", text: "00000000  ff fe 00", truncated: false, bytes: 3 });
    expect(outputView(new Uint8Array([0x61, 0x00, 0x62]))).toMatchObject({ kind: "hex" });
    expect(outputView(new Uint8Array([0x1b, 0x5b, 0x30, 0x6d]))).toMatchObject({ kind: "hex" }); // an escape sequence
  });

  it("dumps hex 16 bytes a line with offsets", () => {
    const bytes = Uint8Array.from({ length: 20 }, (_, i) => i);
    expect(hexDump(bytes)).toBe("00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f\n00000010  10 11 12 13");
  });

  it("cuts long outputs and says so", () => {
    const text = outputView(utf8("a".repeat(OUTPUT_TEXT_LIMIT + 10)));
    expect(text).toMatchObject({ kind: "text", truncated: true, bytes: OUTPUT_TEXT_LIMIT + 10 });
    if (text.kind === "text") expect(text.text).toHaveLength(OUTPUT_TEXT_LIMIT);
    const bin = outputView(new Uint8Array(OUTPUT_HEX_LIMIT + 1).fill(0xff));
    expect(bin).toMatchObject({ kind: "hex", truncated: true, bytes: OUTPUT_HEX_LIMIT + 1 });
    if (bin.kind === "hex") expect(bin.text.split("\n")).toHaveLength(OUTPUT_HEX_LIMIT / 16);
  });
});
