#!/usr/bin/env node
// A throw-away PostgreSQL cluster for the tests and CI (Debian's `postgresql` package, which
// scripts/install-system-deps.sh installs). No system-wide server, no /var/run/postgresql:
// everything lives in one new directory that `stop` removes again.
//
//   node scripts/pg-cluster.mjs start [<parent>] [--port N]
//       initdb's a new cluster in a new directory <parent>/aq-pg-XXXXXX (<parent> defaults to
//       the system's temporary directory) and starts it: listening on 127.0.0.1 only, on a
//       free port (or N), unix sockets in the cluster directory, fsync and
//       synchronous_commit on, trust authentication (loopback only: throw-away clusters).
//       Prints one JSON line: {"url":"postgres://postgres@127.0.0.1:PORT/postgres","dir":…,"port":…}
//   node scripts/pg-cluster.mjs stop <dir>
//       `pg_ctl stop -m fast` (immediate, then SIGKILL, should that fail) and removes <dir>.
//   node scripts/pg-cluster.mjs halt <dir> [--mode fast|immediate]
//   node scripts/pg-cluster.mjs resume <dir>
//       Stop the server but keep the cluster, and start it again on the same port: what
//       test/support/postgres.ts's restart() uses to hold the server down for a while.
//
// Every command exits 0 on success and otherwise non-zero with one line on stderr.
//
// The binaries are those of the newest /usr/lib/postgresql/<version>/bin. PostgreSQL refuses
// to run as root: as root, the directory is handed to Debian's `postgres` user and initdb and
// pg_ctl run as that user (`runuser -u postgres --`); the server then runs as `postgres`
// too. As any other user they run as that user.
//
// Layout of <dir> (mode 0700):
//   cluster.json    what the other commands need (version, bin, port); its presence is also
//                   what lets `stop` delete the directory (it never removes anything else)
//   data/           the data directory; our settings in data/aq-cluster.conf
//   postgres.log    the server's log (pg_ctl -l)
//   .s.PGSQL.PORT   the unix socket
import { spawnSync } from "node:child_process";
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const PG_LIB = "/usr/lib/postgresql";
const MARKER = "cluster.json";
const LOG = "postgres.log";
// sun_path is 108 bytes on Linux; PostgreSQL needs room for "/.s.PGSQL.NNNNN.lock".
const MAX_SOCKET_DIR = 80;

class Failure extends Error {}

/** The newest installed PostgreSQL: { version, bin }, by globbing /usr/lib/postgresql/<version>/bin/initdb. */
function findPostgres() {
  const versions = existsSync(PG_LIB) ? readdirSync(PG_LIB).filter((v) => existsSync(join(PG_LIB, v, "bin", "initdb"))) : [];
  if (versions.length === 0) throw new Failure(`no ${PG_LIB}/<version>/bin/initdb (install Debian's postgresql: apt-get install -y postgresql)`);
  const key = (v) => v.split(".").map(Number);
  versions.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (y[i] ?? 0) - (x[i] ?? 0);
    return 0;
  });
  const version = versions[0];
  return { version, bin: join(PG_LIB, version, "bin") };
}

const AS_ROOT = process.getuid?.() === 0;

/** uid and gid of Debian's `postgres` user (root only). */
function postgresUser() {
  const id = (flag) => {
    const r = spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
    if (r.status !== 0) throw new Failure("running as root but there is no `postgres` user to run PostgreSQL as (Debian's postgresql package creates it)");
    return Number(r.stdout.trim());
  };
  return { uid: id("-u"), gid: id("-g") };
}

/** The environment for PostgreSQL's programs: the caller's without PG* variables (PGDATA, PGPORT, … would steer them). */
function pgEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PG")));
}

/** Runs `bin/program args` (as `postgres` when we are root) in `cwd`; throws a one-line Failure when it fails. */
function run(bin, program, args, cwd) {
  const exe = join(bin, program);
  const [cmd, argv] = AS_ROOT ? ["runuser", ["-u", "postgres", "--", exe, ...args]] : [exe, args];
  const r = spawnSync(cmd, argv, { cwd, env: pgEnv(), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
  if (r.error) throw new Failure(`${program}: ${r.error.message}`);
  if (r.status !== 0) {
    // Its own words, on one line (pg_ctl's "PID file … does not exist" + "Is server running?").
    const said = r.stderr.split("\n").map((l) => l.trim()).filter(Boolean).join(" / ");
    throw new Failure(`${program} ${args[0] ?? ""} failed: ${said.slice(0, 400) || `exit code ${r.status ?? r.signal}`}`);
  }
  return r.stdout;
}

/** A port that was free on 127.0.0.1 a moment ago (listen on 0, read the port, close). */
function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? res(addr.port) : rej(new Failure("no port from the listen-on-0 probe"))));
    });
  });
}

function readMarker(dir) {
  const file = join(dir, MARKER);
  if (!existsSync(file)) throw new Failure(`${dir} is not a cluster made by pg-cluster.mjs (no ${MARKER})`);
  return JSON.parse(readFileSync(file, "utf8"));
}

/** The last lines of the server log that explain a failed start. */
function logHint(dir) {
  const file = join(dir, LOG);
  if (!existsSync(file)) return "";
  const lines = readFileSync(file, "utf8").split("\n").filter((l) => /FATAL|PANIC|ERROR|could not/.test(l));
  return lines.length ? ` — log: ${lines.at(-1).trim()}` : "";
}

function writeSettings(dir, port) {
  // Read once at server start: `resume` starts on the same port.
  writeFileSync(
    join(dir, "data", "aq-cluster.conf"),
    [
      "# Written by scripts/pg-cluster.mjs: a throw-away test cluster.",
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      `unix_socket_directories = '${dir}'`,
      "fsync = on",
      "synchronous_commit = on",
      "max_connections = 100",
      "logging_collector = off",
      "",
    ].join("\n"),
  );
}

function pgStart(dir, bin) {
  try {
    run(bin, "pg_ctl", ["start", "-D", join(dir, "data"), "-l", join(dir, LOG), "-w", "-t", "60"], dir);
  } catch (e) {
    if (e instanceof Failure) throw new Failure(`${e.message}${logHint(dir)}`);
    throw e;
  }
}

function pgStop(dir, bin, mode) {
  const pid = postmasterPid(dir);
  run(bin, "pg_ctl", ["stop", "-D", join(dir, "data"), "-m", mode, "-w", "-t", "60"], dir);
  waitGone(pid);
}

async function start(parent, fixedPort) {
  const { version, bin } = findPostgres();
  const owner = AS_ROOT ? postgresUser() : undefined;
  const dir = mkdtempSync(join(resolve(parent), "aq-pg-")); // mode 0700
  if (dir.length > MAX_SOCKET_DIR) {
    rmSync(dir, { recursive: true, force: true });
    throw new Failure(`${dir} is too long for a unix socket path (at most ${MAX_SOCKET_DIR} characters): choose a shorter parent`);
  }
  let started = false;
  try {
    writeFileSync(join(dir, LOG), "");
    if (owner) {
      chownSync(dir, owner.uid, owner.gid);
      chownSync(join(dir, LOG), owner.uid, owner.gid);
    }
    // --no-sync: initdb's own files need not reach the disk before the server starts (the
    // server itself runs with fsync on, and a throw-away cluster never outlives the machine).
    run(bin, "initdb", ["-D", join(dir, "data"), "-U", "postgres", "-E", "UTF8", "--locale=C", "-A", "trust", "--no-sync", "--no-instructions"], dir);
    appendFileSync(join(dir, "data", "postgresql.conf"), "\ninclude 'aq-cluster.conf'\n");
    writeFileSync(
      join(dir, "data", "pg_hba.conf"),
      "# Written by scripts/pg-cluster.mjs: a throw-away test cluster, loopback only.\n" +
        "local all all trust\n" +
        "host all all 127.0.0.1/32 trust\n",
    );
    // A port picked by the probe can be taken by someone else before the server binds it:
    // then pick another (not when the caller named the port).
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = fixedPort ?? (await freePort());
      writeSettings(dir, port);
      if (owner) chownSync(join(dir, "data", "aq-cluster.conf"), owner.uid, owner.gid);
      try {
        pgStart(dir, bin);
        break;
      } catch (e) {
        const busy = /already in use|could not bind|could not create any TCP/i.test(readFileSync(join(dir, LOG), "utf8"));
        if (!(e instanceof Failure) || fixedPort !== undefined || !busy || attempt >= 3) throw e;
      }
    }
    started = true;
    writeFileSync(join(dir, MARKER), `${JSON.stringify({ version, bin, port })}\n`);
    return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, dir, port };
  } catch (e) {
    if (started) {
      try {
        pgStop(dir, bin, "immediate");
      } catch {
        /* reported below: the start failure is the news */
      }
    }
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** The postmaster's pid from data/postmaster.pid, when the file is there. */
function postmasterPid(dir) {
  const file = join(dir, "data", "postmaster.pid");
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8").split("\n")[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM"; // there, but not ours to signal
  }
}

/** Waits (up to 10 s) for `pid` to be gone: `pg_ctl stop -w` returns once postmaster.pid is
 * removed, a moment before the process has exited and let go of its port. */
function waitGone(pid) {
  const deadline = Date.now() + 10_000;
  while (pid !== undefined && alive(pid) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
}

function stop(dir) {
  const { bin } = readMarker(dir);
  if (postmasterPid(dir) !== undefined) {
    try {
      pgStop(dir, bin, "fast");
    } catch {
      try {
        pgStop(dir, bin, "immediate");
      } catch {
        const pid = postmasterPid(dir);
        if (pid !== undefined && alive(pid)) process.kill(pid, "SIGKILL");
      }
    }
  }
  const pid = postmasterPid(dir);
  waitGone(pid);
  if (pid !== undefined && alive(pid)) throw new Failure(`the server of ${dir} (pid ${pid}) is still running; directory kept`);
  rmSync(dir, { recursive: true, force: true });
}

function halt(dir, mode) {
  const { bin } = readMarker(dir);
  pgStop(dir, bin, mode);
}

function resume(dir) {
  const { bin } = readMarker(dir);
  pgStart(dir, bin);
}

const USAGE = "usage: pg-cluster.mjs start [<parent>] [--port N] | stop <dir> | halt <dir> [--mode fast|immediate] | resume <dir>";

/** Splits argv into positional arguments and --name value options. */
function parseArgs(argv) {
  const positional = [];
  const options = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith("--")) {
      const [name, inline] = a.slice(2).split("=", 2);
      const value = inline ?? argv[++i];
      if (value === undefined) throw new Failure(`--${name} needs a value; ${USAGE}`);
      options[name] = value;
    } else positional.push(a);
  }
  return { positional, options };
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const { positional, options } = parseArgs(rest);
  const known = { start: ["port"], stop: [], halt: ["mode"], resume: [] };
  if (!command || !(command in known)) throw new Failure(USAGE);
  const unknown = Object.keys(options).filter((o) => !known[command].includes(o));
  if (unknown.length) throw new Failure(`unknown option --${unknown[0]}; ${USAGE}`);
  // start takes an optional <parent>; the others exactly one <dir>.
  if (positional.length > 1 || (command !== "start" && positional.length !== 1)) throw new Failure(USAGE);
  const dir = positional[0] === undefined ? undefined : resolve(positional[0]);
  switch (command) {
    case "start": {
      let port;
      if (options.port !== undefined) {
        port = Number(options.port);
        if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Failure(`--port: not a port: ${options.port}`);
      }
      const cluster = await start(dir ?? tmpdir(), port);
      process.stdout.write(`${JSON.stringify(cluster)}\n`);
      break;
    }
    case "stop":
      stop(dir);
      break;
    case "halt": {
      const mode = options.mode ?? "fast";
      if (mode !== "fast" && mode !== "immediate") throw new Failure(`--mode: fast or immediate, not ${mode}`);
      halt(dir, mode);
      break;
    }
    case "resume":
      resume(dir);
      break;
  }
}

try {
  await main();
} catch (e) {
  const msg = e instanceof Failure ? e.message : e instanceof Error ? e.message : String(e);
  process.stderr.write(`pg-cluster: ${msg.replace(/\s*\n\s*/g, " ")}\n`);
  process.exit(1);
}
