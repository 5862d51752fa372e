/**
 * Real, throw-away PostgreSQL clusters for the tests: Debian's `postgresql` package, started
 * by scripts/pg-cluster.mjs (its header says how: a new directory under the system's
 * temporary directory, 127.0.0.1 on a free port, fsync and synchronous_commit on, as the
 * `postgres` user when the tests run as root). `.ci/run` installs the package
 * (scripts/install-system-deps.sh); a machine without it skips those tests with a warning
 * naming the package.
 *
 * This module runs the script (`node scripts/pg-cluster.mjs start|stop|halt|resume`) rather
 * than importing code from it: the script is then the one implementation, the same one CI and
 * a developer run by hand, and every test run exercises it; a shared .mjs module would need a
 * declaration file for the type checker (tsconfig.json has no allowJs), and the cost — one
 * short-lived node process per start or stop — is small next to initdb itself.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";

export const PG_LIB = "/usr/lib/postgresql";
const SCRIPT = join(import.meta.dirname, "..", "..", "scripts", "pg-cluster.mjs");

/** Whether some /usr/lib/postgresql/<version>/bin/initdb exists (what the script globs for). */
export const HAVE_POSTGRES = existsSync(PG_LIB) && readdirSync(PG_LIB).some((v) => existsSync(join(PG_LIB, v, "bin", "initdb")));

/** Prints why `file`'s PostgreSQL tests are skipped, when they are. */
export function warnWithoutPostgres(file: string): void {
  if (!HAVE_POSTGRES) {
    console.warn(`${file}: SKIPPED — no ${PG_LIB}/<version>/bin/initdb (install Debian's postgresql: apt-get install -y postgresql)`);
  }
}

export interface PostgresCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust authentication: no password). */
  readonly url: string;
  readonly port: number;
  /** The cluster's directory (data/, postgres.log, the unix socket). */
  readonly dir: string;
  /** Stops the server (`pg_ctl stop -m fast`) and removes the directory. Idempotent. */
  stop(): Promise<void>;
  /**
   * Stops the server (`-m fast`: clients are disconnected, a clean shutdown; `-m immediate`:
   * no shutdown checkpoint, crash recovery on the next start), runs `whileDown` if given, then
   * starts it again on the same port — even when `whileDown` throws (then this rethrows).
   */
  restart(mode: "fast" | "immediate", whileDown?: () => Promise<void>): Promise<void>;
  /** Creates a database and returns its URL. `name`: lower-case letters, digits and _. */
  createDatabase(name: string): Promise<string>;
}

/** Runs the script; resolves with its stdout, rejects with its one-line error. */
function script(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SCRIPT, ...args], { encoding: "utf8", timeout: 180_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(stderr.trim() || `pg-cluster.mjs ${args.join(" ")}: ${err.message}`));
      else resolve(stdout);
    });
  });
}

/** Starts a new cluster. The caller stops it (afterAll); should the process exit first, an exit hook does. */
export async function startPostgres(): Promise<PostgresCluster> {
  const out = await script(["start"]);
  const { url, port, dir } = JSON.parse(out.trim().split("\n").at(-1) ?? "") as { url: string; port: number; dir: string };
  let stopped = false;
  // A safety net for a test process that exits without its afterAll: pg_ctl puts the server
  // in a session of its own, so nothing else would stop it.
  const onExit = () => {
    if (!stopped) spawnSync(process.execPath, [SCRIPT, "stop", dir], { stdio: "ignore", timeout: 60_000 });
  };
  process.once("exit", onExit);
  return {
    url,
    port,
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener("exit", onExit);
      await script(["stop", dir]);
    },
    async restart(mode, whileDown) {
      await script(["halt", dir, "--mode", mode]);
      try {
        await whileDown?.();
      } finally {
        await script(["resume", dir]);
      }
    },
    createDatabase: (name) => createDatabaseAt(url, name),
  };
}

/** Creates database `name` (lower-case letters, digits and _) on the server of `url`; its URL. */
export async function createDatabaseAt(url: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`createDatabase: not a plain database name: ${JSON.stringify(name)}`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}
