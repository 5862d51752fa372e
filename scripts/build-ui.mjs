#!/usr/bin/env node
// Builds the dashboard (ui/) into dist/ui/, which the server serves at /ui/:
//   ui/src/main.tsx (+ the CSS it imports) -> app.js, app.css (minified, ES2022, with .map files)
//   ui/index.html, ui/favicon.svg          -> copied as they are
// Usage: node scripts/build-ui.mjs [--out <dir>]   (default dist/ui, relative to the repository)
// Prints one line; exits non-zero on any error (esbuild prints the errors).
import { copyFileSync, mkdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { build } from "esbuild";

const ROOT = join(import.meta.dirname, "..");
const args = process.argv.slice(2);
let out = join(ROOT, "dist", "ui");
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--out" && args[i + 1] !== undefined) out = resolve(args[++i]);
  else if (args[i]?.startsWith("--out=")) out = resolve(args[i].slice("--out=".length));
  else {
    process.stderr.write(`build-ui: unknown argument ${args[i]} (usage: node scripts/build-ui.mjs [--out <dir>])\n`);
    process.exit(2);
  }
}

const started = Date.now();
try {
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: { app: join(ROOT, "ui", "src", "main.tsx") },
    outdir: out,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: "linked",
    jsx: "automatic",
    jsxImportSource: "preact",
    legalComments: "none",
    logLevel: "error",
    define: { "process.env.NODE_ENV": '"production"' },
  });
  for (const name of ["index.html", "favicon.svg"]) copyFileSync(join(ROOT, "ui", name), join(out, name));
  // The stamp npm start's freshness check compares ui/ against (scripts/start-build.mjs): the
  // time this build started, so an edit made while it ran makes the next start build again.
  const stamp = join(out, ".build-stamp");
  writeFileSync(stamp, `built ${new Date(started).toISOString()}\n`);
  utimesSync(stamp, new Date(started), new Date(started));
} catch (e) {
  // esbuild has printed its diagnostics already (logLevel "error"); anything else is ours.
  if (!(e instanceof Error && "errors" in e)) process.stderr.write(`build-ui: ${e instanceof Error ? e.message : String(e)}\n`);
  process.stderr.write("build-ui: failed\n");
  process.exit(1);
}
const size = (name) => statSync(join(out, name)).size;
const rel = relative(process.cwd(), out);
const shown = rel === "" ? "." : rel.startsWith("..") ? out : rel;
process.stdout.write(`build-ui: ${shown}/ app.js ${size("app.js")} B, app.css ${size("app.css")} B in ${Date.now() - started} ms\n`);
