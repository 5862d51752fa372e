/**
 * A run's event timeline: every retained event of the run in revision order (created,
 * transitions with their attempt and reason, priority changes).
 */
import { type RunEvent, RunEventType, RunState } from "../../../clients/typescript/src/web.js";
import { formatTime, outcomeName, stateName, tsMs } from "../format.js";

/** One event in words. */
function what(e: RunEvent): string {
  switch (e.type) {
    case RunEventType.CREATED:
      return `created ${stateName(e.toState)}`;
    case RunEventType.PRIORITY_CHANGED:
      return `priority set to ${e.effectivePriority}`;
    default:
      return `${e.fromState === RunState.UNSPECIFIED ? "" : `${stateName(e.fromState)} → `}${stateName(e.toState)}`;
  }
}

/** The timeline, newest last. */
export function Timeline({ events, reading }: { events: readonly RunEvent[]; reading: boolean }) {
  if (events.length === 0) return reading ? <p aria-busy="true">Reading the history…</p> : <p class="empty">No event retained.</p>;
  return (
    <ol class="timeline" data-testid="timeline">
      {events.map((e) => {
        const ms = tsMs(e.time);
        return (
          <li key={e.revision.toString()} data-testid="timeline-event" data-to-state={stateName(e.toState)} data-revision={e.revision.toString()}>
            <span class="rev mono" title="revision">
              #{e.revision.toString()}
            </span>{" "}
            <time dateTime={ms === undefined ? undefined : new Date(ms).toISOString()}>{formatTime(ms)}</time>{" "}
            <strong>{what(e)}</strong>
            {e.attempt === undefined ? null : (
              <span>
                {" "}
                · attempt {e.attempt.number}
                {e.attempt.workerId === "" ? "" : ` by ${e.attempt.workerId}`}
                {outcomeName(e.attempt.outcome) === "—" ? " started" : ` ${outcomeName(e.attempt.outcome)}`}
              </span>
            )}
            {e.reason === "" ? null : <span class="muted"> · {e.reason}</span>}
            {e.attempt !== undefined && e.attempt.error !== "" ? <div class="muted small ev-error">{e.attempt.error}</div> : null}
          </li>
        );
      })}
    </ol>
  );
}
