#!/usr/bin/env node
/**
 * The `actionqueue` command (package.json `bin`): `serve` runs the server (src/main.ts, with
 * the same flags), `backup` takes an online backup of a data directory, `version` prints the
 * package version. A usage error is one line on stderr and exit code 2.
 */
import { fileURLToPath } from "node:url";
import { BackupError, backupDataDir } from "../storage/lmdb/backup.js";
import { packageVersion } from "./version.js";

const USAGE = [
  "actionqueue — durable run queue over gRPC, gRPC-Web and Connect (LMDB storage)",
  "",
  "Usage: actionqueue <command> [flags]",
  "",
  "Commands:",
  "  serve [flags]                       run the server (flags: actionqueue serve --help)",
  "  backup --data-dir DIR --to DIR      copy a data directory (consistent, compacted) while",
  "                                      its server keeps serving; DIR of --to must be new or empty",
  "  version                             print the version and exit",
  "",
  "  --help, -h                          print this text and exit",
  "  --version, -V                       print the version and exit",
].join("\n");

const BACKUP_USAGE = [
  "Usage: actionqueue backup --data-dir DIR --to DIR",
  "",
  "  --data-dir DIR   the data directory to copy (env ACTIONQUEUE_DATA_DIR, default ./data);",
  "                   its server may be running: the copy is one consistent read transaction",
  "  --to DIR         the backup directory, created (an existing one must be empty); it is a",
  "                   valid --data-dir: restore by starting a server on it",
  "",
  "  With --storage postgres (or env ACTIONQUEUE_STORAGE=postgres) it refuses: back up the",
  "  database with PostgreSQL's own tools (pg_dump).",
].join("\n");

function usageError(message: string): never {
  process.stderr.write(`actionqueue: ${message}\n`);
  process.exit(2);
}

/** `--name value` / `--name=value` pairs of the backup command. */
function backupArgs(argv: readonly string[]): { dataDir: string; to: string } | "help" {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--help" || arg === "-h") return "help";
    const m = /^--(data-dir|to|storage)(?:=(.*))?$/.exec(arg);
    if (!m) usageError(`backup: unexpected argument "${arg}" (see actionqueue backup --help)`);
    const value = m[2] ?? argv[++i];
    if (value === undefined || value === "") usageError(`backup: --${m[1]} needs a value`);
    out.set(m[1] as string, value);
  }
  if ((out.get("storage") ?? process.env.ACTIONQUEUE_STORAGE) === "postgres") {
    usageError("backup: the storage is PostgreSQL: use pg_dump (actionqueue backup copies an LMDB data directory)");
  }
  const dataDir = out.get("data-dir") ?? process.env.ACTIONQUEUE_DATA_DIR ?? "./data";
  const to = out.get("to");
  if (to === undefined) usageError("backup: --to DIR is required (see actionqueue backup --help)");
  return { dataDir, to };
}

async function backup(argv: readonly string[]): Promise<void> {
  const args = backupArgs(argv);
  if (args === "help") {
    process.stdout.write(`${BACKUP_USAGE}\n`);
    return;
  }
  try {
    const result = await backupDataDir(args.dataDir, args.to);
    process.stdout.write(`actionqueue: backup of ${args.dataDir} written to ${result.path}: revision ${result.revision}, ${result.bytes} bytes\n`);
  } catch (e) {
    if (!(e instanceof BackupError)) throw e;
    process.stderr.write(`actionqueue: backup: ${e.message}\n`);
    process.exit(1);
  }
}

async function run(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve": {
      // main.ts is the server's entry point and reads its flags from process.argv: give it
      // the arguments after "serve", as if it had been started directly.
      const mainPath = fileURLToPath(new URL("../main.js", import.meta.url));
      process.argv = [process.argv[0] as string, mainPath, ...rest];
      await import("../main.js");
      return;
    }
    case "backup":
      return backup(rest);
    case "version":
    case "--version":
    case "-V":
      process.stdout.write(`${packageVersion()}\n`);
      return;
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return;
    case undefined:
      usageError("a command is required: serve, backup or version (see actionqueue --help)");
      break;
    default:
      usageError(`unknown command "${command}": expected serve, backup or version (see actionqueue --help)`);
  }
}

run(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`actionqueue: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
