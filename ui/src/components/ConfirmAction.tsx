/**
 * An action button behind a confirm dialog: a real modal <dialog> (focus moves into it, Tab
 * stays inside, Escape or "Back" closes it, focus returns to the button), optional inputs
 * with labels, and the server's error shown verbatim inside the dialog, which stays open so
 * the operator can read it. The button is not rendered at all when the caller may not call
 * the method (`denied`), and is disabled with a title saying why when the object's state
 * does not allow it (`unavailable`).
 */
import type { ComponentChildren } from "preact";
import { useId, useRef, useState } from "preact/hooks";
import { ErrorText } from "./bits.js";

/** One input of the dialog. */
export interface ActionField {
  readonly name: string;
  readonly label: string;
  readonly type: "text" | "number";
  readonly initial?: string;
  readonly min?: number;
  readonly max?: number;
  /** For number inputs: "1" for integers, "any" for decimals. */
  readonly step?: string;
  readonly required?: boolean;
  readonly help?: string;
}

/** Props of ConfirmAction. */
export interface ConfirmActionProps {
  /** data-testid of the button (the dialog's buttons are confirm-ok / confirm-cancel). */
  readonly testid: string;
  readonly label: string;
  readonly title: string;
  readonly body?: ComponentChildren;
  readonly confirmLabel?: string;
  readonly danger?: boolean;
  readonly fields?: readonly ActionField[];
  /** Why the caller may not do this: the button is not rendered. */
  readonly denied?: string | undefined;
  /** Why the action does not apply now: the button is disabled with this as its title. */
  readonly unavailable?: string | undefined;
  /** The call; its rejection is shown in the dialog. */
  readonly run: (values: Readonly<Record<string, string>>) => Promise<unknown>;
  /** After a successful call (e.g. reload the view). */
  readonly onDone?: () => void;
}

/** The button and its dialog. */
export function ConfirmAction(p: ConfirmActionProps) {
  const id = useId();
  const dialog = useRef<HTMLDialogElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const [values, setValues] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  if (p.denied !== undefined) return null;

  const open = () => {
    setValues(Object.fromEntries((p.fields ?? []).map((f) => [f.name, f.initial ?? ""])));
    setError(undefined);
    setBusy(false);
    const d = dialog.current;
    if (d === null) return;
    d.showModal();
    // The first input, or "Back" when there is none: Enter never confirms by surprise.
    const first = d.querySelector<HTMLElement>("input, [data-autofocus]");
    first?.focus();
  };
  const close = () => {
    dialog.current?.close();
  };
  const onClosed = () => {
    setBusy(false);
    // After the view re-rendered: the button may be gone (the action changed what is shown).
    requestAnimationFrame(() => {
      if (button.current?.isConnected) button.current.focus();
      else document.querySelector<HTMLElement>("main h1")?.focus();
    });
  };
  const submit = async (ev: Event) => {
    ev.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await p.run(values);
      close();
      p.onDone?.();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <>
      <button
        ref={button}
        type="button"
        class={p.danger ? "danger" : ""}
        data-testid={p.testid}
        disabled={p.unavailable !== undefined}
        title={p.unavailable}
        aria-haspopup="dialog"
        onClick={open}
      >
        {p.label}
      </button>
      <dialog ref={dialog} aria-labelledby={`${id}-t`} aria-describedby={`${id}-b`} data-testid={`${p.testid}-dialog`} onClose={onClosed}>
        <form onSubmit={(e) => void submit(e)}>
          <h2 id={`${id}-t`}>{p.title}</h2>
          <div id={`${id}-b`} class="dialog-body">
            {p.body}
          </div>
          {(p.fields ?? []).map((f) => (
            <div class="field" key={f.name}>
              <label for={`${id}-${f.name}`}>{f.label}</label>
              <input
                id={`${id}-${f.name}`}
                name={f.name}
                type={f.type}
                value={values[f.name] ?? ""}
                required={f.required}
                min={f.min}
                max={f.max}
                step={f.step}
                inputMode={f.type === "number" ? (f.step === "1" ? "numeric" : "decimal") : undefined}
                aria-describedby={f.help === undefined ? undefined : `${id}-${f.name}-h`}
                data-testid={`field-${f.name}`}
                onInput={(e) => setValues({ ...values, [f.name]: (e.currentTarget as HTMLInputElement).value })}
              />
              {f.help === undefined ? null : (
                <small id={`${id}-${f.name}-h`} class="muted">
                  {f.help}
                </small>
              )}
            </div>
          ))}
          <ErrorText error={error} testid="action-error" />
          <div class="buttons">
            <button type="button" data-testid="confirm-cancel" data-autofocus onClick={close}>
              Back
            </button>
            <button type="submit" class={p.danger ? "danger" : "primary"} data-testid="confirm-ok" disabled={busy} aria-busy={busy}>
              {busy ? "Working…" : (p.confirmLabel ?? p.label)}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
