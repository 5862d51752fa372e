import { describe, expect, it } from "vitest";
import { parseUuid } from "../../../src/domain/ids.js";
import { MAX_UUIDV7_SEQUENCE, uuidV7Generator, uuidV7Source } from "../../../src/ids/uuidv7.js";

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The 48-bit millisecond timestamp of a UUIDv7. */
const msOf = (id: string): number => Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16);
/** The 12-bit sequence (rand_a) of a UUIDv7. */
const seqOf = (id: string): number => Number.parseInt(id.replaceAll("-", "").slice(13, 16), 16);

const T0 = Date.UTC(2030, 0, 1);

describe("uuidV7Source", () => {
  it("hands out strictly increasing ids over 10,000 calls within one millisecond", () => {
    const ids = uuidV7Source(() => T0);
    const made: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      made.push(i % 3 === 0 ? ids.runId() : i % 3 === 1 ? ids.taskId() : ids.attemptId());
    }
    for (let i = 1; i < made.length; i++) expect((made[i] as string) > (made[i - 1] as string)).toBe(true);
    expect(new Set(made).size).toBe(made.length);
  });

  it("formats valid UUIDv7: version nibble 7, variant 10, the clock's millisecond", () => {
    const ids = uuidV7Source(() => T0);
    for (const id of [ids.runId(), ids.taskId(), ids.attemptId()]) {
      expect(id).toMatch(V7);
      expect(parseUuid(id).ok).toBe(true);
      expect(msOf(id)).toBe(T0);
      // Version 7 in the high nibble of byte 6, variant bits 10 in byte 8.
      const hex = id.replaceAll("-", "");
      expect(Number.parseInt(hex.slice(12, 13), 16)).toBe(7);
      expect(Number.parseInt(hex.slice(16, 18), 16) >> 6).toBe(0b10);
    }
  });

  it("carries a sequence overflow into the next millisecond, then follows the clock again", () => {
    let now = T0;
    const next = uuidV7Generator(() => now);
    const first = next();
    expect([msOf(first), seqOf(first)]).toEqual([T0, 0]);
    let last = first;
    for (let i = 1; i <= MAX_UUIDV7_SEQUENCE; i++) last = next();
    expect([msOf(last), seqOf(last)]).toEqual([T0, MAX_UUIDV7_SEQUENCE]);
    // The 4,097th id in the same millisecond moves on to T0 + 1 with sequence 0.
    const carried = next();
    expect([msOf(carried), seqOf(carried)]).toEqual([T0 + 1, 0]);
    expect(carried > last).toBe(true);
    // The clock catching up to the borrowed millisecond continues its sequence.
    now = T0 + 1;
    const same = next();
    expect([msOf(same), seqOf(same)]).toEqual([T0 + 1, 1]);
    // A later millisecond restarts the sequence.
    now = T0 + 5;
    const later = next();
    expect([msOf(later), seqOf(later)]).toEqual([T0 + 5, 0]);
  });

  it("keeps order when the clock goes backwards", () => {
    let now = T0;
    const next = uuidV7Generator(() => now);
    const a = next();
    now = T0 - 1_000;
    const b = next();
    expect(b > a).toBe(true);
    expect(msOf(b)).toBe(T0);
  });

  it("makes lease tokens random UUIDv4, unrelated to the clock", () => {
    const ids = uuidV7Source(() => T0);
    const tokens = Array.from({ length: 100 }, () => ids.leaseToken());
    for (const t of tokens) expect(t).toMatch(V4);
    expect(new Set(tokens).size).toBe(tokens.length);
  });
});
