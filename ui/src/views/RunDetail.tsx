/**
 * One run: every field, its actions (cancel, suspend with a reason, resume, set priority),
 * the attempt ledger, its event timeline and its task. The timeline watches the run from the
 * oldest retained revision (history, then live) and stops once the history has caught up
 * with the run as read and the run is terminal; each new event re-reads the run.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { type Attempt, RevisionPurgedError, type RunEvent, RunState } from "../../../clients/typescript/src/web.js";
import { usePoll, useSession } from "../api.js";
import { Attempts } from "../components/Attempts.js";
import { ErrorText, Facts, RunLink, StateBadge, TaskLink, useNow, When } from "../components/bits.js";
import { ConfirmAction } from "../components/ConfirmAction.js";
import { Timeline } from "../components/Timeline.js";
import { holdName, isTerminal, stateName, tsMs } from "../format.js";
import { useRunEvents, watchLabel } from "../live.js";
import { denial } from "../perm.js";
import { keysHash, runsHash } from "../route.js";
import { TaskPanel } from "./TaskPanel.js";

/** The attempts of a run: GetRun's (the latest 100), or every one through ListAttempts when there are more. */
async function allAttempts(client: ReturnType<typeof useSession>["client"], runId: string, first: readonly Attempt[], total: number, signal: AbortSignal): Promise<readonly Attempt[]> {
  if (total <= first.length) return first;
  const out: Attempt[] = [];
  let token = "";
  do {
    const r = await client.runs.listAttempts({ runId, pageSize: 1000, pageToken: token }, { signal });
    out.push(...r.attempts);
    token = r.nextPageToken;
  } while (token !== "" && out.length < 10_000);
  return out;
}

/** The run page. */
export function RunDetail({ runId }: { runId: string }) {
  const { client, caller } = useSession();
  const now = useNow(1_000);
  const terminalRef = useRef(false);
  const got = usePoll(
    async (signal) => {
      const r = await client.runs.getRun({ runId }, { signal });
      const attempts = await allAttempts(client, runId, r.attempts, r.run?.attemptCount ?? 0, signal);
      return { run: r.run, attempts };
    },
    5_000,
    [client, runId],
  );
  const run = got.data?.run;
  terminalRef.current = run !== undefined && isTerminal(run.state);

  // Where the timeline starts: the oldest revision kept (GetStats), or 1 for a token that may not read stats.
  const [from, setFrom] = useState<bigint | undefined>(undefined);
  const [events, setEvents] = useState<readonly RunEvent[]>([]);
  const target = useRef<bigint | undefined>(undefined);
  const caughtUp = useRef(false);
  useEffect(() => {
    setFrom(undefined);
    setEvents([]);
    target.current = undefined;
    caughtUp.current = false;
    const ac = new AbortController();
    void (async () => {
      let start = 1n;
      try {
        start = (await client.admin.getStats({}, { signal: ac.signal })).oldestRevision;
      } catch {
        // A token that may not read stats: from 1 (when 1 was purged, the watch says so and starts again below).
      }
      if (!ac.signal.aborted) setFrom(start < 1n ? 1n : start);
    })();
    return () => ac.abort();
  }, [client, runId]);
  // The run as first read fixes the point where the history has caught up.
  if (target.current === undefined && run !== undefined) target.current = run.revision;

  const watch = useRunEvents({ filter: { runId }, fromRevision: target.current === undefined ? undefined : from }, `run:${runId}:${String(from)}:${String(target.current !== undefined)}`, (batch) => {
    setEvents((prev) => [...prev, ...batch]);
    const last = batch[batch.length - 1];
    const t = target.current ?? 0n;
    if (last !== undefined && last.revision >= t) {
      if (caughtUp.current || last.revision > t) got.reload();
      caughtUp.current = true;
    }
    const terminal = batch.some((e) => isTerminal(e.toState)) || terminalRef.current;
    return caughtUp.current && terminal ? "stop" : undefined;
  });
  useEffect(() => {
    if (watch.kind === "failed" && watch.error instanceof RevisionPurgedError && watch.error.oldestRevision !== undefined) {
      setEvents([]);
      setFrom(watch.error.oldestRevision);
    }
  }, [watch]);

  const q = run?.queue ?? "";
  const state = run?.state ?? RunState.UNSPECIFIED;
  return (
    <>
      <h1 tabIndex={-1}>
        Run <span class="mono break">{runId}</span>
      </h1>
      {got.error !== undefined ? <ErrorText error={got.error} prefix="Could not read the run:" /> : null}
      {run === undefined ? (
        got.error === undefined ? <p aria-busy="true">Loading…</p> : null
      ) : (
        <>
          <section aria-labelledby="run-h" class="card">
            <header class="card-head">
              <h2 id="run-h">State</h2>
              <StateBadge state={run.state} testid="run-state" />
            </header>
            <Facts
              testid="run-facts"
              items={[
                ["Run", <RunLink id={run.id} />],
                ["Task", <TaskLink id={run.taskId} />],
                ["Queue", <a href={runsHash({ queue: run.queue })}>{run.queue}</a>],
                ["State", stateName(run.state)],
                ["State reason", run.stateReason === "" ? "—" : run.stateReason],
                ["Occurrence", String(run.occurrence)],
                ["Attempts", `${run.attemptCount} started, ${run.countedAttempts} counted`],
                ["Open attempt", run.currentAttemptId === "" ? "none" : <span class="mono">{run.currentAttemptId}</span>],
                ["Effective priority", String(run.effectivePriority)],
                ["Scheduled", <When ms={tsMs(run.scheduledAt)} now={now} />],
                ["Created", <When ms={tsMs(run.createdAt)} now={now} />],
                ["Last state change", <When ms={tsMs(run.lastStateChangeAt)} now={now} />],
                ["Retry at", <When ms={tsMs(run.retryAt)} now={now} />],
                [
                  "Lease",
                  run.lease === undefined ? (
                    "none"
                  ) : (
                    <>
                      worker <span class="mono">{run.lease.workerId}</span>, granted <When ms={tsMs(run.lease.grantedAt)} now={now} />, expires{" "}
                      <When ms={tsMs(run.lease.expiresAt)} now={now} />
                    </>
                  ),
                ],
                ["Concurrency key", run.concurrencyKey === "" ? "none" : <a href={keysHash(run.concurrencyKey)}>{run.concurrencyKey}</a>],
                ["Key hold", holdName(run.keyHold)],
                ["Revision", run.revision.toString()],
              ]}
            />
            <div class="actions">
              <ConfirmAction
                testid="cancel-run"
                label="Cancel run"
                title="Cancel this run?"
                body={<p>The run moves to CANCELED and is never handed out again; a worker running it learns on its next heartbeat.</p>}
                danger
                denied={denial(caller, "RunService/CancelRun", q)}
                unavailable={isTerminal(state) ? `the run is ${stateName(state)}` : undefined}
                run={() => client.runs.cancelRun({ runId })}
                onDone={got.reload}
              />
              <ConfirmAction
                testid="suspend-run"
                label="Suspend…"
                title="Suspend this run?"
                body={<p>A RUNNING run moves to SUSPENDED until it is resumed.</p>}
                fields={[{ name: "reason", label: "Reason", type: "text", help: "Shown as the run's state reason." }]}
                denied={denial(caller, "RunService/SuspendRun", q)}
                unavailable={state === RunState.RUNNING ? undefined : "only a RUNNING run can be suspended"}
                run={(v) => client.runs.suspendRun({ runId, reason: v["reason"] ?? "" })}
                onDone={got.reload}
              />
              <ConfirmAction
                testid="resume-run"
                label="Resume"
                title="Resume this run?"
                body={<p>The SUSPENDED run becomes READY again.</p>}
                denied={denial(caller, "RunService/ResumeRun", q)}
                unavailable={state === RunState.SUSPENDED ? undefined : "only a SUSPENDED run can be resumed"}
                run={() => client.runs.resumeRun({ runId })}
                onDone={got.reload}
              />
              <ConfirmAction
                testid="set-priority"
                label="Priority…"
                title="Set this run's priority"
                body={<p>Higher runs are handed out first. Only a READY run can be re-prioritised.</p>}
                confirmLabel="Set priority"
                fields={[{ name: "priority", label: "Priority", type: "number", step: "1", required: true, initial: String(run.effectivePriority) }]}
                denied={denial(caller, "RunService/SetRunPriority", q)}
                unavailable={state === RunState.READY ? undefined : "only a READY run can be re-prioritised"}
                run={(v) => client.runs.setRunPriority({ runId, priority: Math.trunc(Number(v["priority"] ?? 0)) })}
                onDone={got.reload}
              />
            </div>
          </section>
          <section aria-labelledby="attempts-h" class="card">
            <h2 id="attempts-h">Attempts ({run.attemptCount})</h2>
            <Attempts attempts={got.data?.attempts ?? []} total={run.attemptCount} />
          </section>
          <section aria-labelledby="timeline-h" class="card">
            <div class="card-head">
              <h2 id="timeline-h">Timeline</h2>
              <span class="muted" data-testid="timeline-status">
                {watch.kind === "idle" && caughtUp.current ? "complete" : watchLabel(watch)}
              </span>
            </div>
            {watch.kind === "failed" ? <ErrorText error={watch.error} prefix="The timeline stopped:" /> : null}
            <Timeline events={events} reading={!caughtUp.current && watch.kind !== "failed"} />
          </section>
          <TaskPanel taskId={run.taskId} queue={run.queue} now={now} />
        </>
      )}
    </>
  );
}
