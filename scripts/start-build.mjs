// `npm start`'s prestart: compiles src/ into dist/ only when the build is not current.
//
// A full `tsc -p tsconfig.build.json` takes 20–36 s on a small machine even when nothing
// changed; this check takes a few milliseconds. The build is current when dist/.build-stamp
// is newer than every file under src/ and the files that steer the compiler (tsconfig*.json,
// package.json, package-lock.json). The stamp gets the time the build *started*, so an edit
// made while tsc runs makes the next start build again.
//
// Usage: node scripts/start-build.mjs [--force]
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..");
const STAMP = join(ROOT, "dist", ".build-stamp");
const INPUTS = ["tsconfig.json", "tsconfig.build.json", "package.json", "package-lock.json"];

/** The newest modification time (ms) of `path`, recursing into directories. */
function newest(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs; // a deleted file shows only as its directory's mtime
  for (const name of readdirSync(path)) max = Math.max(max, newest(join(path, name)));
  return max;
}

const stamp = statSync(STAMP, { throwIfNoEntry: false });
const inputs = Math.max(newest(join(ROOT, "src")), ...INPUTS.map((f) => newest(join(ROOT, f))));
const force = process.argv.includes("--force");
if (!force && stamp && existsSync(join(ROOT, "dist", "main.js")) && stamp.mtimeMs >= inputs) process.exit(0);

process.stderr.write(`actionqueue: building dist/ (${stamp ? "src/ changed since the last build" : "no build yet"})\n`);
const started = new Date();
const tsc = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json")], { stdio: "inherit" });
if (tsc.status !== 0) {
  process.stderr.write("actionqueue: the build failed; not starting\n");
  process.exit(tsc.status ?? 1);
}
writeFileSync(STAMP, `built ${started.toISOString()}\n`);
utimesSync(STAMP, started, started);
