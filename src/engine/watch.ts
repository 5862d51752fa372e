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

/** What a watch yields: an event, or progress (every revision up to `revision` was considered). */
export type WatchItem = { readonly kind: "event"; readonly event: EventRecord } | { readonly kind: "progress"; readonly revision: number };

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
  /** Ends the subscription (client gone). */
  readonly signal?: AbortSignal;
}

interface Subscriber {
  push(events: readonly EventRecord[], revision: number): void;
  end(error: EngineError): void;
}

const HISTORY_CHUNK = 512;

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

  /** Publishes events of a flushed commit (in revision order); `revision` is the new head. */
  publish(events: readonly EventRecord[], revision: number): void {
    this.#published = Math.max(this.#published, revision);
    for (const s of this.#subs) s.push(events, revision);
  }

  /** Rewinds the head after a failed commit was recovered from storage. */
  reset(revision: number): void {
    this.#published = revision;
  }

  /** Ends every subscription with `error` (shutdown) and refuses new ones. */
  close(error: EngineError): void {
    this.#closedWith = error;
    for (const s of this.#subs) s.end(error);
    this.#subs.clear();
  }

  /**
   * Subscribes. Throws REVISION_PURGED (metadata oldest_revision) when `fromRevision` is
   * older than the retained history, SHUTTING_DOWN after close.
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
    const queue: WatchItem[] = [];
    let failure: EngineError | null = null;
    let wake: (() => void) | null = null;
    let delivered = opts.fromRevision === 0 ? this.#published : opts.fromRevision - 1;
    let headSeen = this.#published;
    let tickDue = false;
    let eventSinceTick = false;
    const notify = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    const sub: Subscriber = {
      push: (events, revision) => {
        if (failure) return;
        for (const e of events) if (matches(opts.filter, e)) queue.push({ kind: "event", event: e });
        if (queue.length > opts.maxBuffer) {
          failure = new EngineError(
            "WATCH_TOO_SLOW",
            `the watch fell more than ${opts.maxBuffer} events behind; resume from the last revision received`,
            { metadata: { last_revision: String(delivered), limit: String(opts.maxBuffer) } },
          );
          queue.length = 0;
        }
        headSeen = Math.max(headSeen, revision);
        notify();
      },
      end: (error) => {
        failure ??= error;
        notify();
      },
    };
    const historyUntil = this.#published;
    this.#subs.add(sub);
    const onAbort = () => sub.end(new EngineError("SHUTTING_DOWN", "watch canceled"));
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    let timer: NodeJS.Timeout | null = null;
    if (opts.progressIntervalMs > 0) {
      timer = setInterval(() => {
        tickDue = true;
        notify();
      }, opts.progressIntervalMs);
      timer.unref();
    }
    try {
      // History: (delivered, historyUntil], read in chunks while live events buffer.
      while (delivered < historyUntil) {
        const chunk = this.#history.events(delivered + 1, HISTORY_CHUNK);
        let reachedEnd = chunk.length === 0;
        for (const e of chunk) {
          if (e.revision > historyUntil) {
            reachedEnd = true;
            break;
          }
          delivered = e.revision;
          if (matches(opts.filter, e)) {
            eventSinceTick = true;
            yield { kind: "event", event: e };
          }
          if (failure) throw failure;
        }
        if (reachedEnd) break;
      }
      delivered = Math.max(delivered, historyUntil);
      for (;;) {
        if (failure) throw failure;
        if (opts.signal?.aborted) return;
        const item = queue.shift();
        if (item) {
          if (item.kind === "event") {
            if (item.event.revision <= delivered) continue;
            delivered = item.event.revision;
            eventSinceTick = true;
          }
          yield item;
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
      if (timer) clearInterval(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      this.#subs.delete(sub);
    }
  }
}
