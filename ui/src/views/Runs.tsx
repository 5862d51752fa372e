/**
 * Runs, filtered by queue, states, task and concurrency key, in id order (as ListRuns
 * returns them), a page at a time with next-page tokens (a stack of the tokens walked gives
 * "previous"). Live: a WatchRuns stream with the same queue and task, started at the revision
 * read just before the page, updates the rows shown and places runs that newly match — on
 * this page when they belong to it, otherwise counted in an "N new runs" notice.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Run, RunEvent } from "../../../clients/typescript/src/web.js";
import { usePoll, useSession } from "../api.js";
import { ErrorText, RunLink, useNow } from "../components/bits.js";
import { RunFilterForm } from "../components/RunFilterForm.js";
import { RunsTable } from "../components/RunsTable.js";
import { useRunEvents, watchLabel } from "../live.js";
import { can, defaultQueue } from "../perm.js";
import { type RunFilter, runsHash } from "../route.js";
import { applyEvent, insertAt, insertionIndex, matchesFilter, mayNewlyMatch } from "../runs-model.js";

/** Runs per page. */
const PAGE_SIZE = 50;
/** ListRuns calls made to fill one page when a filter returns short pages (concurrency key). */
const MAX_CALLS_PER_PAGE = 20;
/** Runs looked up at most per batch of events; past it the notice says "reload". */
const MAX_LOOKUPS = 50;

interface Page {
  /** The filter (its hash) the page was read with. */
  readonly fkey: string;
  readonly rows: readonly Run[];
  readonly next: string;
  /** Revision read before the listing: the watch starts after it. Undefined: not live. */
  readonly revision: bigint | undefined;
}

/** The runs page. */
export function Runs({ filter }: { filter: RunFilter }) {
  const { client, caller } = useSession();
  const now = useNow(5_000);
  const fkey = useMemo(() => runsHash(filter), [filter]);
  const scopeQueue = filter.queue || defaultQueue(caller) || null;
  const live = can(caller, "AdminService/GetStats", scopeQueue) && can(caller, "RunService/WatchRuns", scopeQueue);

  // A token limited to some queues may not list every queue: default to its first one.
  useEffect(() => {
    const q = defaultQueue(caller);
    if (q !== "" && filter.queue === "" && filter.taskId === "") location.replace(runsHash({ ...filter, queue: q }));
  }, [caller, filter]);

  // The page token shown and the tokens of the pages before it; back to the first page when the filter changes.
  const [cursorState, setCursor] = useState<{ fkey: string; token: string; stack: readonly string[] }>({ fkey, token: "", stack: [] });
  const cursor = cursorState.fkey === fkey ? cursorState : { fkey, token: "", stack: [] as readonly string[] };
  const [pageState, setPage] = useState<Page | null>(null);
  const page = pageState?.fkey === fkey ? pageState : null;
  const pageRef = useRef<Page | null>(null);
  pageRef.current = page;
  const [error, setError] = useState<unknown>(undefined);
  const [reloads, setReloads] = useState(0);
  const [notice, setNotice] = useState<{ ids: ReadonlySet<string>; overflow: boolean }>({ ids: new Set(), overflow: false });

  useEffect(() => {
    const ac = new AbortController();
    const signal = ac.signal;
    setError(undefined);
    void (async () => {
      try {
        const revision = live ? (await client.admin.getStats({ queues: filter.queue === "" ? [] : [filter.queue] }, { signal })).revision : undefined;
        const rows: Run[] = [];
        let next = cursor.token;
        for (let calls = 0; calls < MAX_CALLS_PER_PAGE; calls++) {
          const r = await client.runs.listRuns(
            { queue: filter.queue, taskId: filter.taskId, states: [...filter.states], concurrencyKey: filter.key, pageSize: PAGE_SIZE - rows.length, pageToken: next },
            { signal },
          );
          rows.push(...r.runs);
          next = r.nextPageToken;
          if (next === "" || rows.length >= PAGE_SIZE) break;
        }
        if (signal.aborted) return;
        const p: Page = { fkey, rows, next, revision };
        pageRef.current = p;
        setPage(p);
        setNotice({ ids: new Set(), overflow: false });
      } catch (e) {
        if (!signal.aborted) setError(e);
      }
    })();
    return () => ac.abort();
    // fkey names the filter; reloads re-reads the same page.
  }, [client, fkey, cursor.token, reloads, live]);

  // Without live updates (the token may not watch), re-read the page every 5 s.
  useEffect(() => {
    if (live) return undefined;
    const t = setInterval(() => setReloads((n) => n + 1), 5_000);
    return () => clearInterval(t);
  }, [live]);

  const lookups = useRef(new Set<string>());
  const lookUp = async (runId: string) => {
    try {
      const r = (await client.runs.getRun({ runId })).run;
      const p = pageRef.current;
      if (r === undefined || p === null || p.fkey !== fkey || !matchesFilter(r, filter)) return;
      const ids = p.rows.map((x) => x.id);
      const i = insertionIndex(ids, r.id, { isFirstPage: cursor.stack.length === 0, hasNextPage: p.next !== "" });
      if (i >= 0) {
        const np = { ...p, rows: insertAt(p.rows, i, r) };
        pageRef.current = np;
        setPage(np);
      } else if (!ids.includes(r.id)) {
        setNotice((n) => (n.ids.has(r.id) ? n : { ids: new Set([...n.ids, r.id]), overflow: n.overflow }));
      }
    } catch {
      // The run went away (purged) or the call failed: nothing to place.
    } finally {
      lookups.current.delete(runId);
    }
  };

  const onEvents = (events: RunEvent[]) => {
    const p = pageRef.current;
    if (p === null || p.fkey !== fkey) return;
    let rows: Run[] | readonly Run[] = p.rows;
    const index = new Map(rows.map((r, i) => [r.id, i]));
    const fresh: string[] = [];
    for (const e of events) {
      const i = index.get(e.runId);
      if (i !== undefined) {
        const row = rows[i] as Run;
        const next = applyEvent(row, e);
        if (next !== row) {
          const copy: Run[] = rows === p.rows ? [...rows] : (rows as Run[]);
          copy[i] = next;
          rows = copy;
        }
      } else if (mayNewlyMatch(e, filter) && !lookups.current.has(e.runId) && !fresh.includes(e.runId)) fresh.push(e.runId);
    }
    if (rows !== p.rows) {
      const np = { ...p, rows };
      pageRef.current = np;
      setPage(np);
    }
    for (const id of fresh) {
      if (lookups.current.size >= MAX_LOOKUPS) {
        setNotice((n) => ({ ids: n.ids, overflow: true }));
        break;
      }
      lookups.current.add(id);
      void lookUp(id);
    }
  };
  const watch = useRunEvents(
    { filter: { queues: filter.queue === "" ? undefined : [filter.queue], taskId: filter.taskId === "" ? undefined : filter.taskId }, fromRevision: page?.revision === undefined ? undefined : page.revision + 1n },
    `${fkey}|${String(page?.revision)}`,
    onEvents,
  );

  const stats = usePoll(async (signal) => (can(caller, "AdminService/GetStats", scopeQueue) ? (await client.admin.getStats({}, { signal })).queues.map((q) => q.queue?.name ?? "") : []), 0, [client]);
  const newCount = notice.ids.size;
  const isFirst = cursor.stack.length === 0;
  return (
    <>
      <h1 tabIndex={-1}>Runs</h1>
      <RunFilterForm filter={filter} queues={stats.data ?? []} />
      <div class="section-head">
        <p class="muted" aria-live="polite" data-testid="runs-live">
          {live ? `Updates: ${watchLabel(watch)}` : "This token may not watch runs: the page is re-read every 5 s."}
        </p>
      </div>
      {watch.kind === "failed" ? <ErrorText error={watch.error} prefix="Live updates stopped:" /> : null}
      {newCount > 0 || notice.overflow ? (
        <div class="banner info" role="status" data-testid="new-runs">
          <span>{notice.overflow ? "Many runs changed" : `${newCount} new ${newCount === 1 ? "run matches" : "runs match"} the filter on another page`}</span>
          {newCount === 0 ? null : (
            <span>
              {": "}
              {[...notice.ids].slice(0, 3).map((id, i) => (
                <span key={id}>
                  {i > 0 ? ", " : ""}
                  <RunLink id={id} />
                </span>
              ))}
              {newCount > 3 ? ", …" : ""}
            </span>
          )}
          .{" "}
          <button type="button" onClick={() => setReloads((n) => n + 1)}>
            Reload this page
          </button>{" "}
          {isFirst ? null : (
            <button type="button" onClick={() => setCursor({ fkey, token: "", stack: [] })}>
              Go to the first page
            </button>
          )}
        </div>
      ) : null}
      {error !== undefined ? <ErrorText error={error} prefix="Could not list the runs:" /> : null}
      {page === null ? (
        error === undefined ? <p aria-busy="true">Loading…</p> : null
      ) : (
        <>
          <RunsTable rows={page.rows} filter={filter} now={now} />
          <p class="muted small" data-testid="runs-count">
            {page.rows.length} {page.rows.length === 1 ? "run" : "runs"} on page {cursor.stack.length + 1}
          </p>
          {isFirst && page.next === "" ? null : (
            <nav class="pager" aria-label="Pages of runs">
              <button type="button" data-testid="prev-page" disabled={isFirst} onClick={() => setCursor({ fkey, token: cursor.stack[cursor.stack.length - 1] ?? "", stack: cursor.stack.slice(0, -1) })}>
                ← Previous
              </button>
              <span class="muted">Page {cursor.stack.length + 1}</span>
              <button type="button" data-testid="next-page" disabled={page.next === ""} onClick={() => setCursor({ fkey, token: page.next, stack: [...cursor.stack, cursor.token] })}>
                Next →
              </button>
            </nav>
          )}
        </>
      )}
    </>
  );
}
