/**
 * The published package as a user gets it: `npm pack` (which builds src -> dist through
 * prepack), then the tarball installed with `npm install <tarball>` into two scratch
 * projects — plain Node ESM (.mjs) and a strict NodeNext `tsc` project compiled then run
 * with node — each running submit -> lease -> start -> complete against a real server.
 * This is what catches a `main` pointing at .ts, a missing file in `files`, a broken
 * `exports` map or declarations that do not compile for a consumer.
 *
 * Slow by nature (npm install, tsc): minutes of budget; the npm registry must be reachable
 * (`--prefer-offline` uses the local cache first).
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, startServer } from "../../support/server.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..", "..");
const PKG = join(ROOT, "clients", "typescript");
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
const MINUTES = 60_000;
// The version of @types/node the root uses, for the tsc project (a consumer brings its own).
const TYPES_NODE = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { devDependencies: Record<string, string> }).devDependencies["@types/node"] as string;

/** Runs a command; on failure the error names the command with its stdout and stderr. */
async function sh(cmd: string, args: readonly string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  try {
    const r = await run(cmd, [...args], { cwd, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 5 * MINUTES });
    return r.stdout;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} (in ${cwd}) failed: ${x.message}\n--- stdout\n${x.stdout ?? ""}\n--- stderr\n${x.stderr ?? ""}`, { cause: e });
  }
}

const NPM_FLAGS = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"];

/** A scratch project dir with `files`, the tarball (and `extra` packages) installed. */
async function scratch(name: string, files: Record<string, string>, tarball: string, extra: readonly string[] = []): Promise<string> {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  await sh("npm", ["install", tarball, ...extra, ...NPM_FLAGS], dir);
  return dir;
}

// The round trip both projects run; the tsc one adds types. Prints one JSON line.
const ROUND_TRIP_JS = `
import { AttemptOutcome, RunNotFoundError, RunState, createClient } from "@actionqueue/client";

const aq = createClient(process.env.ACTIONQUEUE_URL, { protocol: process.env.PROTOCOL });
const queue = process.env.QUEUE;
const submitted = await aq.tasks.submitTask({ spec: { queue, payload: { data: new TextEncoder().encode("ping"), contentType: "text/plain" } } });
const leased = (await aq.workers.leaseRuns({ queues: [queue], workerId: "scratch", wait: { seconds: 10n } })).runs[0];
if (!leased?.run) throw new Error("nothing leased");
const started = await aq.workers.startAttempt({ runId: leased.run.id, leaseToken: leased.leaseToken });
await aq.workers.completeAttempt({
  runId: leased.run.id, leaseToken: leased.leaseToken, attemptId: started.attempt?.id ?? "",
  outcome: AttemptOutcome.SUCCESS, output: new TextEncoder().encode("pong"),
});
const got = await aq.runs.getRun({ runId: leased.run.id });
let notFound = "";
try {
  await aq.runs.getRun({ runId: "00000000-0000-7000-8000-000000000001" });
} catch (e) {
  if (e instanceof RunNotFoundError) notFound = e.runId;
}
console.log(JSON.stringify({
  taskId: submitted.task?.id, runId: leased.run.id, sameTask: leased.task?.id === submitted.task?.id,
  state: RunState[got.run?.state ?? 0], output: new TextDecoder().decode(got.attempts.at(-1)?.output), notFound,
}));
`;

// The tsc project: the same calls with types spelled out (a generated message type, a typed
// error class, the options type, and a type from the ./web entry point).
const ROUND_TRIP_TS = `
import { AttemptOutcome, type ClientOptions, type LeasedRun, RunNotFoundError, RunState, type Run, createClient } from "@actionqueue/client";
import type { WebClientOptions } from "@actionqueue/client/web";

const options: ClientOptions = { protocol: (process.env["PROTOCOL"] ?? "grpc") as NonNullable<ClientOptions["protocol"]> };
const web: WebClientOptions = { protocol: "grpc-web" };
const aq = createClient(process.env["ACTIONQUEUE_URL"] ?? "", options);
const queue = process.env["QUEUE"] ?? "";
const submitted = await aq.tasks.submitTask({ spec: { queue, payload: { data: new TextEncoder().encode("ping"), contentType: "text/plain" } } });
const leased: LeasedRun | undefined = (await aq.workers.leaseRuns({ queues: [queue], workerId: "scratch", wait: { seconds: 10n } })).runs[0];
if (!leased?.run) throw new Error("nothing leased");
const started = await aq.workers.startAttempt({ runId: leased.run.id, leaseToken: leased.leaseToken });
await aq.workers.completeAttempt({
  runId: leased.run.id, leaseToken: leased.leaseToken, attemptId: started.attempt?.id ?? "",
  outcome: AttemptOutcome.SUCCESS, output: new TextEncoder().encode("pong"),
});
const got = await aq.runs.getRun({ runId: leased.run.id });
const run: Run | undefined = got.run;
let notFound = "";
try {
  await aq.runs.getRun({ runId: "00000000-0000-7000-8000-000000000001" });
} catch (e) {
  if (e instanceof RunNotFoundError) notFound = e.runId;
}
console.log(JSON.stringify({
  taskId: submitted.task?.id, runId: leased.run.id, sameTask: leased.task?.id === submitted.task?.id,
  state: RunState[run?.state ?? RunState.UNSPECIFIED], output: new TextDecoder().decode(got.attempts.at(-1)?.output), notFound, web: web.protocol,
}));
`;

// What a typical strict project has: `tsc --init`'s skipLibCheck, no DOM library.
const TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    lib: ["ES2023"],
    module: "NodeNext",
    moduleResolution: "NodeNext",
    types: ["node"],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
    outDir: "out",
  },
  include: ["main.ts"],
};
// A second, stricter check of the package's own declarations (skipLibCheck off). It needs
// the DOM library because @connectrpc/connect's declarations use `HeadersInit`, which
// @types/node does not declare (a requirement of Connect itself, not of this package).
const TSCONFIG_LIBCHECK = {
  extends: "./tsconfig.json",
  compilerOptions: { lib: ["ES2023", "DOM"], skipLibCheck: false, noEmit: true },
};

let tmp: string;
let server: ServerProcess;
let tarball: string;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "aq-pack-"));
  server = await startServer();
  const packed = JSON.parse(await sh("npm", ["pack", "--json", "--pack-destination", tmp, "--loglevel=error"], PKG)) as { filename: string; files: { path: string }[] }[];
  const info = packed[0];
  if (!info) throw new Error("npm pack printed nothing");
  tarball = join(tmp, info.filename);
  packedFiles = info.files.map((f) => f.path);
}, 10 * MINUTES);
afterAll(async () => {
  await server?.cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});
let packedFiles: string[] = [];

/** The JSON line a round trip printed. */
function result(stdout: string): Record<string, unknown> {
  const line = stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line) as Record<string, unknown>;
}

describe("the npm package", () => {
  it("packs compiled JavaScript, declarations and the README, and no TypeScript sources", () => {
    expect(packedFiles).toEqual(expect.arrayContaining(["package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/web.js", "dist/web.d.ts", "dist/errors.js", "dist/index.js.map"]));
    expect(packedFiles.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
  });

  it("keeps Node-only modules out of the ./web entry's import graph", () => {
    const seen = new Set<string>();
    const external = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(join(PKG, "dist", file), "utf8");
      for (const m of text.matchAll(/^(?:import|export)\b[^;]*?from\s+"([^"]+)"/gm)) {
        const spec = m[1] as string;
        if (spec.startsWith(".")) visit(join(dirname(file), spec));
        else external.add(spec);
      }
    };
    visit("web.js");
    expect(seen.has("clients.js") && seen.has("errors.js") && seen.has("watch.js")).toBe(true);
    expect([...external].filter((x) => x.startsWith("node:") || x.includes("connect-node"))).toEqual([]);
    expect(external.has("@connectrpc/connect-web")).toBe(true);
  });

  it(
    "runs a round trip from a plain Node ESM project that installed the tarball",
    async () => {
      const dir = await scratch("plain", { "package.json": JSON.stringify({ name: "scratch-plain", private: true, type: "module" }), "main.mjs": ROUND_TRIP_JS }, tarball);
      for (const protocol of ["grpc", "connect"]) {
        const out = result(await sh(process.execPath, ["main.mjs"], dir, { ACTIONQUEUE_URL: server.url, PROTOCOL: protocol, QUEUE: `pack-plain-${protocol}` }));
        expect(out).toMatchObject({ sameTask: true, state: "COMPLETED", output: "pong", notFound: "00000000-0000-7000-8000-000000000001" });
      }
    },
    10 * MINUTES,
  );

  it(
    "compiles a strict NodeNext tsc project against the tarball and runs its round trip",
    async () => {
      const dir = await scratch(
        "tsc",
        { "package.json": JSON.stringify({ name: "scratch-tsc", private: true, type: "module" }), "tsconfig.json": JSON.stringify(TSCONFIG), "tsconfig.libcheck.json": JSON.stringify(TSCONFIG_LIBCHECK), "main.ts": ROUND_TRIP_TS },
        tarball,
        [`@types/node@${TYPES_NODE}`],
      );
      await sh(process.execPath, [TSC, "-p", "."], dir);
      await sh(process.execPath, [TSC, "-p", "tsconfig.libcheck.json"], dir);
      const out = result(await sh(process.execPath, ["out/main.js"], dir, { ACTIONQUEUE_URL: server.url, PROTOCOL: "grpc-web", QUEUE: "pack-tsc" }));
      expect(out).toMatchObject({ sameTask: true, state: "COMPLETED", output: "pong", notFound: "00000000-0000-7000-8000-000000000001", web: "grpc-web" });
    },
    10 * MINUTES,
  );
});
