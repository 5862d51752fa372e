/**
 * Entry point: parse configuration, open the store (LMDB, or PostgreSQL shared by several servers) and the engine, serve, and shut down cleanly on
 * SIGTERM / SIGINT. The only place that builds adapters. Every start-up failure is one line
 * on stderr and a non-zero exit.
 */
import { createLogger } from "./bin/logger.js";
import { packageVersion } from "./bin/version.js";
import { type Config, ConfigError, helpText, isLoopbackHost, isVersionRequest, parseConfig } from "./config.js";
import { Engine } from "./engine/engine.js";
import { engineOptions } from "./engine-options.js";
import { type AuthFile, AuthFileError, loadAuthFile } from "./server/auth/auth-file.js";
import { Metrics } from "./server/metrics/metrics.js";
import { ListenError, type RunningServer, startServer } from "./server/server.js";
import type { Store } from "./engine/ports.js";
import { LmdbStore, StoreOpenError } from "./storage/lmdb/store.js";
import { PgStore, PgStoreOpenError, type PgStoreLog, pgTarget } from "./storage/postgres/store.js";

function fail(message: string, code = 1): never {
  process.stderr.write(`actionqueue: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  if (isVersionRequest(process.argv.slice(2))) {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  let config;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message, 2);
    throw e;
  }
  if (config === "help") {
    process.stdout.write(`${helpText()}\n`);
    return;
  }
  // The auth file is checked before anything is opened: a bad entry is one line and exit 2.
  let auth: AuthFile | null;
  try {
    auth = config.authFile === null ? null : loadAuthFile(config.authFile);
  } catch (e) {
    if (e instanceof AuthFileError) fail(e.message, 2);
    throw e;
  }
  const log = createLogger({
    level: config.logLevel,
    base: { service: "actionqueue" },
    // Defence in depth: tokens and payloads are never logged, even by accident.
    redact: { paths: ["lease_token", "leaseToken", "token", "payload", "*.lease_token", "*.leaseToken", "*.token", "*.payload", "authorization", "*.authorization", "*.headers.authorization"], remove: true },
  }, config);
  // Which auth mode is in force, for the operator (token names only, never digests).
  if (auth) log.info({ auth_file: config.authFile, token_names: auth.tokens.map((t) => t.name) }, "auth file loaded: every call but health needs a bearer token");
  else if (isLoopbackHost(config.host)) log.info({}, "no auth file: the API is open to every process on this machine");
  else log.warn({ listen: config.host }, "no auth file and --allow-unauthenticated: the API is open to anyone who reaches the port");
  // Signals are handled from here on, before anything is opened: a SIGTERM / SIGINT at any
  // point of start-up (opening LMDB, rebuilding the engine, binding the port, the moment
  // before "serving") is a clean shutdown too. Start-up goes on to its next step, and whatever
  // it has opened by then is closed.
  let stopSignal: string | null = null;
  let starting = true;
  let store: Store | null = null;
  let engine: Engine | null = null;
  let server: RunningServer | null = null;
  const shutDown = () => {
    const closing = server ? server.close(config.shutdownGraceMs) : engine ? engine.close() : store ? store.close() : Promise.resolve();
    closing
      .then(() => {
        log.info({}, "stopped");
        log.flush?.();
        process.exit(0);
      })
      .catch((e: unknown) => {
        log.error({ err: e }, "shutdown failed");
        process.exit(1);
      });
  };
  const stop = (signal: string) => {
    if (stopSignal !== null) return;
    stopSignal = signal;
    log.info({ signal }, "shutting down");
    if (!starting) shutDown();
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  /** Ends start-up early when a signal arrived meanwhile (true: shutting down). */
  const stoppedDuringStartUp = (): boolean => {
    if (stopSignal === null) return false;
    starting = false;
    shutDown();
    return true;
  };

  try {
    store = await openStore(config, log);
  } catch (e) {
    if (e instanceof StoreOpenError || e instanceof PgStoreOpenError) fail(e.message);
    throw e;
  }
  if (stoppedDuringStartUp()) return;
  // One registry for the engine's series (its observer port) and the server's.
  const metrics = new Metrics();
  engine = await Engine.open({ ...engineOptions(config, store, log), observer: metrics.engineObserver });
  if (stoppedDuringStartUp()) return;
  try {
    server = await startServer(engine, config, log, auth, metrics);
  } catch (e) {
    await engine.close();
    if (e instanceof ListenError) fail(e.message);
    throw e;
  }
  if (stoppedDuringStartUp()) return;
  starting = false;
  const base = `${config.tlsCert !== null ? "https" : "http"}://${urlHost(config.host)}:${server.port}`;
  log.info(
    { listen: `${config.host}:${server.port}`, port: server.port, storage: config.storage, ...storageFields(config), durability: config.durability, tls: config.tlsCert !== null, ...(server.uiPath ? { dashboard: `${base}${server.uiPath}` } : {}) },
    "serving",
  );
}

/** The store the configuration asks for: LMDB in --data-dir, or PostgreSQL (shared by several servers) at --postgres-url. */
async function openStore(config: Config, log: PgStoreLog): Promise<Store> {
  if (config.storage === "postgres") return PgStore.open({ url: config.postgresUrl as string, log, commits: config.postgresCommits });
  return LmdbStore.open({ path: config.dataDir, relaxedDurability: config.durability === "relaxed" });
}

/** Where the data is, for the "serving" line: the directory, or PostgreSQL's host, port and database (never the password). */
function storageFields(config: Config): Record<string, unknown> {
  if (config.storage !== "postgres") return { data_dir: config.dataDir };
  const t = pgTarget(config.postgresUrl as string);
  return { postgres_host: t.host, postgres_port: t.port, postgres_database: t.database };
}

main().catch((e) => fail(e instanceof Error ? (e.stack ?? e.message) : String(e)));

/** The host part of a URL reaching `host` from this machine (a wildcard address becomes loopback). */
function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "[::1]";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
