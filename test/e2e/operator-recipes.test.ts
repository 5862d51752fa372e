/**
 * docs/operations.md, "Operator tasks with buf curl and grpcurl": every `buf curl` block of
 * the section runs as written against a live server and has its effect, and every block has
 * a grpcurl twin calling the same methods with the same JSON.
 *
 * How the doc is read: a recipe is an HTML comment `<!-- recipe: <id> -->` followed by two
 * bash blocks, the buf curl one then its grpcurl twin. Each recipe id must have an entry in
 * RECIPES below (the documented mapping: the fixtures it needs and the shell variables the
 * test sets to them — the doc's own example values are not used — and how its effect is
 * checked), and every fenced line of the section that calls buf curl must belong to a recipe,
 * so a recipe added to the doc and not run here fails this file.
 *
 * grpcurl is not packaged in Debian, so the twin blocks run through a shim named `grpcurl`
 * that accepts only the grpcurl flags the doc uses, in grpcurl's order (flags, address,
 * method or `list [service]`), calls buf curl, and maps buf curl's exit code (gRPC code << 3)
 * to grpcurl's (64 + code). That checks the twins' shell, variables and jq over the same
 * JSON (both tools print canonical protobuf JSON); it does not check grpcurl itself.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AttemptOutcome, RunState } from "../../src/gen/actionqueue/v1/run_pb.js";
import { TaskStatus } from "../../src/gen/actionqueue/v1/task_pb.js";
import { StopReason } from "../../src/gen/actionqueue/v1/worker_service_pb.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { connectGrpc, type ServerProcess, startServer } from "../support/server.js";

const ROOT = join(import.meta.dirname, "..", "..");
const TITLE = "## Operator tasks with buf curl and grpcurl";

// ---------------------------------------------------------------------------------------
// Reading the section

interface Block {
  readonly info: string;
  readonly body: string;
}
interface Section {
  readonly blocks: readonly Block[];
  readonly recipes: readonly { readonly id: string; readonly buf: Block; readonly grpcurl: Block }[];
  /** Variables assigned by the section's setup block (its first block, before any recipe). */
  readonly setupVars: readonly string[];
}

function readSection(): Section {
  const doc = readFileSync(join(ROOT, "docs", "operations.md"), "utf8");
  const start = doc.indexOf(`${TITLE}\n`);
  if (start < 0) throw new Error(`docs/operations.md has no "${TITLE}" section`);
  const end = doc.indexOf("\n## ", start + TITLE.length);
  const lines = doc.slice(start, end < 0 ? undefined : end).split("\n");
  const blocks: Block[] = [];
  const marks: { id: string; at: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const mark = /^<!-- recipe: ([a-z0-9-]+) -->$/.exec(lines[i] ?? "");
    if (mark?.[1]) marks.push({ id: mark[1], at: blocks.length });
    const fence = /^```(\S*)/.exec(lines[i] ?? "");
    if (!fence) continue;
    const close = lines.indexOf("```", i + 1);
    if (close < 0) throw new Error(`unclosed code block after line ${i} of the section`);
    blocks.push({ info: fence[1] ?? "", body: lines.slice(i + 1, close).join("\n") });
    i = close;
  }
  const recipes = marks.map(({ id, at }) => {
    const [buf, grpcurl] = [blocks[at], blocks[at + 1]];
    if (!buf || !grpcurl) throw new Error(`recipe ${id}: two code blocks must follow its marker`);
    return { id, buf, grpcurl };
  });
  return { blocks, recipes, setupVars: [...(blocks[0]?.body ?? "").matchAll(/^([A-Z_]+)=/gm)].map((m) => m[1] ?? "") };
}

/** A call as the twin check compares them: the method ("list [service]" for reflection) and what shapes the request. */
interface Call {
  method: string;
  data?: string;
  emitDefaults?: true;
  timeoutSeconds?: string;
}

/** Shell words from `s` up to the end of its simple command (quotes kept as written). */
function shellWords(s: string): string[] {
  const out: string[] = [];
  const word = /[ \t]*((?:'[^']*'|"(?:[^"\\]|\\.)*"|[^\s'"|);&])+)/y;
  for (let m = word.exec(s); m; m = word.exec(s)) out.push(m[1] ?? "");
  return out;
}

/** The calls a block makes with `tool`, in order (continuation lines joined, comments skipped). */
function calls(block: Block, tool: "buf" | "grpcurl"): Call[] {
  const needle = tool === "buf" ? "npx buf curl " : "grpcurl ";
  const out: Call[] = [];
  for (const line of block.body.replace(/\\\n\s*/g, " ").split("\n")) {
    if (line.trimStart().startsWith("#")) continue;
    for (let at = line.indexOf(needle); at >= 0; at = line.indexOf(needle, at + 1)) {
      const words = shellWords(line.slice(at + needle.length));
      out.push(tool === "buf" ? bufCall(words, line) : grpcurlCall(words));
    }
  }
  return out;
}

function bufCall(words: string[], line: string): Call {
  const call: Call = { method: "" };
  let grpc = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? "";
    if (w === "--protocol") grpc = words[++i] === "grpc";
    else if (w === "-d") call.data = words[++i] ?? "";
    else if (w === "--emit-defaults") call.emitDefaults = true;
    else if (w === "--timeout") call.timeoutSeconds = /^(\d+)s$/.exec(words[++i] ?? "")?.[1] ?? "?";
    else if (w === "--list-services") call.method = "list";
    else if (w === "--list-methods") call.method = `list ${/grep '\^([\w.]+)\/'/.exec(line)?.[1] ?? "?"}`;
    else if (w.startsWith("http://$ADDR/")) call.method = w.slice("http://$ADDR/".length);
    else if (w !== "http://$ADDR" || !call.method.startsWith("list")) throw new Error(`buf curl word the twin check does not know: ${w} (in: ${line})`);
  }
  if (!grpc || call.method === "") throw new Error(`not "npx buf curl --protocol grpc [flags] http://$ADDR/<method>": ${line}`);
  return call;
}

function grpcurlCall(words: string[]): Call {
  const call: Call = { method: "" };
  let i = 0;
  let plaintext = false;
  for (; words[i]?.startsWith("-"); i++) {
    const w = words[i];
    if (w === "-plaintext") plaintext = true;
    else if (w === "-d") call.data = words[++i] ?? "";
    else if (w === "-emit-defaults") call.emitDefaults = true;
    else if (w === "-max-time") call.timeoutSeconds = words[++i] ?? "";
    else throw new Error(`grpcurl flag the twin check does not know: ${w}`);
  }
  // grpcurl stops reading flags at the address: [flags] address (list [service] | method).
  const [addr, verb, arg, ...rest] = words.slice(i);
  if (!plaintext || addr !== "$ADDR" || !verb || rest.length > 0 || (verb !== "list" && arg)) throw new Error(`not "grpcurl -plaintext [flags] $ADDR <method>": ${words.join(" ")}`);
  call.method = verb === "list" && arg ? `list ${arg}` : verb;
  return call;
}

// ---------------------------------------------------------------------------------------
// Running a block

const SHIM = `#!/usr/bin/env bash
# grpcurl shim for test/e2e/operator-recipes.test.ts: the grpcurl flags docs/operations.md
# uses, parsed like grpcurl (flags before the address), run with buf curl.
set -uo pipefail
opts=(--protocol grpc); plain=0
while [ $# -gt 0 ]; do
  case "$1" in
    -plaintext) plain=1; shift;;
    -d) opts+=(-d "$2"); shift 2;;
    -emit-defaults) opts+=(--emit-defaults); shift;;
    -max-time) opts+=(--timeout "$2s"); shift 2;;
    -*) echo "grpcurl shim: unknown flag $1" >&2; exit 2;;
    *) break;;
  esac
done
[ "$plain" = 1 ] && [ $# -ge 2 ] || { echo "grpcurl shim: usage" >&2; exit 2; }
addr=$1; shift
if [ "$1" = list ] && [ $# -eq 1 ]; then exec buf curl --protocol grpc --list-services "http://$addr"; fi
if [ "$1" = list ] && [ $# -eq 2 ]; then
  buf curl --protocol grpc --list-methods "http://$addr" | grep "^$2/" | tr / .   # grpcurl prints Service.Method
  exit "\${PIPESTATUS[0]}"
fi
[ $# -eq 1 ] || { echo "grpcurl shim: too many arguments" >&2; exit 2; }
buf curl "\${opts[@]}" "http://$addr/$1"; rc=$?
[ "$rc" -ge 8 ] && rc=$((64 + rc / 8))   # buf curl exits code << 3, grpcurl 64 + code
exit "$rc"
`;

type Tool = "buf curl" | "grpcurl";
type Ran = { readonly code: number | null; readonly stdout: string; readonly stderr: string };

let server: ServerProcess;
let c: ReturnType<typeof connectGrpc>;
let shimDir: string;

/** Runs `body` with bash under `set -euo pipefail`, ADDR pointing at the test server. */
function runBlock(body: string, vars: Record<string, string>): { child: ChildProcess; done: Promise<Ran> } {
  const assigns = Object.entries({ ADDR: `127.0.0.1:${server.port}`, ...vars }).map(([k, v]) => `${k}='${v}'`);
  const child = spawn("bash", ["-c", ["set -euo pipefail", ...assigns, body].join("\n")], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PATH: `${shimDir}:${join(ROOT, "node_modules", ".bin")}:${process.env.PATH ?? ""}` },
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += String(d)));
  child.stderr?.on("data", (d) => (stderr += String(d)));
  const kill = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const done = new Promise<Ran>((resolve) =>
    child.on("close", (code) => {
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    }),
  );
  return { child, done };
}

// ---------------------------------------------------------------------------------------
// Fixtures and effects, per recipe

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const leaseDuration = { seconds: 60n };

async function submit(queue: string, spec: Record<string, unknown> = {}): Promise<{ task: string; run: string }> {
  const r = await c.tasks.submitTask({ spec: { queue, ...spec } });
  return { task: r.task?.id ?? "", run: r.runs[0]?.id ?? "" };
}

async function submitMany(queue: string, n: number): Promise<string[]> {
  const r = await c.tasks.batchSubmitTasks({ tasks: Array.from({ length: n }, () => ({ spec: { queue } })) });
  return r.results.map((x) => x.runs[0]?.id ?? "");
}

async function leaseStart(queue: string, workerId = "ops-worker", maxRuns = 1) {
  return (await c.workers.leaseRuns({ queues: [queue], workerId, maxRuns, leaseDuration, startAttempt: true })).runs;
}

async function leasedIds(queue: string, maxRuns = 1): Promise<string[]> {
  return (await leaseStart(queue, "ops-check", maxRuns)).map((l) => l.run?.id ?? "");
}

async function runState(runId: string): Promise<RunState | undefined> {
  return (await c.runs.getRun({ runId })).run?.state;
}

/** Polls `get` until `ok` holds; the deadline is generous and never the thing under test. */
async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (const deadline = Date.now() + 30_000; ; await sleep(50)) {
    const v = await get();
    if (ok(v) || Date.now() > deadline) return v;
  }
}

/** The ErrorInfo reason of a rejected call. */
async function reasonOf(p: Promise<unknown>): Promise<{ code: Code | undefined; reason: string | undefined }> {
  const e = await p.then(() => null, (err: unknown) => ConnectError.from(err));
  return { code: e?.code, reason: e?.findDetails(ErrorInfoSchema)[0]?.reason };
}

async function queueInfo(queue: string) {
  return (await c.admin.getStats({ queues: [queue] })).queues[0]?.queue;
}

interface Fixture {
  /** Shell variables the block takes from outside (see the section's setup block). */
  readonly vars: Record<string, string>;
  /** Checks the block's output and its effect on the server. */
  readonly check: (out: string) => Promise<void>;
  /** Runs while the block runs (a live watch needs changes to see), until `running()` is false. */
  readonly during?: (running: () => boolean) => Promise<void>;
}
const fx = (vars: Record<string, string>, check: Fixture["check"], during?: Fixture["during"]): Fixture => (during ? { vars, check, during } : { vars, check });

/** The mapping: recipe id -> its fixtures (in queue `q`), the variables set to them, and the effect to check. */
const RECIPES: Record<string, (q: string) => Promise<Fixture>> = {
  "list-services": async () =>
    fx({}, async (out) => {
      for (const s of ["AdminService", "RunService", "TaskService", "WorkerService"]) expect(out).toContain(`actionqueue.v1.${s}\n`);
      expect(out).toContain("grpc.health.v1.Health\n");
      expect(out).toContain("grpc.reflection.v1.ServerReflection\n");
      expect(out).toMatch(/^actionqueue\.v1\.RunService[./]CancelRun$/m);
      expect(out).not.toMatch(/^actionqueue\.v1\.AdminService[./]/m);
    }),
  health: async () => fx({}, async (out) => expect(out.match(/"status": "SERVING"/g)).toHaveLength(2)),
  "queue-stats": async (q) => {
    await submitMany(q, 3);
    await leaseStart(q);
    return fx({ QUEUE: q }, async (out) => {
      expect(out).toContain(`{"queue":"${q}","paused":false,"ready":"2","running":"1","retryWait":"0","failed":"0"}`);
      expect(out).toMatch(/"enginePaused": null/);
      expect(out).toMatch(/"oldestRevision": "\d+"/);
    });
  },
  "inspect-run": async (q) => {
    const { run } = await submit(q, { constraints: { maxAttempts: 3, backoff: { kind: { case: "fixed", value: { interval: { seconds: 0n } } } } } });
    const [first] = await leaseStart(q, "worker-1");
    await c.workers.completeAttempt({ runId: run, leaseToken: first?.leaseToken ?? "", attemptId: first?.attempt?.id ?? "", outcome: AttemptOutcome.RETRYABLE_FAILURE, error: "smtp: connection refused" });
    expect(await until(() => runState(run), (s) => s === RunState.READY)).toBe(RunState.READY);
    await leaseStart(q, "worker-2");
    return fx({ RUN: run }, async (out) => {
      expect(out).toContain('"state": "RUN_STATE_RUNNING"');
      expect(out).toContain('"workerId": "worker-2"');
      expect(out).toMatch(/^1\tworker-1\tATTEMPT_OUTCOME_RETRYABLE_FAILURE\t\S+\t\S+\tsmtp: connection refused$/m);
      expect(out).toMatch(/^2\tworker-2\t\(open\)\t\S+\t-\t$/m);
    });
  },
  "find-runs": async (q) => {
    await submit(q);
    const [running] = await leasedIds(q);
    const ready = await submitMany(q, 5);
    // 120 FAILED runs: more than one page of the "every page" loop (pageSize 100).
    const failed = await submitMany(`${q}.failed`, 120);
    const leased = await leaseStart(`${q}.failed`, "ops-worker", 120);
    const completions = leased.map((l) => ({ runId: l.run?.id ?? "", leaseToken: l.leaseToken, attemptId: l.attempt?.id ?? "", outcome: AttemptOutcome.TERMINAL_FAILURE }));
    await c.workers.batchCompleteAttempts({ completions });
    return fx({ QUEUE: q }, async (out) => {
      const readyLines = out.split("\n").filter((l) => l.includes("\tRUN_STATE_READY\t"));
      expect(readyLines.map((l) => l.split("\t")[0])).toEqual(ready.slice(0, 4)); // two pages of 2
      expect(out).not.toContain(running ?? "none");
      for (const id of failed) expect(out).toContain(`${id}\t${q}.failed\tRUN_STATE_FAILED\t1\n`);
    });
  },
  "cancel-run": async (q) => {
    const { run } = await submit(q);
    const [lease] = await leaseStart(q);
    return fx({ RUN: run }, async (out) => {
      expect(out).toContain(`{"id":"${run}","state":"RUN_STATE_CANCELED","stateReason":"CANCELED_BY_USER"}`);
      const got = await c.runs.getRun({ runId: run });
      expect(got.run?.state).toBe(RunState.CANCELED);
      expect(got.attempts.map((a) => a.outcome)).toEqual([AttemptOutcome.CANCELED]);
      const hb = await c.workers.heartbeat({ runId: run, leaseToken: lease?.leaseToken ?? "" });
      expect([hb.stop, hb.stopReason]).toEqual([true, StopReason.CANCELED]);
    });
  },
  "cancel-task": async (q) => {
    const parent = await submit(q);
    const child = await submit(q, { parentTaskId: parent.task });
    return fx({ TASK: parent.task }, async (out) => {
      expect(out).toContain('{"status":"TASK_STATUS_CANCELED","runsCanceled":2,"tasksCanceled":2}');
      expect((await c.tasks.getTask({ taskId: child.task })).task?.status).toBe(TaskStatus.CANCELED);
      expect([await runState(parent.run), await runState(child.run)]).toEqual([RunState.CANCELED, RunState.CANCELED]);
    });
  },
  "suspend-run": async (q) => {
    const { run } = await submit(q);
    const [lease] = await leaseStart(q);
    return fx({ RUN: run }, async (out) => {
      expect(out).toContain(`{"id":"${run}","state":"RUN_STATE_SUSPENDED","stateReason":"paused by ops: vendor outage"}`);
      const got = await c.runs.getRun({ runId: run });
      expect(got.run?.state).toBe(RunState.SUSPENDED);
      expect(got.attempts.map((a) => [a.outcome, a.counted])).toEqual([[AttemptOutcome.SUSPENDED, false]]);
      const hb = await c.workers.heartbeat({ runId: run, leaseToken: lease?.leaseToken ?? "" });
      expect([hb.stop, hb.stopReason]).toEqual([true, StopReason.SUSPENDED]);
    });
  },
  "resume-run": async (q) => {
    const { run } = await submit(q);
    await leaseStart(q);
    await c.runs.suspendRun({ runId: run });
    return fx({ RUN: run }, async (out) => {
      expect(out).toContain(`{"id":"${run}","state":"RUN_STATE_READY","effectivePriority":null}`);
      expect(await leasedIds(q)).toEqual([run]);
    });
  },
  "pause-queue": async (q) => {
    const { run } = await submit(q);
    return fx({ QUEUE: q }, async (out) => {
      expect(out).toContain('"paused": true');
      expect((await queueInfo(q))?.paused).toBe(true);
      expect(await reasonOf(leasedIds(q))).toEqual({ code: Code.FailedPrecondition, reason: "QUEUE_PAUSED" });
      expect(await runState(run)).toBe(RunState.READY);
    });
  },
  "resume-queue": async (q) => {
    const { run } = await submit(q);
    await c.admin.pauseQueue({ queue: q });
    return fx({ QUEUE: q }, async (out) => {
      expect(out).not.toContain('"paused"');
      expect((await queueInfo(q))?.paused).toBe(false);
      expect(await leasedIds(q)).toEqual([run]);
    });
  },
  "pause-engine": async (q) => {
    await submit(q);
    return fx({}, async (out) => {
      try {
        expect(out.trim().split("\n").at(-1)).toBe("true");
        expect((await c.admin.getStats({})).enginePaused).toBe(true);
        expect(await reasonOf(leasedIds(q))).toEqual({ code: Code.FailedPrecondition, reason: "ENGINE_PAUSED" });
      } finally {
        await c.admin.resumeEngine({}); // the next recipes need a running engine whatever happened here
      }
    });
  },
  "resume-engine": async (q) => {
    const { run } = await submit(q);
    await c.admin.pauseEngine({});
    return fx({}, async (out) => {
      expect(out.trim().split("\n").at(-1)).toBe("false");
      expect((await c.admin.getStats({})).enginePaused).toBe(false);
      expect(await leasedIds(q)).toEqual([run]);
    });
  },
  "set-priority": async (q) => {
    const last = (await submitMany(q, 3))[2] ?? "";
    return fx({ RUN: last }, async (out) => {
      expect(out).toContain(`{"id":"${last}","state":"RUN_STATE_READY","effectivePriority":1000}`);
      expect(await leasedIds(q)).toEqual([last]); // submitted last, leased first
    });
  },
  "set-rate-limit": async (q) => {
    await submitMany(q, 15);
    return fx({ QUEUE: q }, async (out) => {
      expect(out).toContain('"runsPerSecond": 5');
      expect(await queueInfo(q)).toMatchObject({ runsPerSecond: 5, burst: 10 });
      // One lease takes at most the bucket's capacity (burst 10), however long it took to get here.
      const got = await leasedIds(q, 15);
      expect(got.length).toBeGreaterThanOrEqual(1);
      expect(got.length).toBeLessThanOrEqual(10);
    });
  },
  "clear-rate-limit": async (q) => {
    await submitMany(q, 3);
    await c.admin.setQueueRateLimit({ queue: q, runsPerSecond: 0.001, burst: 1 });
    expect(await leasedIds(q, 3)).toHaveLength(1); // the one token; the next comes in 1,000 s
    return fx({ QUEUE: q }, async (out) => {
      expect(out).not.toContain("runsPerSecond");
      expect(await queueInfo(q)).toMatchObject({ runsPerSecond: 0, burst: 0 });
      expect(await leasedIds(q, 3)).toHaveLength(2);
    });
  },
  "key-holders": async (q) => {
    const key = `key.${q}`;
    const { run } = await submit(q, { constraints: { concurrency: { key, slots: 1 } } });
    await leaseStart(q);
    return fx({ KEY: key }, async (out) => {
      expect(out).toMatch(new RegExp(`^${run}\\tKEY_HOLD_HELD\\tRUN_STATE_RUNNING\\t\\S+\\t1$`, "m"));
      expect(out).toContain(`\n${key}\t1\n`);
    });
  },
  "watch-live": async (q) => {
    const submitted = new Set<string>();
    const check = async (out: string) => {
      const events = out.trim().split("\n").map((l) => JSON.parse(l) as { type: string; runId: string; to: string });
      expect(events.length).toBeGreaterThan(0);
      for (const e of events) expect(submitted.has(e.runId), `event for a run of another queue: ${e.runId}`).toBe(true);
      expect(events.some((e) => e.type === "RUN_EVENT_TYPE_CREATED" && e.to === "RUN_STATE_READY")).toBe(true);
    };
    // A live watch sees only what happens after it opened: keep changing the queue until it ends.
    return fx({ QUEUE: q }, check, async (running) => {
      while (running()) {
        submitted.add((await submit(q)).run);
        await sleep(200);
      }
    });
  },
  "watch-history": async (q) => {
    const { run } = await submit(q);
    const other = await submit(q);
    const [lease] = await leaseStart(q);
    await c.workers.completeAttempt({ runId: run, leaseToken: lease?.leaseToken ?? "", attemptId: lease?.attempt?.id ?? "", outcome: AttemptOutcome.SUCCESS });
    return fx({ RUN: run }, async (out) => {
      const states = [...out.matchAll(/"toState": "(\w+)"/g)].map((m) => m[1]);
      expect(states).toEqual(["RUN_STATE_READY", "RUN_STATE_LEASED", "RUN_STATE_RUNNING", "RUN_STATE_COMPLETED"]);
      expect(out).not.toContain(other.run);
    });
  },
};

// ---------------------------------------------------------------------------------------

const section = readSection();
const ran: Record<Tool, Set<string>> = { "buf curl": new Set(), grpcurl: new Set() };

beforeAll(async () => {
  server = await startServer();
  c = connectGrpc(server.port);
  shimDir = mkdtempSync(join(tmpdir(), "aq-grpcurl-shim-"));
  writeFileSync(join(shimDir, "grpcurl"), SHIM);
  chmodSync(join(shimDir, "grpcurl"), 0o755);
});
afterAll(async () => {
  await server.cleanup();
  rmSync(shimDir, { recursive: true, force: true });
});

describe("docs/operations.md operator recipes", () => {
  it("has a recipe for every documented task, each known to this test, and no buf curl line outside them", () => {
    const ids = section.recipes.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(Object.keys(RECIPES).sort());
    const inRecipes = new Set(section.recipes.map((r) => r.buf));
    const stray = section.blocks.filter((b) => !inRecipes.has(b) && /buf curl/.test(b.body));
    expect(stray, "fenced buf curl lines that no recipe runs").toEqual([]);
    // The variables the blocks may take from outside are the ones the setup block documents.
    expect([...section.setupVars].sort()).toEqual(["ADDR", "KEY", "QUEUE", "RUN", "TASK"]);
  });

  it("pairs every buf curl block with a grpcurl twin calling the same methods with the same JSON", () => {
    for (const r of section.recipes) {
      expect([r.buf.info, r.grpcurl.info], r.id).toEqual(["bash", "bash"]);
      expect(r.buf.body, r.id).not.toMatch(/grpcurl|50051/);
      expect(r.grpcurl.body, r.id).not.toMatch(/buf curl|50051/);
      const buf = calls(r.buf, "buf");
      expect(buf.length, `${r.id}: no buf curl call`).toBeGreaterThan(0);
      expect(calls(r.grpcurl, "grpcurl"), `${r.id}: grpcurl twin differs`).toEqual(buf);
    }
  });

  describe.each<Tool>(["buf curl", "grpcurl"])("run with %s against a live server", (tool) => {
    for (const recipe of section.recipes) {
      it(`recipe "${recipe.id}" exits 0 and has its effect`, async () => {
        const prepare = RECIPES[recipe.id];
        if (!prepare) throw new Error(`recipe ${recipe.id} is in the doc but has no fixture in this test`);
        const fixture = await prepare(`ops.${recipe.id}.${tool === "grpcurl" ? "g" : "b"}`);
        expect(section.setupVars, "a variable the setup block does not document").toEqual(expect.arrayContaining(Object.keys(fixture.vars)));
        const { child, done } = runBlock((tool === "grpcurl" ? recipe.grpcurl : recipe.buf).body, fixture.vars);
        const side = fixture.during?.(() => child.exitCode === null && child.signalCode === null);
        const out = await done;
        await side;
        expect(out.code, `${recipe.id} (${tool}) failed:\n${out.stderr}\n${out.stdout}`).toBe(0);
        await fixture.check(out.stdout);
        ran[tool].add(recipe.id);
      });
    }
  });

  it("ran every recipe of the section with both tools", () => {
    const ids = section.recipes.map((r) => r.id).sort();
    expect([...ran["buf curl"]].sort()).toEqual(ids);
    expect([...ran.grpcurl].sort()).toEqual(ids);
  });
});
