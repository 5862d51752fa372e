/**
 * The token entry, shown when the server answers UNAUTHENTICATED: the bearer token goes to
 * sessionStorage (this tab only, never localStorage) and every call sends it.
 */
import { useEffect, useId, useRef, useState } from "preact/hooks";
import { ErrorText } from "./bits.js";

/** Props of TokenForm. */
export interface TokenFormProps {
  /** Why the form shows again (a refused token), verbatim. */
  readonly error: unknown;
  readonly onToken: (token: string) => void;
}

/** The form. */
export function TokenForm({ error, onToken }: TokenFormProps) {
  const id = useId();
  const [token, setToken] = useState("");
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <form
      class="card token"
      data-testid="token-form"
      aria-labelledby={`${id}-h`}
      onSubmit={(e) => {
        e.preventDefault();
        const t = token.trim();
        if (t !== "") onToken(t);
      }}
    >
      <h1 id={`${id}-h`}>Sign in</h1>
      <p>This server checks bearer tokens. Enter yours: it is kept in this browser tab only (sessionStorage) and sent with every call.</p>
      <div class="field">
        <label for={`${id}-t`}>Token</label>
        <input ref={input} id={`${id}-t`} type="password" autoComplete="off" spellcheck={false} required value={token} onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)} data-testid="token-input" />
      </div>
      <ErrorText error={error} prefix="The server refused the token:" testid="token-error" />
      <div class="buttons">
        <button type="submit" class="primary" data-testid="token-submit">
          Sign in
        </button>
      </div>
    </form>
  );
}
