/**
 * Configuration, parsed once: defaults, then `ACTIONQUEUE_*` environment variables, then
 * command-line flags (`--name value` or `--name=value`). A bad value is a one-line error.
 */
import { DEFAULT_LIMITS } from "./domain/limits.js";

/** Every setting of the service. */
export interface Config {
  /** lmdb (the data directory) or postgres (--postgres-url, shared by any number of servers). */
  readonly storage: "lmdb" | "postgres";
  readonly dataDir: string;
  /** PostgreSQL URL (postgres://user:password@host:port/database); only with storage postgres. */
  readonly postgresUrl: string | null;
  /** How servers on one PostgreSQL commit: concurrent (the default) or serial (one commit lock); docs/scaling.md. */
  readonly postgresCommits: "serial" | "concurrent";
  readonly host: string;
  readonly port: number;
  readonly tlsCert: string | null;
  readonly tlsKey: string | null;
  readonly logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
  /** json, pretty (pino-pretty), or auto: pretty when stdout is a terminal, JSON otherwise. */
  readonly logFormat: "auto" | "json" | "pretty";
  /** Time field of JSON log lines: epoch milliseconds or ISO-8601 (pretty lines always show ISO). */
  readonly logTime: "epoch" | "iso";
  readonly durability: "strict" | "relaxed";
  readonly maxMessageBytes: number;
  readonly maxPayloadBytes: number;
  readonly maxOutputBytes: number;
  readonly maxErrorBytes: number;
  readonly maxRepeatCount: number;
  readonly maxTaskDepth: number;
  readonly retentionMs: number;
  readonly dedupWindowMs: number;
  readonly purgeIntervalMs: number;
  readonly storageQuotaBytes: number;
  readonly cronWindow: number;
  readonly watchBufferEvents: number;
  readonly maxWatches: number;
  readonly watchStallTimeoutMs: number;
  readonly maxLongPolls: number;
  readonly maxInflightWrites: number;
  readonly maxInflightWorker: number;
  readonly maxInflightReads: number;
  readonly maxQueuedCommands: number;
  readonly maxQueueDelayMs: number;
  readonly maxEventLoopUtilization: number;
  readonly shutdownGraceMs: number;
  readonly maxConnections: number;
  readonly maxStreamsPerConnection: number;
  readonly idleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly stallTimeoutMs: number;
  /** Browser origins allowed to call the API cross-origin (normalised; empty: none). */
  readonly corsOrigins: readonly string[];
  /** A second address serving only `GET /metrics` (plain HTTP); null: only the main port. */
  readonly metricsListen: { readonly host: string; readonly port: number } | null;
  /** JSON auth file of bearer-token digests and roles (docs/auth.md); null: the API is open. */
  readonly authFile: string | null;
  /** Serve without an auth file on a non-loopback address (refused otherwise). */
  readonly allowUnauthenticated: boolean;
  /** Serve the dashboard at /ui/ (and redirect browsers from / to it). */
  readonly ui: boolean;
}

interface Setting {
  readonly key: keyof Config;
  readonly flag: string;
  readonly env: string;
  readonly help: string;
  readonly def: string;
  readonly parse: (raw: string) => Config[keyof Config];
}

/** Raised for a bad flag or value; the message is one line. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZES: Record<string, number> = { "": 1, b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };

function duration(name: string) {
  return (raw: string): number => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(raw.trim());
    if (!m) throw new ConfigError(`${name}: "${raw}" is not a duration (e.g. 500ms, 30s, 5m, 2h, 7d)`);
    return Math.round(Number(m[1]) * (UNITS[m[2] as string] as number));
  };
}

function bytes(name: string, min: number) {
  return (raw: string): number => {
    const m = /^(\d+)\s*([a-z]*)$/i.exec(raw.trim());
    const unit = SIZES[(m?.[2] ?? "x").toLowerCase()];
    if (!m || unit === undefined) throw new ConfigError(`${name}: "${raw}" is not a size (e.g. 1048576, 512KiB, 4MiB, 10GiB)`);
    const n = Number(m[1]) * unit;
    if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(`${name}: must be at least ${min} bytes`);
    return n;
  };
}

function int(name: string, min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`${name}: "${raw}" must be an integer from ${min} to ${max}`);
    }
    return n;
  };
}

function oneOf<T extends string>(name: string, values: readonly T[]) {
  return (raw: string): T => {
    if (!(values as readonly string[]).includes(raw)) throw new ConfigError(`${name}: "${raw}" must be one of ${values.join(", ")}`);
    return raw as T;
  };
}

/**
 * A comma-separated list of browser origins, each normalised to what a browser sends in its
 * Origin header (lower-case host, default port dropped, IDN as punycode), so that matching is
 * a plain string comparison. Only http and https: an origin is `scheme://host[:port]` with no
 * path (not even a trailing "/"), query, fragment, user info or wildcard. `*` is refused: a
 * server without an auth file (the default on loopback) answers any caller, so any page open
 * in a browser on a machine that can reach the server could submit, cancel and pause through
 * it; and with an auth file, a token pasted into one page should not be usable from every
 * other. The origins have to be listed. `null` (sandboxed frames, file: pages) is refused
 * for the same reason.
 */
function originList(name: string) {
  return (raw: string): readonly string[] => {
    if (raw.trim() === "") return [];
    const out = new Set<string>();
    for (const part of raw.split(",")) {
      const o = part.trim();
      if (o === "") throw new ConfigError(`${name}: empty origin in "${raw}" (a comma too many?)`);
      if (o === "*") throw new ConfigError(`${name}: "*" is not accepted (any web page could drive the API from a browser that reaches it); list the origins, e.g. https://app.example,http://localhost:5173`);
      const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)$/i.exec(o);
      if (!m) throw new ConfigError(`${name}: "${o}" is not an origin (scheme://host[:port], no path, query or trailing "/")`);
      const scheme = (m[1] as string).toLowerCase();
      if (scheme !== "http" && scheme !== "https") throw new ConfigError(`${name}: "${o}" must use http or https`);
      const authority = m[2] as string;
      if (authority.includes("@") || authority.includes("*")) throw new ConfigError(`${name}: "${o}" is not an origin (no user info or wildcard: list each origin)`);
      let url: URL;
      try {
        url = new URL(o);
      } catch {
        throw new ConfigError(`${name}: "${o}" is not an origin (bad host or port)`);
      }
      if (url.hostname === "") throw new ConfigError(`${name}: "${o}" has no host`);
      out.add(url.origin);
    }
    return [...out];
  };
}

function boolean(name: string) {
  return (raw: string): boolean => {
    if (raw === "true") return true;
    if (raw === "false") return false;
    throw new ConfigError(`${name}: "${raw}" must be true or false`);
  };
}

/**
 * Whether `host` (from --listen) only accepts connections from this machine: `localhost`,
 * 127.0.0.0/8, ::1 (and its IPv4-mapped form). A wildcard (0.0.0.0, ::) or any other name or
 * address may be reachable from elsewhere.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

const text = (raw: string) => raw;

/**
 * A PostgreSQL URL (postgres:// or postgresql://), or none when empty. The value is never
 * echoed: it may hold a password.
 */
function postgresUrl(raw: string): string | null {
  if (raw.trim() === "") return null;
  let url: URL | null;
  try {
    url = new URL(raw.trim());
  } catch {
    url = null;
  }
  if (!url || (url.protocol !== "postgres:" && url.protocol !== "postgresql:")) {
    throw new ConfigError("postgres-url: not a PostgreSQL URL (postgres://user:password@host:port/database)");
  }
  return raw.trim();
}
const optionalText = (raw: string) => (raw === "" ? null : raw);

/**
 * An optional `host:port` (IPv6 in brackets, e.g. `[::1]:9464`; port 0 picks a free one);
 * empty: none. The host is checked for shape only (a name that does not resolve fails at
 * listen time, as --listen does).
 */
function optionalAddress(name: string) {
  return (raw: string): { host: string; port: number } | null => {
    const v = raw.trim();
    if (v === "") return null;
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
    const port = Number(m?.[2]);
    if (!m || port > 65_535) throw new ConfigError(`${name}: "${raw}" must be host:port (e.g. 127.0.0.1:9464, [::1]:9464), port 0 to 65535`);
    return { host: (m[1] as string).replace(/^\[(.*)\]$/, "$1"), port };
  };
}

/** A byte count as the --help text shows it: "1MiB", "64KiB", or plain bytes. */
function bytesText(n: number): string {
  if (n % (1 << 20) === 0) return `${n / (1 << 20)}MiB`;
  if (n % 1024 === 0) return `${n / 1024}KiB`;
  return String(n);
}

// Limits the engine enforces take their defaults from the one table (src/domain/limits.ts).
const L = DEFAULT_LIMITS;

const SETTINGS: readonly Setting[] = [
  { key: "storage", flag: "storage", env: "ACTIONQUEUE_STORAGE", def: "lmdb", help: "lmdb (the --data-dir directory) or postgres (--postgres-url; several servers may share one database)", parse: oneOf("storage", ["lmdb", "postgres"] as const) },
  { key: "dataDir", flag: "data-dir", env: "ACTIONQUEUE_DATA_DIR", def: "./data", help: "LMDB data directory (created when missing)", parse: text },
  { key: "postgresUrl", flag: "postgres-url", env: "ACTIONQUEUE_POSTGRES_URL", def: "", help: "PostgreSQL URL, postgres://user:password@host:port/database (with --storage postgres only; the password is never logged)", parse: postgresUrl },
  { key: "postgresCommits", flag: "postgres-commits", env: "ACTIONQUEUE_POSTGRES_COMMITS", def: "concurrent", help: "concurrent (servers decide and write their batches at once, hand-out with FOR UPDATE SKIP LOCKED; a batch that raced another server's is decided again) or serial (every server's commits one at a time, under one lock); with --storage postgres only", parse: oneOf("postgres-commits", ["serial", "concurrent"] as const) },
  { key: "host", flag: "listen", env: "ACTIONQUEUE_LISTEN", def: "127.0.0.1:50051", help: "address to serve gRPC, gRPC-Web and Connect on (host:port; port 0 picks a free one)", parse: text },
  { key: "tlsCert", flag: "tls-cert", env: "ACTIONQUEUE_TLS_CERT", def: "", help: "PEM certificate file; with --tls-key serves TLS (HTTP/2 and HTTP/1.1 via ALPN)", parse: optionalText },
  { key: "tlsKey", flag: "tls-key", env: "ACTIONQUEUE_TLS_KEY", def: "", help: "PEM private key file for --tls-cert", parse: optionalText },
  { key: "logLevel", flag: "log-level", env: "ACTIONQUEUE_LOG_LEVEL", def: "info", help: "trace, debug, info, warn, error, fatal or silent", parse: oneOf("log-level", ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const) },
  { key: "logFormat", flag: "log-format", env: "ACTIONQUEUE_LOG_FORMAT", def: "auto", help: "json (one object a line), pretty (human-readable, via pino-pretty) or auto (pretty when stdout is a terminal, else json)", parse: oneOf("log-format", ["auto", "json", "pretty"] as const) },
  { key: "logTime", flag: "log-time", env: "ACTIONQUEUE_LOG_TIME", def: "epoch", help: "time field of JSON log lines: epoch (milliseconds) or iso (ISO-8601 UTC); pretty lines always show ISO-8601", parse: oneOf("log-time", ["epoch", "iso"] as const) },
  { key: "durability", flag: "durability", env: "ACTIONQUEUE_DURABILITY", def: "strict", help: "strict: every reply waits for the disk flush; relaxed: no flush (survives a process crash, may lose the last moments on power loss)", parse: oneOf("durability", ["strict", "relaxed"] as const) },
  { key: "maxMessageBytes", flag: "max-message-bytes", env: "ACTIONQUEUE_MAX_MESSAGE_BYTES", def: "4MiB", help: "largest request or response message; larger ones are refused before parsing", parse: bytes("max-message-bytes", 1024) },
  { key: "maxPayloadBytes", flag: "max-payload-bytes", env: "ACTIONQUEUE_MAX_PAYLOAD_BYTES", def: bytesText(L.maxPayloadBytes), help: "largest task payload", parse: bytes("max-payload-bytes", 1) },
  { key: "maxOutputBytes", flag: "max-output-bytes", env: "ACTIONQUEUE_MAX_OUTPUT_BYTES", def: bytesText(L.maxOutputBytes), help: "largest attempt output", parse: bytes("max-output-bytes", 1) },
  { key: "maxErrorBytes", flag: "max-error-bytes", env: "ACTIONQUEUE_MAX_ERROR_BYTES", def: bytesText(L.maxErrorBytes), help: "largest attempt error text (UTF-8 bytes)", parse: bytes("max-error-bytes", 1) },
  { key: "maxRepeatCount", flag: "max-repeat-count", env: "ACTIONQUEUE_MAX_REPEAT_COUNT", def: String(L.maxRepeatCount), help: "largest repeat count of a task", parse: int("max-repeat-count", 1, 1_000_000) },
  { key: "maxTaskDepth", flag: "max-task-depth", env: "ACTIONQUEUE_MAX_TASK_DEPTH", def: String(L.maxTaskDepth), help: "levels a task hierarchy may have", parse: int("max-task-depth", 1, 64) },
  { key: "retentionMs", flag: "retention", env: "ACTIONQUEUE_RETENTION", def: "7d", help: "how long terminal runs and events are kept before purging", parse: duration("retention") },
  { key: "dedupWindowMs", flag: "dedup-window", env: "ACTIONQUEUE_DEDUP_WINDOW", def: "7d", help: "how long a purged task's id stays reserved against resubmission", parse: duration("dedup-window") },
  { key: "purgeIntervalMs", flag: "purge-interval", env: "ACTIONQUEUE_PURGE_INTERVAL", def: "1m", help: "how often the retention purge runs", parse: duration("purge-interval") },
  { key: "storageQuotaBytes", flag: "storage-quota", env: "ACTIONQUEUE_STORAGE_QUOTA", def: "0", help: "live data past which submissions fail with STORAGE_QUOTA (0: none)", parse: bytes("storage-quota", 0) },
  { key: "cronWindow", flag: "cron-window", env: "ACTIONQUEUE_CRON_WINDOW", def: "3", help: "upcoming runs kept derived per cron task", parse: int("cron-window", 1, 1_000) },
  { key: "watchBufferEvents", flag: "watch-buffer", env: "ACTIONQUEUE_WATCH_BUFFER", def: "10000", help: "events buffered per watch stream before a slow reader is cut off with RESOURCE_EXHAUSTED", parse: int("watch-buffer", 10, 10_000_000) },
  { key: "maxWatches", flag: "max-watches", env: "ACTIONQUEUE_MAX_WATCHES", def: "1000", help: "concurrent WatchRuns streams", parse: int("max-watches", 1, 1_000_000) },
  { key: "watchStallTimeoutMs", flag: "watch-stall-timeout", env: "ACTIONQUEUE_WATCH_STALL_TIMEOUT", def: "30s", help: "a watch stream whose client reads nothing for this long (its HTTP/2 window full) is ended with RESOURCE_EXHAUSTED (WATCH_TOO_SLOW) and its slot freed", parse: duration("watch-stall-timeout") },
  { key: "maxLongPolls", flag: "max-long-polls", env: "ACTIONQUEUE_MAX_LONG_POLLS", def: "10000", help: "concurrent waiting LeaseRuns calls", parse: int("max-long-polls", 1, 1_000_000) },
  { key: "maxInflightWrites", flag: "max-inflight-writes", env: "ACTIONQUEUE_MAX_INFLIGHT_WRITES", def: "256", help: "write calls (SubmitTask, CancelTask, run commands) in flight; more are refused with RESOURCE_EXHAUSTED (OVERLOADED); 0: no bound", parse: int("max-inflight-writes", 0, 1_000_000) },
  { key: "maxInflightWorker", flag: "max-inflight-worker", env: "ACTIONQUEUE_MAX_INFLIGHT_WORKER", def: "256", help: "worker calls (LeaseRuns without wait, heartbeats, completions) in flight; 0: no bound", parse: int("max-inflight-worker", 0, 1_000_000) },
  { key: "maxInflightReads", flag: "max-inflight-reads", env: "ACTIONQUEUE_MAX_INFLIGHT_READS", def: "64", help: "Get/List calls and GetStats in flight; 0: no bound", parse: int("max-inflight-reads", 0, 1_000_000) },
  { key: "maxQueuedCommands", flag: "max-queued-commands", env: "ACTIONQUEUE_MAX_QUEUED_COMMANDS", def: "2000", help: "engine commands waiting for their batch; more are refused with RESOURCE_EXHAUSTED (OVERLOADED); 0: no bound", parse: int("max-queued-commands", 0, 10_000_000) },
  { key: "maxQueueDelayMs", flag: "max-queue-delay", env: "ACTIONQUEUE_MAX_QUEUE_DELAY", def: "0ms", help: "refuse new engine commands while the oldest waiting one has waited longer than this (0ms: off)", parse: duration("max-queue-delay") },
  { key: "maxEventLoopUtilization", flag: "max-event-loop-utilization", env: "ACTIONQUEUE_MAX_EVENT_LOOP_UTILIZATION", def: "95", help: "percent of time the event loop may be busy; above it a growing share of API calls is refused with RESOURCE_EXHAUSTED (OVERLOADED); 0: off", parse: int("max-event-loop-utilization", 0, 100) },
  { key: "shutdownGraceMs", flag: "shutdown-grace", env: "ACTIONQUEUE_SHUTDOWN_GRACE", def: "10s", help: "on SIGTERM/SIGINT, how long in-flight calls may take before connections are closed", parse: duration("shutdown-grace") },
  { key: "maxConnections", flag: "max-connections", env: "ACTIONQUEUE_MAX_CONNECTIONS", def: "10000", help: "open client connections; one more is accepted and closed at once", parse: int("max-connections", 1, 1_000_000) },
  { key: "maxStreamsPerConnection", flag: "max-streams-per-connection", env: "ACTIONQUEUE_MAX_STREAMS_PER_CONNECTION", def: "256", help: "concurrent HTTP/2 streams (calls) per connection, advertised in SETTINGS; more are refused (REFUSED_STREAM)", parse: int("max-streams-per-connection", 1, 100_000) },
  { key: "idleTimeoutMs", flag: "idle-timeout", env: "ACTIONQUEUE_IDLE_TIMEOUT", def: "120s", help: "a connection with no call in progress for this long is closed (HTTP/2 GOAWAY; HTTP/1.1 keep-alive)", parse: duration("idle-timeout") },
  { key: "handshakeTimeoutMs", flag: "handshake-timeout", env: "ACTIONQUEUE_HANDSHAKE_TIMEOUT", def: "10s", help: "a new connection must complete its TLS handshake and first request headers (HTTP/1.1) or preface (HTTP/2) within this", parse: duration("handshake-timeout") },
  { key: "stallTimeoutMs", flag: "stall-timeout", env: "ACTIONQUEUE_STALL_TIMEOUT", def: "30s", help: "a request body that makes no progress for this long while the server waits for it is reset", parse: duration("stall-timeout") },
  { key: "corsOrigins", flag: "cors-origins", env: "ACTIONQUEUE_CORS_ORIGINS", def: "", help: "browser origins allowed to call the API (CORS), comma-separated scheme://host[:port], e.g. https://app.example,http://localhost:5173; \"*\" is refused", parse: originList("cors-origins") },
  { key: "metricsListen", flag: "metrics-listen", env: "ACTIONQUEUE_METRICS_LISTEN", def: "", help: "also serve GET /metrics (Prometheus) on this host:port, plain HTTP; /metrics on the main port is unauthenticated, so keep this one on a private address when metrics must stay private", parse: optionalAddress("metrics-listen") },
  { key: "authFile", flag: "auth-file", env: "ACTIONQUEUE_AUTH_FILE", def: "", help: "JSON file of bearer-token SHA-256 digests mapped to roles and queues (docs/auth.md); without it the API is open, and only a loopback --listen is accepted", parse: optionalText },
  { key: "allowUnauthenticated", flag: "allow-unauthenticated", env: "ACTIONQUEUE_ALLOW_UNAUTHENTICATED", def: "false", help: "true: serve without --auth-file on a non-loopback --listen address (anyone who reaches the port may call everything)", parse: boolean("allow-unauthenticated") },
  { key: "ui", flag: "ui", env: "ACTIONQUEUE_UI", def: "true", help: "serve the dashboard at /ui/ on the main port (browsers asking for / are redirected there); false: no dashboard", parse: boolean("ui") },
];

/** The --help text. */
export function helpText(): string {
  const lines = [
    "actionqueue — durable run queue over gRPC, gRPC-Web and Connect (LMDB or PostgreSQL storage)",
    "",
    "Usage: npm start -- [flags]      (or: node dist/main.js [flags])",
    "",
    "Every flag can also be set with its environment variable; flags win.",
    "",
  ];
  for (const s of SETTINGS) {
    lines.push(`  --${s.flag} <value>`.padEnd(32) + `${s.help}`);
    lines.push(`${"".padEnd(32)}env ${s.env}, default ${s.def === "" ? "(none)" : s.def}`);
  }
  lines.push(`  --help`.padEnd(32) + "print this text and exit");
  lines.push(`  --version`.padEnd(32) + "print the version and exit");
  return lines.join("\n");
}

/**
 * Whether the command line asks for the version (`--version` or `-V` in a flag's place, not
 * as another flag's value). Checked before parseConfig, so that `--version` works whatever
 * else is on the line.
 */
export function isVersionRequest(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--version" || arg === "-V") return true;
    const name = arg.startsWith("--") && !arg.includes("=") ? arg.slice(2) : null;
    if (name !== null && SETTINGS.some((s) => s.flag === name)) i++;
  }
  return false;
}

/** Parses configuration; returns "help" when --help was given. Throws ConfigError. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config | "help" {
  const raw = new Map<keyof Config, string>();
  for (const s of SETTINGS) raw.set(s.key, s.def);
  for (const s of SETTINGS) {
    const v = env[s.env];
    if (v !== undefined) raw.set(s.key, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--help" || arg === "-h") return "help";
    if (!arg.startsWith("--")) throw new ConfigError(`unexpected argument "${arg}" (see --help)`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const setting = SETTINGS.find((s) => s.flag === name);
    if (!setting) throw new ConfigError(`unknown flag --${name} (see --help)`);
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new ConfigError(`flag --${name} needs a value`);
      value = next;
      i++;
    }
    raw.set(setting.key, value);
  }
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) out[s.key] = s.parse(raw.get(s.key) as string);
  const listen = out.host as string;
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m || (m[1] as string).length === 0) throw new ConfigError(`listen: "${listen}" must be host:port`);
  const port = Number(m[2]);
  if (port > 65_535) throw new ConfigError(`listen: port ${port} is out of range`);
  out.host = (m[1] as string).replace(/^\[(.*)\]$/, "$1");
  out.port = port;
  if (out.storage === "postgres" && out.postgresUrl === null) throw new ConfigError("storage: postgres needs --postgres-url (postgres://user:password@host:port/database)");
  if (out.storage !== "postgres" && out.postgresUrl !== null) throw new ConfigError("postgres-url: only with --storage postgres");
  if (out.storage !== "postgres" && out.postgresCommits !== "concurrent") throw new ConfigError("postgres-commits: only with --storage postgres");
  if ((out.tlsCert === null) !== (out.tlsKey === null)) throw new ConfigError("tls-cert and tls-key must be given together");
  // SPEC §12: an open API is only for this machine; elsewhere it takes an auth file, or an
  // explicit statement that anyone reaching the port may call everything.
  if (out.authFile === null && !out.allowUnauthenticated && !isLoopbackHost(out.host as string)) {
    throw new ConfigError(`listen: ${listen} is not a loopback address and no --auth-file is given; give --auth-file (docs/auth.md), or --allow-unauthenticated true to serve an open API anyway`);
  }
  return out as unknown as Config;
}
