/**
 * The attempt ledger of a run: number, worker, start and finish, outcome, error text, and the
 * output as UTF-8 text when it decodes cleanly, hex otherwise.
 */
import type { Attempt } from "../../../clients/typescript/src/web.js";
import { formatBytes, formatDuration, formatTime, outcomeName, outputView, tsMs } from "../format.js";

/** Output bytes, inline when short, folded when long. */
export function Bytes({ bytes, testid }: { bytes: Uint8Array; testid?: string }) {
  const v = outputView(bytes);
  if (v.kind === "empty") return <span class="muted">—</span>;
  const label = `${formatBytes(v.bytes)}, ${v.kind === "text" ? "UTF-8 text" : "binary (hex)"}${v.truncated ? ", cut" : ""}`;
  const pre = (
    <pre class={v.kind === "hex" ? "out hex" : "out"} data-testid={testid} data-kind={v.kind}>
      {v.text}
    </pre>
  );
  if (v.kind === "text" && v.text.length <= 120 && !v.text.includes("\n")) return pre;
  return (
    <details>
      <summary>{label}</summary>
      {pre}
    </details>
  );
}

/** The ledger. */
export function Attempts({ attempts, total }: { attempts: readonly Attempt[]; total: number }) {
  if (attempts.length === 0) return <p class="empty">No attempt yet.</p>;
  return (
    <>
      {total > attempts.length ? (
        <p class="muted">
          The latest {attempts.length} of {total} attempts.
        </p>
      ) : null}
      <div class="table-wrap" tabIndex={0} role="region" aria-label="Attempts (scrolls sideways)">
        <table data-testid="attempts">
          <thead>
            <tr>
              <th scope="col" class="num">
                #
              </th>
              <th scope="col">Worker</th>
              <th scope="col">Started</th>
              <th scope="col">Finished</th>
              <th scope="col">Took</th>
              <th scope="col">Outcome</th>
              <th scope="col">Error</th>
              <th scope="col">Output</th>
            </tr>
          </thead>
          <tbody>
            {attempts.map((a) => {
              const started = tsMs(a.startedAt);
              const finished = tsMs(a.finishedAt);
              return (
                <tr key={a.id} data-testid="attempt-row" data-number={a.number} data-outcome={outcomeName(a.outcome)}>
                  <th scope="row" class="num" title={`attempt ${a.id}`}>
                    {a.number}
                  </th>
                  <td class="mono">{a.workerId}</td>
                  <td class="nowrap">{formatTime(started)}</td>
                  <td class="nowrap">{finished === undefined ? <span class="muted">open</span> : formatTime(finished)}</td>
                  <td class="nowrap">{started === undefined || finished === undefined ? "—" : formatDuration(finished - started)}</td>
                  <td class="nowrap">
                    <span class={`badge outcome-${outcomeName(a.outcome).toLowerCase()}`}>{outcomeName(a.outcome)}</span>
                    {a.counted ? null : <div class="muted small">not counted</div>}
                  </td>
                  <td>{a.error === "" ? <span class="muted">—</span> : <pre class="out err" data-testid="attempt-error">{a.error}</pre>}</td>
                  <td>
                    <Bytes bytes={a.output} testid="attempt-output" />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </>
  );
}
