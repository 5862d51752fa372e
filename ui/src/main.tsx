/**
 * The ActionQueue dashboard: a client of the public API (connect-web) served by the server
 * itself at /ui/. This file starts it: who the caller is (GetCaller; a token form on
 * UNAUTHENTICATED), the header, and the hash routes (route.ts) to the views.
 */
import "uplot/dist/uPlot.min.css";
import "./palette.css";
import "./styles.css";
import "./views.css";
import { Code } from "@connectrpc/connect";
import { render } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { authFailure, describeError, fetchCaller, makeClient, type Session, SessionContext, storedToken, storeToken } from "./api.js";
import { ErrorText } from "./components/bits.js";
import { Header } from "./components/Header.js";
import { TokenForm } from "./components/TokenForm.js";
import { errorLine } from "./format.js";
import { parseHash, type Route } from "./route.js";
import { useStore } from "./store.js";
import { initTheme } from "./theme.js";
import { Keys } from "./views/Keys.js";
import { Overview } from "./views/Overview.js";
import { RunDetail } from "./views/RunDetail.js";
import { Runs } from "./views/Runs.js";

/** Where the page is in signing in. */
type Phase =
  | { readonly kind: "loading" }
  | { readonly kind: "token"; readonly error: unknown }
  | { readonly kind: "unreachable"; readonly error: unknown }
  | { readonly kind: "ready"; readonly session: Session };

/** The current hash route, following hashchange. */
function useRoute(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return useMemo(() => parseHash(hash), [hash]);
}

const TITLES: Record<Route["view"], string> = { overview: "Overview", runs: "Runs", run: "Run", keys: "Concurrency keys", notfound: "Not found" };

/** The view of `route`. */
function View({ route }: { route: Route }) {
  switch (route.view) {
    case "overview":
      return <Overview />;
    case "runs":
      return <Runs filter={route.filter} />;
    case "run":
      return <RunDetail key={route.runId} runId={route.runId} />;
    case "keys":
      return <Keys lookup={route.key} />;
    case "notfound":
      return (
        <>
          <h1 tabIndex={-1}>Not found</h1>
          <p>
            Nothing lives at <code>#{route.path}</code>. <a href="#/">Go to the overview</a>.
          </p>
        </>
      );
  }
}

/** The whole page. */
function App() {
  const route = useRoute();
  const [token, setToken] = useState(storedToken());
  const [attempt, setAttempt] = useState(0);
  // `attempt` makes a new client (and a new GetCaller) even when the same token is entered again.
  const client = useMemo(() => makeClient(token), [token, attempt]);
  const [phase, setPhase] = useState<Phase>({ kind: "loading" });
  const failure = useStore(authFailure);

  useEffect(() => {
    authFailure.set(null);
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ask = async () => {
      try {
        const caller = await fetchCaller(client, ac.signal);
        setPhase({ kind: "ready", session: { client, caller, callerError: null, hasToken: token !== undefined } });
      } catch (e) {
        if (ac.signal.aborted) return;
        const d = describeError(e);
        if (d.code === Code.Unauthenticated) {
          setPhase({ kind: "token", error: token === undefined ? undefined : e });
        } else if (d.code === Code.Unimplemented || d.code === Code.PermissionDenied) {
          // The server cannot say who the caller is: the views work, every action stays hidden.
          setPhase({ kind: "ready", session: { client, caller: null, callerError: d, hasToken: token !== undefined } });
        } else {
          setPhase({ kind: "unreachable", error: e });
          timer = setTimeout(() => void ask(), 3_000);
        }
      }
    };
    void ask();
    return () => {
      ac.abort();
      clearTimeout(timer);
    };
  }, [client]);

  // Any call answered UNAUTHENTICATED (e.g. the server restarted with another auth file): ask again.
  useEffect(() => {
    if (failure !== null && phase.kind === "ready") setPhase({ kind: "token", error: failure.code === undefined ? undefined : new Error(errorLine(failure)) });
  }, [failure, phase.kind]);

  useEffect(() => {
    document.title = `${TITLES[route.view]} · ActionQueue`;
  }, [route.view]);
  // A new view: focus its heading, so keyboard and screen-reader users start there.
  const first = useRef(true);
  const viewKey = route.view === "run" ? `run:${route.runId}` : route.view;
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.querySelector<HTMLElement>("main h1")?.focus();
  }, [viewKey]);

  const signIn = (t: string) => {
    storeToken(t);
    setToken(t);
    setAttempt((n) => n + 1);
  };
  const signOut = () => {
    storeToken(undefined);
    setToken(undefined);
    setAttempt((n) => n + 1);
  };
  const session = phase.kind === "ready" ? phase.session : null;
  return (
    <>
      <a class="skip" href="#main-content" onClick={(e) => (e.preventDefault(), document.getElementById("main-content")?.focus())}>
        Skip to content
      </a>
      <Header route={route} caller={session === null ? undefined : session.caller} onSignOut={token === undefined ? undefined : signOut} />
      <main id="main-content" tabIndex={-1}>
        {phase.kind === "loading" ? <p aria-busy="true">Connecting to the server…</p> : null}
        {phase.kind === "token" ? <TokenForm error={phase.error} onToken={signIn} /> : null}
        {phase.kind === "unreachable" ? (
          <>
            <h1 tabIndex={-1}>Cannot reach the server</h1>
            <ErrorText error={phase.error} />
            <p>Trying again every 3 seconds.</p>
          </>
        ) : null}
        {session === null ? null : (
          <SessionContext.Provider value={session}>
            {session.callerError === null ? null : (
              <div class="banner warn" role="status" data-testid="caller-unknown">
                The server could not say who you are ({errorLine(session.callerError)}): actions are hidden.
              </div>
            )}
            <View route={route} />
          </SessionContext.Provider>
        )}
      </main>
    </>
  );
}

initTheme();
const root = document.getElementById("app");
if (root !== null) {
  root.textContent = "";
  render(<App />, root);
}
