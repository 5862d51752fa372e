/**
 * The overview: engine facts (paused banner, revision, storage, tasks, start time) and every
 * queue (AdminService.GetStats, polled every 3 s) with its counts and charts. The charts are
 * built from WatchRuns events reaching COMPLETED or FAILED: on open, a backfill from
 * max(oldestRevision, revision − 50,000) keeps the events of the last 15 minutes, then the
 * same stream goes on live.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { RevisionPurgedError, RunState } from "../../../clients/typescript/src/web.js";
import { usePoll, useSession } from "../api.js";
import { ErrorText, Facts, useNow, When } from "../components/bits.js";
import { ConfirmAction } from "../components/ConfirmAction.js";
import { formatBytes, formatCount, formatDuration, tsMs } from "../format.js";
import { useRunEvents, watchLabel } from "../live.js";
import { denial } from "../perm.js";
import { addOutcome, backfillStart, type Buckets, prune, series } from "../series.js";
import { QueueCard } from "./QueueCard.js";

const FINISHED = [RunState.COMPLETED, RunState.FAILED];

/** The overview page. */
export function Overview() {
  const { client, caller } = useSession();
  const now = useNow(5_000);
  const stats = usePoll((signal) => client.admin.getStats({}, { signal }), 3_000, [client]);
  const [from, setFrom] = useState<bigint | undefined>(undefined);
  const buckets = useRef<Buckets>(new Map());
  const [, setVersion] = useState(0);

  useEffect(() => {
    if (from === undefined && stats.data !== undefined) setFrom(backfillStart(stats.data.oldestRevision, stats.data.revision));
  }, [from, stats.data]);

  const watch = useRunEvents({ filter: { states: FINISHED }, fromRevision: from }, `overview:${String(from)}`, (events) => {
    const t = Date.now();
    for (const e of events) {
      const ms = tsMs(e.time);
      if (ms === undefined) continue;
      if (e.toState === RunState.COMPLETED) addOutcome(buckets.current, e.queue, "completed", ms, t);
      else if (e.toState === RunState.FAILED) addOutcome(buckets.current, e.queue, "failed", ms, t);
    }
    prune(buckets.current, t);
    setVersion((v) => v + 1);
  });
  // The backfill start was purged meanwhile (a long outage): start again from what is kept.
  useEffect(() => {
    if (watch.kind === "failed" && watch.error instanceof RevisionPurgedError) {
      buckets.current = new Map();
      setFrom(watch.error.oldestRevision);
    }
  }, [watch]);

  const s = stats.data;
  const enginePaused = s?.enginePaused ?? false;
  const started = tsMs(s?.startedAt);
  return (
    <>
      <h1 tabIndex={-1}>Overview</h1>
      {stats.error !== undefined ? <ErrorText error={stats.error} prefix="Could not read the stats:" /> : null}
      {s === undefined ? (
        stats.error === undefined ? <p aria-busy="true">Loading…</p> : null
      ) : (
        <>
          {enginePaused ? (
            <div class="banner warn" role="status" data-testid="engine-paused">
              <strong>The engine is paused.</strong> No queue hands out runs until it is resumed; submissions, timers and completions go on.
            </div>
          ) : null}
          <section aria-labelledby="engine-h" class="card">
            <header class="card-head">
              <h2 id="engine-h">Engine</h2>
              <span class={enginePaused ? "chip warn" : "chip ok"} data-testid="engine-status">
                {enginePaused ? "paused" : "running"}
              </span>
            </header>
            <Facts
              testid="engine-facts"
              items={[
                ["Revision", <span data-testid="revision">{s.revision.toString()}</span>],
                ["Oldest watchable revision", s.oldestRevision.toString()],
                ["Storage", s.storageQuotaBytes > 0n ? `${formatBytes(s.storageBytes)} of ${formatBytes(s.storageQuotaBytes)} quota` : formatBytes(s.storageBytes)],
                ["Tasks", formatCount(s.tasks)],
                ["Runs", `${formatCount(sumCounts(s.total))} (${formatCount(s.total?.ready ?? 0n)} READY, ${formatCount(s.total?.running ?? 0n)} RUNNING)`],
                ["Started", <When ms={started} now={now} />],
                ["Up for", started === undefined ? "—" : formatDuration(now - started)],
              ]}
            />
            <div class="actions">
              {enginePaused ? (
                <ConfirmAction
                  testid="resume-engine"
                  label="Resume engine"
                  title="Resume the engine?"
                  body={<p>Every queue not paused on its own hands out runs again.</p>}
                  denied={denial(caller, "AdminService/ResumeEngine", null)}
                  run={() => client.admin.resumeEngine({})}
                  onDone={stats.reload}
                />
              ) : (
                <ConfirmAction
                  testid="pause-engine"
                  label="Pause engine"
                  title="Pause the whole engine?"
                  body={<p>No queue hands out runs until the engine is resumed. Submissions, timers, heartbeats and completions go on.</p>}
                  danger
                  denied={denial(caller, "AdminService/PauseEngine", null)}
                  run={() => client.admin.pauseEngine({})}
                  onDone={stats.reload}
                />
              )}
            </div>
          </section>
          <section aria-labelledby="queues-h">
            <div class="section-head">
              <h2 id="queues-h">Queues ({s.queues.length})</h2>
              <span class="muted" data-testid="charts-status">
                charts: {watchLabel(watch)}
              </span>
            </div>
            {watch.kind === "failed" ? <ErrorText error={watch.error} prefix="The charts stopped:" /> : null}
            {s.queues.length === 0 ? <p class="empty">No queues yet: a queue appears when a task is submitted to it or it gets settings.</p> : null}
            <div class="queues">
              {s.queues.map((q) => (
                <QueueCard key={q.queue?.name ?? ""} stats={q} series={series(buckets.current, q.queue?.name ?? "", now)} enginePaused={enginePaused} now={now} onChanged={stats.reload} />
              ))}
            </div>
          </section>
        </>
      )}
    </>
  );
}

/** Every run counted in `c`. */
function sumCounts(c: { scheduled: bigint; ready: bigint; leased: bigint; running: bigint; retryWait: bigint; suspended: bigint; completed: bigint; failed: bigint; canceled: bigint } | undefined): bigint {
  if (c === undefined) return 0n;
  return c.scheduled + c.ready + c.leased + c.running + c.retryWait + c.suspended + c.completed + c.failed + c.canceled;
}
