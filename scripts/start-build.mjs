// `npm start`'s prestart: compiles src/ into dist/ only when the build is not current.
//
// A full `tsc -p tsconfig.build.json` takes 20–36 s on a small machine even when nothing
// changed; this check takes a few milliseconds. The build is current when dist/.build-stamp
// is newer than every file under src/ and the files that steer the compiler (tsconfig*.json,
// package.json, package-lock.json). The stamp gets the time the build *started*, so an edit
// made while tsc runs makes the next start build again.
//
// The dashboard (ui/, bundled into dist/ui/ by scripts/build-ui.mjs, which `npm ci` runs as
// `prepare`) gets the same check with its own stamp, dist/ui/.build-stamp (written by
// build-ui.mjs), against ui/, the TypeScript client it imports, the build script and
// package-lock.json.
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

const force = process.argv.includes("--force");

/** Whether `stampPath` exists, `output` exists and the stamp is newer than every input. */
function current(stampPath, output, inputs) {
  const st = statSync(stampPath, { throwIfNoEntry: false });
  return !force && st !== undefined && existsSync(output) && st.mtimeMs >= Math.max(...inputs.map(newest));
}

/** Runs `args` with this Node; exits with its status when it fails. */
function run(what, args) {
  const r = spawnSync(process.execPath, args, { stdio: "inherit" });
  if (r.status !== 0) {
    process.stderr.write(`actionqueue: ${what} failed; not starting\n`);
    process.exit(r.status ?? 1);
  }
}

/** Stamps `stampPath` with the time the build started. */
function stampAt(stampPath, started) {
  writeFileSync(stampPath, `built ${started.toISOString()}\n`);
  utimesSync(stampPath, started, started);
}

if (!current(STAMP, join(ROOT, "dist", "main.js"), [join(ROOT, "src"), ...INPUTS.map((f) => join(ROOT, f))])) {
  process.stderr.write(`actionqueue: building dist/ (${existsSync(STAMP) ? "src/ changed since the last build" : "no build yet"})\n`);
  const started = new Date();
  run("the build", [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json")]);
  stampAt(STAMP, started);
}

const UI_STAMP = join(ROOT, "dist", "ui", ".build-stamp");
const UI_INPUTS = ["ui", "clients/typescript/src", "scripts/build-ui.mjs", "package-lock.json"].map((f) => join(ROOT, f));
if (!current(UI_STAMP, join(ROOT, "dist", "ui", "index.html"), UI_INPUTS)) {
  process.stderr.write(`actionqueue: building the dashboard into dist/ui/ (${existsSync(UI_STAMP) ? "ui/ changed since the last build" : "no build yet"})\n`);
  run("the dashboard build", [join(ROOT, "scripts", "build-ui.mjs")]); // it writes UI_STAMP
}
