/**
 * One queue on the overview: its runs by state (each a link to the runs view so filtered),
 * paused and rate-limit status, the age of its oldest READY run, the throughput and
 * failure-rate charts of the last 15 minutes, and its operator actions.
 */
import type { QueueStats, RunCounts } from "../../../clients/typescript/src/web.js";
import { RunState } from "../../../clients/typescript/src/web.js";
import { useSession } from "../api.js";
import { Chart } from "../components/Chart.js";
import { ConfirmAction } from "../components/ConfirmAction.js";
import { formatAge, formatCount, formatRateLimit, RUN_STATES, stateName, tsMs } from "../format.js";
import { denial } from "../perm.js";
import { runsHash } from "../route.js";
import { type QueueSeries, totals } from "../series.js";

/** The RunCounts field of each state. */
const COUNT_FIELD: Partial<Record<RunState, "scheduled" | "ready" | "leased" | "running" | "retryWait" | "suspended" | "completed" | "failed" | "canceled">> = {
  [RunState.SCHEDULED]: "scheduled",
  [RunState.READY]: "ready",
  [RunState.LEASED]: "leased",
  [RunState.RUNNING]: "running",
  [RunState.RETRY_WAIT]: "retryWait",
  [RunState.SUSPENDED]: "suspended",
  [RunState.COMPLETED]: "completed",
  [RunState.FAILED]: "failed",
  [RunState.CANCELED]: "canceled",
};

/** The count of `state` in `c`. */
function countOf(c: RunCounts | undefined, state: RunState): bigint {
  const field = COUNT_FIELD[state];
  return c === undefined || field === undefined ? 0n : c[field];
}

/** Props of QueueCard. */
export interface QueueCardProps {
  readonly stats: QueueStats;
  readonly series: QueueSeries;
  readonly enginePaused: boolean;
  readonly now: number;
  /** After an action succeeded. */
  readonly onChanged: () => void;
}

/** The card. */
export function QueueCard({ stats, series, enginePaused, now, onChanged }: QueueCardProps) {
  const { client, caller } = useSession();
  const info = stats.queue;
  const name = info?.name ?? "";
  const paused = info?.paused ?? false;
  const rps = info?.runsPerSecond ?? 0;
  const burst = info?.burst ?? 0;
  const t = totals(series);
  const headingId = `queue-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const oldestReady = tsMs(stats.oldestReadyAt);
  return (
    <section class="card queue" aria-labelledby={headingId} data-testid="queue-card" data-queue={name}>
      <header class="card-head">
        <h3 id={headingId}>{name}</h3>
        <span class={paused || enginePaused ? "chip warn" : "chip ok"} data-testid="queue-status">
          {paused ? "paused" : enginePaused ? "engine paused" : "dispatching"}
        </span>
        {rps > 0 ? (
          <span class="chip" data-testid="queue-rate">
            rate-limited: {formatRateLimit(rps, burst)}
          </span>
        ) : null}
      </header>
      <dl class="counts">
        {RUN_STATES.map((s) => (
          <div key={s} class={`count state-${stateName(s).toLowerCase()}`}>
            <dt>{stateName(s)}</dt>
            <dd>
              <a href={runsHash({ queue: name, states: [s] })} data-testid={`count-${stateName(s)}`} aria-label={`${stateName(s)}: ${formatCount(countOf(stats.runs, s))} runs`}>
                {formatCount(countOf(stats.runs, s))}
              </a>
            </dd>
          </div>
        ))}
      </dl>
      <p class="oldest">
        Oldest READY run waiting: <strong data-testid="oldest-ready">{oldestReady === undefined ? "none" : formatAge(now, oldestReady)}</strong>
      </p>
      <div class="charts">
        <Chart
          kind="bars"
          label={`${name} throughput`}
          xs={series.minutes}
          ys={series.completed}
          colorVar="--chart-ok"
          testid="chart-throughput"
          caption={
            <>
              Throughput: <strong>{t.completed}</strong> completed in 15 min (per minute)
            </>
          }
        />
        <Chart
          kind="line"
          label={`${name} failure rate`}
          xs={series.minutes}
          ys={series.failureRate}
          yRange={[0, 100]}
          yUnit="%"
          colorVar="--chart-bad"
          testid="chart-failures"
          caption={
            <>
              Failure rate: <strong>{t.failureRate === null ? "—" : `${t.failureRate.toFixed(1)}%`}</strong> ({t.failed} failed) in 15 min
            </>
          }
        />
      </div>
      <div class="actions">
        <a class="button-link" href={runsHash({ queue: name })}>
          Runs of {name}
        </a>
        {paused ? (
          <ConfirmAction
            testid="resume-queue"
            label="Resume queue"
            title={`Resume queue ${name}?`}
            body={<p>Workers can lease its READY runs again{enginePaused ? " once the engine is resumed too" : ""}.</p>}
            denied={denial(caller, "AdminService/ResumeQueue", name)}
            run={() => client.admin.resumeQueue({ queue: name })}
            onDone={onChanged}
          />
        ) : (
          <ConfirmAction
            testid="pause-queue"
            label="Pause queue"
            title={`Pause queue ${name}?`}
            body={<p>It stops handing out runs. Submissions, timers, heartbeats and completions go on.</p>}
            danger
            denied={denial(caller, "AdminService/PauseQueue", name)}
            run={() => client.admin.pauseQueue({ queue: name })}
            onDone={onChanged}
          />
        )}
        <ConfirmAction
          testid="set-rate-limit"
          label="Rate limit…"
          title={`Rate limit of ${name}`}
          body={<p>Runs handed out per second, with a burst. 0 runs/s clears the limit; burst 0 means max(1, ceil(runs/s)).</p>}
          confirmLabel="Set rate limit"
          fields={[
            { name: "rps", label: "Runs per second", type: "number", step: "any", min: 0, max: 1_000_000, initial: String(rps), required: true },
            { name: "burst", label: "Burst", type: "number", step: "1", min: 0, max: 1_000_000, initial: String(burst), required: true },
          ]}
          denied={denial(caller, "AdminService/SetQueueRateLimit", name)}
          run={(v) => client.admin.setQueueRateLimit({ queue: name, runsPerSecond: Number(v["rps"] ?? 0), burst: Math.trunc(Number(v["burst"] ?? 0)) })}
          onDone={onChanged}
        />
      </div>
    </section>
  );
}
