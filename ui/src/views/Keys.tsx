/**
 * Concurrency keys: every key with an occupied slot (ListConcurrencyKeys, a page at a time,
 * polled every 3 s) with its holders (run links, hold kind, state, since) and free slots
 * (the slot limit the holders' tasks declare, minus the holders), and a lookup of one key by
 * name (GetConcurrencyKey: a free key simply has no holder).
 */
import { useEffect, useId, useState } from "preact/hooks";
import type { ConcurrencyKeyInfo } from "../../../clients/typescript/src/web.js";
import { usePoll, useSession } from "../api.js";
import { ErrorText, RunLink, StateBadge, useNow } from "../components/bits.js";
import { formatRelative, holdName, tsMs } from "../format.js";
import { denial } from "../perm.js";
import { keysHash, runsHash } from "../route.js";
import { slotsOf } from "../runs-model.js";

/** The keys table (one row per key, holders listed in the row). */
function KeyTable({ keys, now, testid }: { keys: readonly ConcurrencyKeyInfo[]; now: number; testid: string }) {
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label="Concurrency keys (scrolls sideways)">
      <table data-testid={testid}>
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col" class="num">
              Slots
            </th>
            <th scope="col" class="num">
              Free
            </th>
            <th scope="col">Holders</th>
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => {
            const { slots, free } = slotsOf(k);
            return (
              <tr key={k.key} data-testid="key-row" data-key={k.key}>
                <th scope="row">
                  <a href={runsHash({ key: k.key })} title="Runs with this key">
                    {k.key}
                  </a>
                </th>
                <td class="num">{slots}</td>
                <td class="num" data-testid="key-free">
                  {free}
                </td>
                <td>
                  {k.holders.length === 0 ? (
                    <span class="muted">none (free)</span>
                  ) : (
                    <ul class="plain holders">
                      {k.holders.map((h) => (
                        <li key={h.runId}>
                          <RunLink id={h.runId} /> <span class="badge">{holdName(h.hold)}</span> <StateBadge state={h.state} />{" "}
                          <span class="muted">since {formatRelative(now, tsMs(h.since))}</span>
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** The keys page; `lookup` is the key in the URL (#/keys?key=…). */
export function Keys({ lookup }: { lookup: string }) {
  const { client, caller } = useSession();
  // Keys span every queue: a token limited to some queues may not read them.
  const denied = denial(caller, "AdminService/ListConcurrencyKeys", null);
  const now = useNow(5_000);
  const id = useId();
  const [cursor, setCursor] = useState<{ token: string; stack: readonly string[] }>({ token: "", stack: [] });
  const list = usePoll(
    (signal) => (denied === undefined ? client.admin.listConcurrencyKeys({ pageSize: 100, pageToken: cursor.token }, { signal }) : Promise.resolve(undefined)),
    denied === undefined ? 3_000 : 0,
    [client, cursor.token, denied],
  );
  const one = usePoll(
    (signal) => (lookup === "" || denial(caller, "AdminService/GetConcurrencyKey", null) !== undefined ? Promise.resolve(undefined) : client.admin.getConcurrencyKey({ key: lookup }, { signal })),
    lookup === "" ? 0 : 3_000,
    [client, lookup, caller],
  );
  const [draft, setDraft] = useState(lookup);
  useEffect(() => setDraft(lookup), [lookup]);
  const found = one.data?.key;
  return (
    <>
      <h1 tabIndex={-1}>Concurrency keys</h1>
      {denied === undefined ? null : (
        <p class="banner warn" role="status" data-testid="keys-denied">
          Concurrency keys are not shown: {denied}.
        </p>
      )}
      <form
        class="filters"
        role="search"
        aria-label="Look up a concurrency key"
        onSubmit={(e) => {
          e.preventDefault();
          location.hash = keysHash(draft);
        }}
      >
        <div class="field">
          <label for={`${id}-k`}>Key</label>
          <input id={`${id}-k`} type="text" value={draft} onInput={(e) => setDraft((e.currentTarget as HTMLInputElement).value)} data-testid="key-lookup" autoComplete="off" spellcheck={false} />
        </div>
        <div class="buttons">
          <button type="submit" class="primary" data-testid="key-lookup-go">
            Look up
          </button>
        </div>
      </form>
      {lookup === "" ? null : (
        <section aria-labelledby="lookup-h" class="card" data-testid="key-lookup-result">
          <h2 id="lookup-h">
            Key <span class="mono">{lookup}</span>
          </h2>
          {one.error !== undefined ? <ErrorText error={one.error} /> : null}
          {found === undefined ? (
            one.error === undefined && denied === undefined ? <p aria-busy="true">Loading…</p> : null
          ) : found.holders.length === 0 ? (
            <p class="empty">No run holds a slot of this key: it is free.</p>
          ) : (
            <KeyTable keys={[found]} now={now} testid="key-lookup-table" />
          )}
          <p>
            <a href={runsHash({ key: lookup })}>Runs with this key</a>
          </p>
        </section>
      )}
      <section aria-labelledby="keys-h">
        <h2 id="keys-h">Keys with occupied slots</h2>
        {list.error !== undefined ? <ErrorText error={list.error} prefix="Could not list the keys:" /> : null}
        {denied !== undefined ? null : list.data === undefined ? (
          list.error === undefined ? <p aria-busy="true">Loading…</p> : null
        ) : list.data.keys.length === 0 ? (
          <p class="empty">No concurrency key has an occupied slot.</p>
        ) : (
          <KeyTable keys={list.data.keys} now={now} testid="keys-table" />
        )}
        {cursor.stack.length === 0 && (list.data?.nextPageToken ?? "") === "" ? null : (
          <nav class="pager" aria-label="Pages of keys">
            <button type="button" disabled={cursor.stack.length === 0} onClick={() => setCursor({ token: cursor.stack[cursor.stack.length - 1] ?? "", stack: cursor.stack.slice(0, -1) })}>
              ← Previous
            </button>
            <span class="muted">Page {cursor.stack.length + 1}</span>
            <button
              type="button"
              disabled={(list.data?.nextPageToken ?? "") === ""}
              onClick={() => setCursor({ token: list.data?.nextPageToken ?? "", stack: [...cursor.stack, cursor.token] })}
            >
              Next →
            </button>
          </nav>
        )}
      </section>
    </>
  );
}
