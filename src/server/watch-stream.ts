/**
 * WatchRuns streams on the server side: their slots (`--max-watches`), the stall watchdog
 * (`--watch-stall-timeout`) and the encoding of events shared by every stream.
 *
 * Why the slot is released from the call's abort signal and not only from a `finally`: a
 * server-streaming handler is an async generator that connect-node pulls one message at a
 * time, writing each to the HTTP/2 stream and waiting for `drain` before pulling the next. A
 * stream the client cancels while a write is waiting for `drain` (the client had stopped
 * reading, or the stream was backlogged) never drains: connect-node neither pulls again nor
 * calls `return()`, so the generator stays suspended at its `yield` and its `finally` never
 * runs. Everything a stream holds — its slot, its hub subscription and buffer, its timers —
 * is therefore released by whichever comes first: the generator ending (normal end, error,
 * `return()`), the call's signal (client cancel, connection gone, deadline, shutdown), or the
 * stall watchdog.
 *
 * The stall watchdog: a message yielded to connect-node that has not been taken for the stall
 * time means the client's flow-control window stayed full that long (it does not read). The
 * stream is then ended whether or not the client ever reads again: its resources are released
 * and the HTTP/2 stream is reset with ENHANCE_YOUR_CALM, which gRPC clients report as
 * RESOURCE_EXHAUSTED (no trailers can reach a client whose window is full: they queue behind
 * the unsent data). A stream that is still read but too slowly overflows its buffer first and
 * is ended with RESOURCE_EXHAUSTED / WATCH_TOO_SLOW in its trailers as soon as it reads on, or
 * reset at the stall time if it does not.
 *
 * Shared encoding: each event is turned into a WatchRunsResponse once, whichever number of
 * streams carry it (a WeakMap keyed by the engine's event record, which every subscriber
 * shares). For the binary codecs the serialized bytes are shared too: the message handed to
 * connect-es carries the pre-encoded `event` field as an unknown field, which the binary
 * writer copies verbatim — serializing it is one copy, not an encoding of the event.
 */
import http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { type ContextValues, createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { EventRecord, WatchItem } from "../engine/api.js";
import { EngineError } from "../engine/errors.js";
import { RunEventBatchSchema, WatchProgressSchema, type WatchRunsResponse, WatchRunsResponseSchema } from "../gen/actionqueue/v1/run_service_pb.js";
import { eventToPb } from "./convert/views.js";

/** Ends a call's HTTP stream at once, without trailers (HTTP/2: RST_STREAM; HTTP/1.1: the connection). */
export type StreamReset = () => void;

const STREAM_RESET = createContextKey<StreamReset | undefined>(undefined, { description: "actionqueue stream reset" });

type NodeRequest = { readonly stream?: http2.ServerHttp2Stream } | object;
type NodeResponse = { destroy(error?: Error): unknown };

/**
 * Gives the call's handlers a way to reset its HTTP stream (set by the Node adapter for every
 * call). HTTP/2: RST_STREAM ENHANCE_YOUR_CALM, RESOURCE_EXHAUSTED to gRPC clients. HTTP/1.1:
 * the response's connection is destroyed (there is no per-request reset).
 */
export function attachStreamReset(values: ContextValues, req: NodeRequest, res: NodeResponse): void {
  values.set(STREAM_RESET, () => {
    const stream = "stream" in req ? req.stream : undefined;
    if (stream) {
      if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    } else {
      res.destroy();
    }
  });
}

/** What the slots count against. */
export interface WatchLimits {
  readonly maxWatches: number;
  /** A yielded message not taken for this long ends the stream; 0 = never. */
  readonly stallTimeoutMs: number;
  /** Told of each stream ended by the stall watchdog (for the log). */
  readonly onStall?: (info: { lastRevision: number; stallTimeoutMs: number }) => void;
}

/** The open WatchRuns streams of one server: slots, gauge and stall watchdog. */
export class WatchStreams {
  readonly #open = new Set<WatchSlot>();
  readonly #limits: WatchLimits;
  readonly #gauges: { watches: number };
  #sweeper: NodeJS.Timeout | null = null;

  constructor(limits: WatchLimits, gauges: { watches: number }) {
    this.#limits = limits;
    this.#gauges = gauges;
  }

  /** Streams holding a slot. */
  get open(): number {
    return this.#open.size;
  }

  /** A slot for the call (not counted until `acquire`); its `signal` goes to the engine's watch. */
  slot(ctx: HandlerContext): WatchSlot {
    return new WatchSlot(ctx, {
      acquire: (s) => {
        if (this.#gauges.watches >= this.#limits.maxWatches) {
          throw new EngineError("OVERLOADED", `too many watch streams (limit ${this.#limits.maxWatches})`, { metadata: { limit: String(this.#limits.maxWatches) } });
        }
        this.#gauges.watches++;
        this.#open.add(s);
        this.#startSweeper();
      },
      release: (s) => {
        if (!this.#open.delete(s)) return;
        this.#gauges.watches--;
        if (this.#open.size === 0 && this.#sweeper) {
          clearInterval(this.#sweeper);
          this.#sweeper = null;
        }
      },
      stallTimeoutMs: this.#limits.stallTimeoutMs,
      stalled: (lastRevision) => this.#limits.onStall?.({ lastRevision, stallTimeoutMs: this.#limits.stallTimeoutMs }),
    });
  }

  #startSweeper(): void {
    const stallMs = this.#limits.stallTimeoutMs;
    if (this.#sweeper || stallMs <= 0) return;
    this.#sweeper = setInterval(
      () => {
        const now = performance.now();
        for (const s of this.#open) s.checkStall(now);
      },
      Math.max(20, Math.min(1_000, Math.floor(stallMs / 4))),
    );
    this.#sweeper.unref();
  }
}

interface SlotHooks {
  acquire(s: WatchSlot): void;
  release(s: WatchSlot): void;
  stalled(lastRevision: number): void;
  readonly stallTimeoutMs: number;
}

/** One WatchRuns stream's slot. */
export class WatchSlot {
  readonly #ctx: HandlerContext;
  readonly #hooks: SlotHooks;
  readonly #controller = new AbortController();
  #released = false;
  #failure: EngineError | null = null;
  /** performance.now() when the message connect-node has not taken yet was yielded; 0 = none. */
  #pendingSince = 0;
  #lastRevision = 0;
  readonly #onAbort = () => this.release();

  constructor(ctx: HandlerContext, hooks: SlotHooks) {
    this.#ctx = ctx;
    this.#hooks = hooks;
  }

  /** Aborted when the stream ends for any reason: ends the engine subscription. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Takes a slot (OVERLOADED when none is free) and ties its release to the call's signal. */
  acquire(): void {
    this.#hooks.acquire(this);
    if (this.#ctx.signal.aborted) {
      this.release();
      return;
    }
    this.#ctx.signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** Releases everything the stream holds; idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#ctx.signal.removeEventListener("abort", this.#onAbort);
    this.#hooks.release(this);
    this.#controller.abort();
  }

  /** Ends the stream if connect-node has not taken its last message for the stall time. */
  checkStall(now: number): void {
    if (this.#released || this.#pendingSince === 0 || now - this.#pendingSince < this.#hooks.stallTimeoutMs) return;
    const seconds = Math.round(this.#hooks.stallTimeoutMs / 100) / 10;
    this.#failure = new EngineError("WATCH_TOO_SLOW", `the watch stream was not read for ${seconds}s; resume from the last revision received`, {
      metadata: { last_revision: String(this.#lastRevision), stall_timeout_ms: String(this.#hooks.stallTimeoutMs) },
    });
    this.release();
    this.#hooks.stalled(this.#lastRevision);
    this.#ctx.values.get(STREAM_RESET)?.();
  }

  /** The engine's items as response messages, holding the slot until the stream ends. */
  async *serve(items: AsyncIterable<WatchItem>, encode: (item: WatchItem) => WatchRunsResponse | WatchRunsResponse[]): AsyncGenerator<WatchRunsResponse> {
    try {
      for await (const item of items) {
        if (this.#failure) throw this.#failure;
        if (this.#released) return;
        const out = encode(item);
        for (const message of Array.isArray(out) ? out : [out]) {
          this.#pendingSince = performance.now();
          yield message;
          this.#pendingSince = 0;
          if (this.#failure) throw this.#failure;
        }
        if (item.kind === "event") this.#lastRevision = item.event.revision;
        else if (item.kind === "events") this.#lastRevision = (item.events.at(-1) as EventRecord).revision;
      }
    } finally {
      this.release();
    }
  }
}

/** Builds each event's response once and shares it between streams (see the file comment). */
export class WatchEncoder {
  readonly #messages = new WeakMap<EventRecord, WatchRunsResponse>();
  /** The encoded `event` field of each event without its tag: length varint + RunEvent bytes. */
  readonly #fields = new WeakMap<EventRecord, Uint8Array>();
  readonly #frames = new WeakMap<EventRecord, WatchRunsResponse>();
  readonly #batchBytes: number;

  /**
   * @param batchBytes most encoded (binary) event bytes in one batch message; a batch over it
   *   is split (JSON is larger: keep this well under the message size limit).
   */
  constructor(batchBytes: number) {
    this.#batchBytes = batchBytes;
  }

  /** An encoder for one stream: `binary` when its codec is protobuf (not JSON). */
  forStream(binary: boolean): (item: WatchItem) => WatchRunsResponse | WatchRunsResponse[] {
    return (item) => {
      switch (item.kind) {
        case "progress":
          return create(WatchRunsResponseSchema, { kind: { case: "progress", value: create(WatchProgressSchema, { revision: BigInt(item.revision) }) } });
        case "event":
          return binary ? this.frame(item.event) : this.message(item.event);
        case "events":
          return this.#split(item.events).map((part) =>
            part.length === 1 ? (binary ? this.frame(part[0] as EventRecord) : this.message(part[0] as EventRecord)) : binary ? this.batchFrame(part) : this.batchMessage(part),
          );
      }
    };
  }

  /** Consecutive parts of `events` of at most `batchBytes` encoded bytes each (at least one event each). */
  #split(events: readonly EventRecord[]): (readonly EventRecord[])[] {
    let size = 0;
    for (const e of events) size += 1 + this.#field(e).byteLength;
    if (size <= this.#batchBytes) return [events];
    const parts: EventRecord[][] = [];
    let part: EventRecord[] = [];
    size = 0;
    for (const e of events) {
      const n = 1 + this.#field(e).byteLength;
      if (part.length > 0 && size + n > this.#batchBytes) {
        parts.push(part);
        part = [];
        size = 0;
      }
      part.push(e);
      size += n;
    }
    if (part.length > 0) parts.push(part);
    return parts;
  }

  /** The event's response message, built once. */
  message(e: EventRecord): WatchRunsResponse {
    let m = this.#messages.get(e);
    if (!m) {
      m = create(WatchRunsResponseSchema, { kind: { case: "event", value: eventToPb(e) } });
      this.#messages.set(e, m);
    }
    return m;
  }

  /** Several events as one response message (JSON codecs), the RunEvent messages shared. */
  batchMessage(events: readonly EventRecord[]): WatchRunsResponse {
    const pbs = events.map((e) => {
      const m = this.message(e);
      return m.kind.case === "event" ? m.kind.value : eventToPb(e);
    });
    return create(WatchRunsResponseSchema, { kind: { case: "events", value: create(RunEventBatchSchema, { events: pbs }) } });
  }

  /**
   * The event's response with its serialized `event` field shared: an otherwise empty message
   * whose unknown field 1 holds the bytes of the encoded RunEvent (the binary writer writes
   * unknown fields verbatim after the known ones, of which none is set). Binary codecs only:
   * JSON does not carry unknown fields.
   */
  frame(e: EventRecord): WatchRunsResponse {
    let f = this.#frames.get(e);
    if (!f) {
      f = create(WatchRunsResponseSchema);
      f.$unknown = [{ no: 1, wireType: WireType.LengthDelimited, data: this.#field(e) }];
      this.#frames.set(e, f);
    }
    return f;
  }

  /**
   * Several events as one response (binary codecs): field 3 (RunEventBatch) written from the
   * shared bytes of each event — RunEventBatch.events is field 1 like WatchRunsResponse.event,
   * so each event is its tag 0x0a followed by its shared field bytes.
   */
  batchFrame(events: readonly EventRecord[]): WatchRunsResponse {
    const fields = events.map((e) => this.#field(e));
    let size = 0;
    for (const b of fields) size += 1 + b.byteLength;
    const len = varint(size);
    const data = new Uint8Array(len.byteLength + size);
    data.set(len, 0);
    let at = len.byteLength;
    for (const b of fields) {
      data[at++] = 0x0a;
      data.set(b, at);
      at += b.byteLength;
    }
    const f = create(WatchRunsResponseSchema);
    f.$unknown = [{ no: 3, wireType: WireType.LengthDelimited, data }];
    return f;
  }

  #field(e: EventRecord): Uint8Array {
    let b = this.#fields.get(e);
    if (!b) {
      const bytes = toBinary(WatchRunsResponseSchema, this.#messages.get(e) ?? create(WatchRunsResponseSchema, { kind: { case: "event", value: eventToPb(e) } }));
      // Field 1, length-delimited: tag 0x0a, then the length varint and the RunEvent.
      if (bytes[0] !== 0x0a) throw new Error("unexpected WatchRunsResponse encoding");
      b = bytes.subarray(1);
      this.#fields.set(e, b);
    }
    return b;
  }
}

/** A length as a protobuf varint. */
function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}

/** Whether the call's codec is binary protobuf (gRPC, gRPC-Web or Connect with proto). */
export function binaryCodec(ctx: HandlerContext): boolean {
  return !/[+/]json/i.test(ctx.requestHeader.get("content-type") ?? "");
}
