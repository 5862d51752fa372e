/**
 * The page header: name, main navigation, the connection indicator (an aria-live region:
 * "live" / "reconnecting…"), who the caller is, the light/dark toggle and "sign out".
 */
import { connection } from "../api.js";
import type { CallerView } from "../perm.js";
import type { Route } from "../route.js";
import { useStore } from "../store.js";
import { isDark, setTheme, theme } from "../theme.js";

const CONNECTION_TEXT = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…" } as const;

/** Who the caller is, in one line. */
function who(caller: CallerView | null | undefined): string | null {
  if (caller === undefined) return null;
  if (caller === null) return "unknown caller (read-only)";
  if (!caller.authEnabled) return "open server (no auth)";
  return `${caller.name} · ${caller.role} · ${caller.queues.length === 0 ? "all queues" : `queues ${caller.queues.join(", ")}`}`;
}

/** Props of Header. */
export interface HeaderProps {
  readonly route: Route;
  /** Undefined before GetCaller answered; null when it failed. */
  readonly caller: CallerView | null | undefined;
  /** Shown when a token is in use. */
  readonly onSignOut?: (() => void) | undefined;
}

/** The header. */
export function Header({ route, caller, onSignOut }: HeaderProps) {
  const conn = useStore(connection);
  useStore(theme);
  const dark = isDark();
  const current = (view: Route["view"]) => (route.view === view || (view === "runs" && route.view === "run") ? "page" : undefined);
  const me = who(caller);
  return (
    <header class="top">
      <a class="brand" href="#/">
        ActionQueue
      </a>
      <nav aria-label="Main">
        <ul>
          <li>
            <a href="#/" aria-current={current("overview")} data-testid="nav-overview">
              Overview
            </a>
          </li>
          <li>
            <a href="#/runs" aria-current={current("runs")} data-testid="nav-runs">
              Runs
            </a>
          </li>
          <li>
            <a href="#/keys" aria-current={current("keys")} data-testid="nav-keys">
              Keys
            </a>
          </li>
        </ul>
      </nav>
      <div class="top-right">
        <span class={`conn conn-${conn}`} role="status" aria-live="polite" data-testid="connection" data-state={conn}>
          <span class="dot" aria-hidden="true" />
          {CONNECTION_TEXT[conn]}
        </span>
        {me === null ? null : (
          <span class="whoami" data-testid="whoami" title="Who this page calls the server as">
            {me}
          </span>
        )}
        <button type="button" class="ghost" aria-pressed={dark} onClick={() => setTheme(dark ? "light" : "dark")} data-testid="theme-toggle" title="Switch between light and dark">
          Dark theme
        </button>
        {onSignOut === undefined ? null : (
          <button type="button" class="ghost" onClick={onSignOut} data-testid="sign-out">
            Sign out
          </button>
        )}
      </div>
    </header>
  );
}
