/**
 * The dashboard's side of the public API: one connect-web client for the server the page came
 * from (relative URL "/"), the bearer token kept in sessionStorage only, who the caller is
 * (AdminService.GetCaller), the connection indicator fed by every call, and the polling hook
 * the views use for unary reads (a failed poll simply tries again on the next tick, which is
 * how the views recover from a server restart).
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { createContext } from "preact";
import { useContext, useEffect, useRef, useState } from "preact/hooks";
import { type ActionQueueClients, ActionQueueError, createWebClient, InvalidArgumentError } from "../../clients/typescript/src/web.js";
import { type ErrorParts, errorLine } from "./format.js";
import type { CallerView } from "./perm.js";
import { createStore } from "./store.js";

/** The connection indicator: "connecting" until the first answer, then "live" or "reconnecting". */
export type ConnectionState = "connecting" | "live" | "reconnecting";

/** The state of the connection to the server, as the last call or stream saw it. */
export const connection = createStore<ConnectionState>("connecting");

/** Set when a call was answered UNAUTHENTICATED (the token is missing, wrong or no longer known). */
export const authFailure = createStore<ErrorParts | null>(null);

const TOKEN_KEY = "actionqueue.token";

/** The token of this browser tab (sessionStorage: gone with the tab, never in localStorage). */
export function storedToken(): string | undefined {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Keeps `token` for this tab; undefined forgets it. */
export function storeToken(token: string | undefined): void {
  try {
    if (token === undefined) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage disabled: the token lives as long as the page.
  }
}

/** Codes that mean the server could not be reached or went away (a restart, a network failure). */
function isDisconnect(code: Code): boolean {
  return code === Code.Unavailable || code === Code.Unknown || code === Code.DeadlineExceeded;
}

/** Feeds the connection indicator and the authentication state from every call. */
const observe: Interceptor = (next) => async (req) => {
  try {
    const res = await next(req);
    connection.set("live");
    return res;
  } catch (e) {
    const ce = ConnectError.from(e);
    if (isDisconnect(ce.code)) {
      if (!req.signal.aborted) connection.set("reconnecting");
    } else if (ce.code !== Code.Canceled) {
      connection.set("live"); // the server answered, if only to refuse
      if (ce.code === Code.Unauthenticated) authFailure.set(describeError(e));
    }
    throw e;
  }
};

/** The typed clients for the server the page came from, sending `token` when given. */
export function makeClient(token: string | undefined): ActionQueueClients {
  return createWebClient("/", { token, interceptors: [observe], timeoutMs: 15_000 });
}

/** What the whole page shares: the client and who the caller is. */
export interface Session {
  readonly client: ActionQueueClients;
  /** Null when GetCaller failed: actions are hidden (the views still work read-only). */
  readonly caller: CallerView | null;
  /** Why `caller` is null, shown once in the header. */
  readonly callerError: ErrorParts | null;
  /** Whether a token is in use (the "sign out" button shows then). */
  readonly hasToken: boolean;
}

/** The session of the page (provided by main.tsx once GetCaller has answered). */
export const SessionContext = createContext<Session | null>(null);

/** The session; throws when used outside the provider (a bug). */
export function useSession(): Session {
  const s = useContext(SessionContext);
  if (s === null) throw new Error("useSession outside SessionContext");
  return s;
}

/** Code, reason and message of anything a call may throw (the server's words, verbatim). */
export function describeError(e: unknown): ErrorParts {
  if (ActionQueueError.is(e)) return { code: e.code, reason: e.reason, message: e.message };
  if (e instanceof ConnectError) return { code: e.code, reason: "", message: e.rawMessage };
  if (e instanceof Error) return { code: undefined, reason: "", message: e.message };
  return { code: undefined, reason: "", message: String(e) };
}

/** One line per field violation of an INVALID_ARGUMENT error ("spec.queue: must not be empty"). */
export function fieldViolations(e: unknown): string[] {
  return e instanceof InvalidArgumentError ? e.fieldViolations.map((v) => `${v.field}: ${v.description}`) : [];
}

/** The line the dashboard shows for `e`. */
export function errorText(e: unknown): string {
  return errorLine(describeError(e));
}

/** Whether `e` is a call failure with `code`. */
export function hasCode(e: unknown, code: Code): boolean {
  return describeError(e).code === code;
}

/** GetCaller as a CallerView. */
export async function fetchCaller(client: ActionQueueClients, signal?: AbortSignal): Promise<CallerView> {
  const c = await client.admin.getCaller({}, signal === undefined ? {} : { signal });
  return { authEnabled: c.authEnabled, name: c.name, role: c.role, methods: [...c.methods], queues: [...c.queues] };
}

/** What usePoll gives a view. */
export interface Poll<T> {
  /** The last value read (kept while later polls fail). */
  readonly data: T | undefined;
  /** The error of the last poll, if it failed. */
  readonly error: unknown;
  /** True until the first poll settles. */
  readonly loading: boolean;
  /** Polls again now. */
  reload(): void;
}

/**
 * Calls `load` now and then every `intervalMs` after each call settles (0: once), again from
 * scratch whenever `deps` change; aborts the call in flight on unmount. A failure keeps the
 * last data and is retried on the next tick.
 */
export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, intervalMs: number, deps: readonly unknown[]): Poll<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const loadRef = useRef(load);
  loadRef.current = load;
  const kick = useRef<() => void>(() => undefined);
  useEffect(() => {
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    let again = false;
    setState({ data: undefined, error: undefined, loading: true });
    const tick = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      clearTimeout(timer);
      try {
        const data = await loadRef.current(ac.signal);
        if (!ac.signal.aborted) setState({ data, error: undefined, loading: false });
      } catch (e) {
        if (!ac.signal.aborted) setState((s) => ({ data: s.data, error: e, loading: false }));
      }
      running = false;
      if (ac.signal.aborted) return;
      if (again) {
        again = false;
        void tick();
      } else if (intervalMs > 0) timer = setTimeout(() => void tick(), intervalMs);
    };
    kick.current = () => void tick();
    void tick();
    return () => {
      ac.abort();
      clearTimeout(timer);
    };
  }, [intervalMs, ...deps]);
  return { ...state, reload: () => kick.current() };
}
