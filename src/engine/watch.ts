/**
 * Run-event subscriptions: retained history from a start revision, then live events, with
 * no gap and no duplicate, and a bounded buffer per subscriber.
 *
 * No gap: the subscriber registers for live events before it reads history, and history is
 * read up to the revision published at registration; live events at or below what was already
 * delivered are dropped by revision, so the hand-over is exact. Events are published only
 * after their commit is flushed, so nothing a watcher sees can later disappear.
 */
import type { RunId, TaskId } from "../domain/ids.js";
import type { RunState } from "../domain/state.js";
import { EngineError } from "./errors.js";
import type { EventRecord } from "./records.js";

/** Which events a subscriber wants. Empty sets mean "any". */
export interface WatchFilter {
  readonly queues?: ReadonlySet<string>;
  readonly taskId?: TaskId;
  readonly runId?: RunId;
  readonly states?: ReadonlySet<RunState>;
}

/** True when `e` passes `f`. */
export function matches(f: WatchFilter, e: EventRecord): boolean {
  if (f.queues && f.queues.size > 0 && !f.queues.has(e.queue)) return false;
  if (f.taskId && f.taskId !== e.taskId) return false;
  if (f.runId && f.runId !== e.runId) return false;
  if (f.states && f.states.size > 0 && !f.states.has(e.to)) return false;
  return true;
}

/**
 * What a watch yields: an event; several consecutive events (at least two, only when the
 * subscription allows batches); or progress (every revision up to `revision` was considered).
 */
export type WatchItem =
  | { readonly kind: "event"; readonly event: EventRecord }
  | { readonly kind: "events"; readonly events: readonly EventRecord[] }
  | { readonly kind: "progress"; readonly revision: number };

/** Where history comes from. */
export interface HistorySource {
  /** Events with revision >= from, in order, at most `limit`. */
  events(from: number, limit: number): EventRecord[];
  /** Oldest revision still stored. */
  oldestRevision(): number;
}

/** Options of one subscription. */
export interface WatchOptions {
  readonly filter: WatchFilter;
  /** First revision wanted; 0 = live only. */
  readonly fromRevision: number;
  /** Most undelivered items buffered before the stream fails with WATCH_TOO_SLOW. */
  readonly maxBuffer: number;
  /** Interval of progress items while nothing matches; 0 = none. */
  readonly progressIntervalMs: number;
  /**
   * Most events per item (default 1). Above 1, events already waiting when the consumer asks
   * for the next item (a backlog, or history) come together as one "events" item; a consumer
   * that keeps up still gets single "event" items.
   */
  readonly maxBatch?: number;
  /** Ends the subscription (client gone). */
  readonly signal?: AbortSignal;
}

interface Subscriber {
  push(items: readonly WatchItem[], revision: number): void;
  end(error: EngineError): void;
}

const HISTORY_CHUNK = 512;

/** The item of one event, built once per event and shared by every subscriber it matches. */
function eventItems(events: readonly EventRecord[]): WatchItem[] {
  const out = new Array<WatchItem>(events.length);
  for (let i = 0; i < events.length; i++) out[i] = { kind: "event", event: events[i] as EventRecord };
  return out;
}

/** Fans committed events out to subscribers. */
export class WatchHub {
  readonly #subs = new Set<Subscriber>();
  readonly #history: HistorySource;
  #published: number;
  #closedWith: EngineError | null = null;

  constructor(history: HistorySource, publishedRevision: number) {
    this.#history = history;
    this.#published = publishedRevision;
  }

  /** Revision of the last published event. */
  get published(): number {
    return this.#published;
  }

  /** Active subscriptions. */
  get subscribers(): number {
    return this.#subs.size;
  }

  /**
   * Publishes events of a flushed commit (in revision order); `revision` is the new head. Each
   * event's item is built once and shared: fan-out costs a filter check and a reference per
   * subscriber, nothing allocated per subscriber and event.
   */
  publish(events: readonly EventRecord[], revision: number): void {
    this.#published = Math.max(this.#published, revision);
    if (this.#subs.size === 0) return;
    const items = eventItems(events);
    for (const s of this.#subs) s.push(items, revision);
  }

  /** Rewinds the head after a failed commit was recovered from storage. */
  reset(revision: number): void {
    this.#published = revision;
  }

  /** Ends every subscription with `error` (shutdown) and refuses new ones. */
  close(error: EngineError): void {
    this.#closedWith = error;
    for (const s of [...this.#subs]) s.end(error);
    this.#subs.clear();
  }

  /**
   * Subscribes. Throws REVISION_PURGED (metadata oldest_revision) when `fromRevision` is
   * older than the retained history, SHUTTING_DOWN after close.
   *
   * Every resource of the subscription (its place among the subscribers, its buffer, its
   * progress timer, its abort listener) is released as soon as the subscription ends, however
   * it ends: by its consumer (return / throw / the end of the loop), by `signal` (the client
   * went away: the consumer may be suspended at a `yield` it never resumes, so this cannot
   * wait for the generator's `finally`), by a full buffer (WATCH_TOO_SLOW, still thrown to
   * the consumer when it reads on) or by `close`.
   */
  subscribe(opts: WatchOptions): AsyncIterable<WatchItem> {
    if (this.#closedWith) throw this.#closedWith;
    const oldest = this.#history.oldestRevision();
    if (opts.fromRevision !== 0 && opts.fromRevision < oldest) {
      throw new EngineError("REVISION_PURGED", `revision ${opts.fromRevision} was purged; the oldest available is ${oldest}`, {
        metadata: { oldest_revision: String(oldest), requested_revision: String(opts.fromRevision) },
      });
    }
    return this.#stream(opts);
  }

  async *#stream(opts: WatchOptions): AsyncGenerator<WatchItem> {
    // The buffer: shared items from `head` on (a head index, no O(n) shift per item).
    let queue: WatchItem[] = [];
    let head = 0;
    let failure: EngineError | null = null;
    let released = false;
    let wake: (() => void) | null = null;
    let delivered = opts.fromRevision === 0 ? this.#published : opts.fromRevision - 1;
    let headSeen = this.#published;
    let tickDue = false;
    let eventSinceTick = false;
    let timer: NodeJS.Timeout | null = null;
    const notify = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    const { filter, maxBuffer, signal } = opts;
    const maxBatch = Math.max(1, opts.maxBatch ?? 1);
    const release = () => {
      if (released) return;
      released = true;
      this.#subs.delete(sub);
      if (timer) clearInterval(timer);
      timer = null;
      signal?.removeEventListener("abort", onAbort);
      queue = [];
      head = 0;
      notify();
    };
    const fail = (error: EngineError) => {
      failure ??= error;
      release();
    };
    const sub: Subscriber = {
      push: (items, revision) => {
        for (let i = 0; i < items.length; i++) {
          const item = items[i] as WatchItem & { kind: "event" };
          if (matches(filter, item.event)) queue.push(item);
        }
        if (queue.length - head > maxBuffer) {
          fail(
            new EngineError("WATCH_TOO_SLOW", `the watch fell more than ${maxBuffer} events behind; resume from the last revision received`, {
              metadata: { last_revision: String(delivered), limit: String(maxBuffer) },
            }),
          );
          return;
        }
        headSeen = Math.max(headSeen, revision);
        notify();
      },
      end: fail,
    };
    // The consumer's own cancel: released now; a consumer that reads on just sees the end.
    const onAbort = () => release();
    if (signal?.aborted) return;
    const historyUntil = this.#published;
    this.#subs.add(sub);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.progressIntervalMs > 0) {
      timer = setInterval(() => {
        tickDue = true;
        notify();
      }, opts.progressIntervalMs);
      timer.unref();
    }
    try {
      // History: (delivered, historyUntil], read in chunks while live events buffer.
      let batch: EventRecord[] = [];
      while (delivered < historyUntil) {
        const chunk = this.#history.events(delivered + 1, HISTORY_CHUNK);
        let reachedEnd = chunk.length === 0;
        for (let i = 0; i < chunk.length; i++) {
          const e = chunk[i] as EventRecord;
          if (e.revision > historyUntil) {
            reachedEnd = true;
            break;
          }
          if (matches(filter, e)) batch.push(e);
          // A batch goes out when full, or at the end of the chunk (`delivered` is then its last).
          const last = i === chunk.length - 1 || (chunk[i + 1] as EventRecord).revision > historyUntil;
          if (batch.length >= maxBatch || (last && batch.length > 0)) {
            delivered = e.revision;
            eventSinceTick = true;
            const out = batch;
            batch = [];
            yield out.length === 1 ? { kind: "event", event: out[0] as EventRecord } : { kind: "events", events: out };
            if (failure) throw failure;
            if (released) return;
          }
        }
        // Every revision of the chunk (up to historyUntil) was considered.
        const scanned = chunk.length > 0 ? Math.min((chunk.at(-1) as EventRecord).revision, historyUntil) : delivered;
        delivered = Math.max(delivered, scanned);
        if (reachedEnd) break;
      }
      delivered = Math.max(delivered, historyUntil);
      for (;;) {
        if (failure) throw failure;
        if (released || signal?.aborted) return;
        if (head < queue.length) {
          // Up to maxBatch waiting events (those already delivered by history are skipped).
          let out: EventRecord[] | null = null;
          let single: (WatchItem & { kind: "event" }) | null = null;
          while (head < queue.length && (out !== null ? out.length : single !== null ? 1 : 0) < maxBatch) {
            const item = queue[head++] as WatchItem & { kind: "event" };
            if (item.event.revision <= delivered) continue;
            delivered = item.event.revision;
            if (single === null) single = item;
            else (out ??= [single.event]).push(item.event);
          }
          if (head === queue.length) {
            queue.length = 0;
            head = 0;
          } else if (head >= 1_024 && head * 2 >= queue.length) {
            // A consumer that never quite catches up: drop the consumed prefix now and then.
            queue = queue.slice(head);
            head = 0;
          }
          if (single === null) continue;
          eventSinceTick = true;
          yield out === null ? single : { kind: "events", events: out };
          continue;
        }
        // Nothing buffered: every published revision up to headSeen has been considered.
        delivered = Math.max(delivered, headSeen);
        if (tickDue) {
          tickDue = false;
          if (!eventSinceTick) yield { kind: "progress", revision: delivered };
          eventSinceTick = false;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      release();
    }
  }
}
