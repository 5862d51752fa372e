/**
 * Small pieces every view uses: an error shown verbatim, a run state badge, a time with its
 * age, links to runs and tasks, and a "now" that ticks for ages.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { RunState } from "../../../clients/typescript/src/web.js";
import { describeError, fieldViolations } from "../api.js";
import { errorLine, formatRelative, formatTime, stateName } from "../format.js";
import { runHash, runsHash } from "../route.js";

/** A call failure as the server put it: code, message and ErrorInfo reason (and bad fields). */
export function ErrorText({ error, prefix, testid = "error" }: { error: unknown; prefix?: string; testid?: string }) {
  if (error === undefined || error === null) return null;
  const fields = fieldViolations(error);
  return (
    <div class="error" role="alert" data-testid={testid}>
      {prefix === undefined ? null : <strong>{prefix} </strong>}
      <span class="error-line">{errorLine(describeError(error))}</span>
      {fields.length > 0 ? (
        <ul>
          {fields.map((f) => (
            <li key={f}>{f}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** A run state as a coloured badge (the colour only repeats the word, never replaces it). */
export function StateBadge({ state, testid }: { state: RunState; testid?: string }) {
  const name = stateName(state);
  return (
    <span class={`badge state-${name.toLowerCase()}`} data-testid={testid} data-state={name}>
      {name}
    </span>
  );
}

/** Epoch ms "now", re-rendering every `everyMs`. */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

/** A time (UTC) with its age, in a <time> element. */
export function When({ ms, now }: { ms: number | undefined; now: number }) {
  if (ms === undefined) return <span class="muted">—</span>;
  return (
    <time dateTime={new Date(ms).toISOString()} title={new Date(ms).toString()}>
      {formatTime(ms)} <span class="muted">({formatRelative(now, ms)})</span>
    </time>
  );
}

/** A link to a run's page. */
export function RunLink({ id, children }: { id: string; children?: ComponentChildren }) {
  return (
    <a href={runHash(id)} class="mono">
      {children ?? id}
    </a>
  );
}

/** A link to the runs of a task (tasks have no page of their own: their runs view shows them). */
export function TaskLink({ id, children }: { id: string; children?: ComponentChildren }) {
  if (id === "") return <span class="muted">—</span>;
  return (
    <a href={runsHash({ taskId: id })} class="mono">
      {children ?? id}
    </a>
  );
}

/** A description list from [term, value] pairs. */
export function Facts({ items, testid }: { items: ReadonlyArray<readonly [string, ComponentChildren]>; testid?: string }) {
  return (
    <dl class="facts" data-testid={testid}>
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
