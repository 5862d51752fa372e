/**
 * The runs view's filter: queue (with the known queues as suggestions), states, task id and
 * concurrency key. Applying it changes the URL (#/runs?…), so a filtered view can be
 * bookmarked and shared; the view follows the URL.
 */
import { useEffect, useId, useState } from "preact/hooks";
import type { RunState } from "../../../clients/typescript/src/web.js";
import { RUN_STATES, stateName } from "../format.js";
import { NO_FILTER, type RunFilter, runsHash } from "../route.js";

/** Props of RunFilterForm. */
export interface RunFilterFormProps {
  readonly filter: RunFilter;
  /** Queue names offered as suggestions. */
  readonly queues: readonly string[];
}

/** The form. */
export function RunFilterForm({ filter, queues }: RunFilterFormProps) {
  const id = useId();
  const [draft, setDraft] = useState<RunFilter>(filter);
  // The URL changed (a link, back/forward): show what is applied.
  useEffect(() => setDraft(filter), [filter]);
  const apply = (f: RunFilter) => {
    location.hash = runsHash(f);
  };
  const toggle = (s: RunState, on: boolean) => {
    const set = new Set(draft.states);
    if (on) set.add(s);
    else set.delete(s);
    setDraft({ ...draft, states: RUN_STATES.filter((x) => set.has(x)) });
  };
  const text = (name: "queue" | "taskId" | "key") => (e: Event) => setDraft({ ...draft, [name]: (e.currentTarget as HTMLInputElement).value });
  return (
    <form
      class="filters"
      role="search"
      aria-label="Filter runs"
      data-testid="runs-filter"
      onSubmit={(e) => {
        e.preventDefault();
        apply({ ...draft, queue: draft.queue.trim(), taskId: draft.taskId.trim() });
      }}
    >
      <div class="field">
        <label for={`${id}-q`}>Queue</label>
        <input id={`${id}-q`} type="text" list={`${id}-ql`} value={draft.queue} onInput={text("queue")} data-testid="filter-queue" autoComplete="off" spellcheck={false} />
        <datalist id={`${id}-ql`}>
          {queues.map((q) => (
            <option key={q} value={q} />
          ))}
        </datalist>
      </div>
      <div class="field">
        <label for={`${id}-t`}>Task id</label>
        <input id={`${id}-t`} type="text" value={draft.taskId} onInput={text("taskId")} data-testid="filter-task" autoComplete="off" spellcheck={false} class="mono" />
      </div>
      <div class="field">
        <label for={`${id}-k`}>Concurrency key</label>
        <input id={`${id}-k`} type="text" value={draft.key} onInput={text("key")} data-testid="filter-key" autoComplete="off" spellcheck={false} />
      </div>
      <fieldset class="states">
        <legend>States (none checked: any)</legend>
        {RUN_STATES.map((s) => (
          <label key={s} class="check">
            <input type="checkbox" checked={draft.states.includes(s)} onChange={(e) => toggle(s, (e.currentTarget as HTMLInputElement).checked)} data-testid={`filter-state-${stateName(s)}`} />
            {stateName(s)}
          </label>
        ))}
      </fieldset>
      <div class="buttons">
        <button type="submit" class="primary" data-testid="filter-apply">
          Apply
        </button>
        <button type="button" onClick={() => apply(NO_FILTER)} data-testid="filter-clear">
          Clear
        </button>
      </div>
    </form>
  );
}
