/**
 * Watch plumbing for the views: `useRunEvents` runs `watchRuns` (clients/typescript/src/
 * watch.ts: it resumes by itself from the last revision after a disconnect or a server
 * restart) while the component is mounted, hands events over in batches (a backfill of tens
 * of thousands of events costs a few renders, not one each), and reports its state. The
 * minute buckets the overview charts are built from are pure functions in ./series.ts.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { type RunEvent, type WatchFilter, watchRuns } from "../../clients/typescript/src/web.js";
import { connection, useSession } from "./api.js";

/** Where a watch is. */
export type WatchStatus = { readonly kind: "idle" | "connecting" | "live" | "reconnecting" } | { readonly kind: "failed"; readonly error: unknown };

/** What to watch: the filter and the first revision (undefined: do not watch yet). */
export interface WatchSpec {
  readonly filter: WatchFilter;
  readonly fromRevision: bigint | undefined;
}

/** How long events are gathered before they are handed to the view. */
const BATCH_MS = 100;

/**
 * Watches `spec` while mounted and while `spec.fromRevision` is set; `onEvents` gets the
 * events in revision order, in batches. The watch restarts when `key` changes (a string that
 * names the filter and start; the spec object itself may change every render). It ends when
 * `onEvents` returns "stop" or when the watch fails for good (PERMISSION_DENIED, a purged
 * revision, …: status "failed" with the error).
 */
export function useRunEvents(spec: WatchSpec, key: string, onEvents: (events: RunEvent[]) => "stop" | void): WatchStatus {
  const { client } = useSession();
  const [status, setStatus] = useState<WatchStatus>({ kind: "idle" });
  const handler = useRef(onEvents);
  handler.current = onEvents;
  const from = spec.fromRevision;
  useEffect(() => {
    if (from === undefined) {
      setStatus({ kind: "idle" });
      return undefined;
    }
    const ac = new AbortController();
    let pending: RunEvent[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      const batch = pending;
      pending = [];
      if (batch.length > 0 && !ac.signal.aborted && handler.current(batch) === "stop") {
        ac.abort();
        setStatus({ kind: "idle" });
      }
    };
    setStatus({ kind: "connecting" });
    void (async () => {
      try {
        const events = watchRuns(client, spec.filter, {
          fromRevision: from,
          signal: ac.signal,
          maxEventsPerMessage: 500,
          backoff: { initialMs: 200, maxMs: 2_000 },
          onConnect: () => setStatus({ kind: "live" }),
          onReconnect: () => {
            setStatus({ kind: "reconnecting" });
            connection.set("reconnecting");
          },
        });
        for await (const e of events) {
          pending.push(e);
          timer ??= setTimeout(flush, BATCH_MS);
        }
      } catch (e) {
        if (!ac.signal.aborted) setStatus({ kind: "failed", error: e });
      }
    })();
    return () => {
      ac.abort();
      clearTimeout(timer);
    };
    // `key` names everything the watch depends on.
  }, [client, key, from]);
  return status;
}

/** Plain words for a watch status (the views show it next to their title). */
export function watchLabel(s: WatchStatus): string {
  switch (s.kind) {
    case "idle":
      return "not watching";
    case "connecting":
      return "connecting…";
    case "live":
      return "live";
    case "reconnecting":
      return "reconnecting…";
    case "failed":
      return "live updates stopped";
  }
}
