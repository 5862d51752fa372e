/**
 * The table of runs (runs view): one row per run with a link to its page. A row whose run no
 * longer matches the filter (it moved to another state while shown) stays, marked, until the
 * page is read again. The table scrolls sideways inside its frame on narrow screens.
 */
import type { Run } from "../../../clients/typescript/src/web.js";
import { formatAge, formatRelative, stateName, tsMs } from "../format.js";
import { keysHash, type RunFilter } from "../route.js";
import { matchesFilter } from "../runs-model.js";
import { RunLink, StateBadge, TaskLink } from "./bits.js";

/** Props of RunsTable. */
export interface RunsTableProps {
  readonly rows: readonly Run[];
  readonly filter: RunFilter;
  readonly now: number;
}

/** The table. */
export function RunsTable({ rows, filter, now }: RunsTableProps) {
  if (rows.length === 0) return <p class="empty" data-testid="runs-empty">No runs match this filter.</p>;
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label="Runs (scrolls sideways)">
      <table data-testid="runs-table">
        <caption class="visually-hidden">Runs in id (creation) order</caption>
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">State</th>
            <th scope="col">Queue</th>
            <th scope="col">Task</th>
            <th scope="col" class="num">
              Attempts
            </th>
            <th scope="col" class="num">
              Priority
            </th>
            <th scope="col">Key</th>
            <th scope="col">Scheduled</th>
            <th scope="col">In state for</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => {
            const stale = !matchesFilter(r, filter);
            return (
              <tr key={r.id} data-testid="run-row" data-run-id={r.id} data-state={stateName(r.state)} class={stale ? "stale" : ""}>
                <th scope="row">
                  <RunLink id={r.id} />
                </th>
                <td class="nowrap">
                  <StateBadge state={r.state} />
                  {stale ? <span class="muted small"> (no longer matches)</span> : null}
                  {r.stateReason === "" ? null : <div class="muted small">{r.stateReason}</div>}
                </td>
                <td>{r.queue}</td>
                <td>
                  <TaskLink id={r.taskId} />
                </td>
                <td class="num">{r.attemptCount}</td>
                <td class="num">{r.effectivePriority}</td>
                <td>{r.concurrencyKey === "" ? <span class="muted">—</span> : <a href={keysHash(r.concurrencyKey)}>{r.concurrencyKey}</a>}</td>
                <td class="nowrap">
                  <time dateTime={new Date(tsMs(r.scheduledAt) ?? 0).toISOString()}>{formatRelative(now, tsMs(r.scheduledAt))}</time>
                </td>
                <td class="nowrap">{formatAge(now, tsMs(r.lastStateChangeAt))}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
