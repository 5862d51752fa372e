/**
 * `--storage postgres`, one server (docs/scaling.md "One server on PostgreSQL"), as real
 * server processes on a throw-away cluster: submit / lease / complete over Connect JSON, a
 * SIGKILL and a restart on the same database keep every acknowledged call; a second server on
 * the same database serves the same runs; a missing or bad --postgres-url is one line and
 * exit 2; `actionqueue backup` refuses; the URL's password never reaches the logs. Skipped,
 * saying why, only when PostgreSQL is not installed.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AttemptOutcome, RunState } from "../../clients/typescript/src/index.js";
import { HAVE_POSTGRES, type PostgresCluster, startPostgres, warnWithoutPostgres } from "../support/postgres.js";
import { type ServerProcess, connectJson, startServer } from "../support/server.js";

warnWithoutPostgres("postgres-server.test.ts");

const ROOT = join(import.meta.dirname, "..", "..");
/** Trust authentication ignores it; it must appear in no log line or error. */
const PASSWORD = "pw-never-logged-7f3a";

let cluster: PostgresCluster | undefined;
const servers: ServerProcess[] = [];

/** The database's URL with a user and PASSWORD in it. */
async function freshUrl(name: string): Promise<string> {
  const u = new URL(await (cluster as PostgresCluster).createDatabase(name));
  u.username = "postgres";
  u.password = PASSWORD;
  return u.toString();
}

async function serve(url: string): Promise<ServerProcess> {
  const s = await startServer({ args: ["--storage", "postgres", "--postgres-url", url] });
  servers.push(s);
  return s;
}

function run(script: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, script), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("exit", (code) => {
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
  });
}

const payload = (s: string) => ({ data: new TextEncoder().encode(s), contentType: "text/plain" });

if (HAVE_POSTGRES) {
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 180_000);
  afterAll(async () => {
    for (const s of servers) await s.cleanup().catch(() => undefined);
    await cluster?.stop();
  });
}

describe.skipIf(!HAVE_POSTGRES)("one server on PostgreSQL", () => {
  it("serves submit / lease / complete; after SIGKILL and a restart every acknowledged call is there", { timeout: 120_000 }, async () => {
    const url = await freshUrl("e2e_restart");
    const first = await serve(url);
    const serving = JSON.parse(first.logs.find((l) => l.includes('"serving"')) as string) as Record<string, unknown>;
    expect(serving).toMatchObject({ storage: "postgres", postgres_host: "127.0.0.1", postgres_port: cluster?.port, postgres_database: "e2e_restart" });
    expect(serving.data_dir).toBeUndefined();
    const c = connectJson(first.port);
    const submitted = await Promise.all(Array.from({ length: 20 }, (_, i) => c.tasks.submitTask({ spec: { queue: "pg", payload: payload(`t${i}`) } })));
    const leased = await c.workers.leaseRuns({ queues: ["pg"], workerId: "w", maxRuns: 1, startAttempt: true });
    const grant = leased.runs[0];
    const runId = grant?.run?.id as string;
    const lease = { runId, leaseToken: grant?.leaseToken ?? "" };
    const done = await c.workers.completeAttempt({ ...lease, attemptId: grant?.attempt?.id ?? "", outcome: AttemptOutcome.SUCCESS, output: new TextEncoder().encode("ok") });
    expect(done.run?.state).toBe(RunState.COMPLETED);
    expect(await first.stop("SIGKILL")).toBeNull();

    const second = await serve(url);
    const c2 = connectJson(second.port);
    for (const s of submitted) {
      const got = await c2.tasks.getTask({ taskId: s.task?.id as string });
      expect(got.task?.spec?.queue).toBe("pg");
    }
    const after = await c2.runs.getRun({ runId });
    expect(after.run?.state).toBe(RunState.COMPLETED);
    // The other 19 runs are still there to hand out, and the completed one is not handed out again.
    const rest = await c2.workers.leaseRuns({ queues: ["pg"], workerId: "w2", maxRuns: 100 });
    expect(rest.runs).toHaveLength(19);
    expect(rest.runs.map((r) => r.run?.id)).not.toContain(runId);
    for (const s of [first, second]) expect(s.logs.join("\n") + s.stderr()).not.toContain(PASSWORD);
  });

  it("a second server on the same database serves the same runs: submit through one, lease and complete through the other", { timeout: 60_000 }, async () => {
    const url = await freshUrl("e2e_second");
    const first = await serve(url);
    const second = await serve(url);
    const c1 = connectJson(first.port);
    const c2 = connectJson(second.port);
    const sub = await c1.tasks.submitTask({ spec: { queue: "pg2", payload: payload("two") } });
    const runId = sub.runs[0]?.id ?? "";
    // Read your write through the other server, at once.
    expect((await c2.runs.getRun({ runId })).run?.state).toBe(RunState.READY);
    const leased = await c2.workers.leaseRuns({ queues: ["pg2"], workerId: "w2", maxRuns: 10, startAttempt: true });
    expect(leased.runs.map((r) => r.run?.id)).toEqual([runId]);
    const l = leased.runs[0];
    await c2.workers.completeAttempt({ runId, leaseToken: l?.leaseToken ?? "", attemptId: l?.attempt?.id ?? "", outcome: AttemptOutcome.SUCCESS });
    expect((await c1.runs.getRun({ runId })).run?.state).toBe(RunState.COMPLETED);
    expect((await c1.workers.leaseRuns({ queues: ["pg2"], workerId: "w1", maxRuns: 10 })).runs).toHaveLength(0);
    for (const s of [first, second]) expect(s.logs.join("\n") + s.stderr()).not.toContain(PASSWORD);
  });

  it("refuses a missing or bad --postgres-url or --postgres-commits with one line and exit 2, never showing the password", { timeout: 60_000 }, async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [["--storage", "postgres"], {}, /^actionqueue: storage: postgres needs --postgres-url/],
      [["--storage", "postgres", "--postgres-url", `mysql://u:${PASSWORD}@127.0.0.1/db`], {}, /^actionqueue: postgres-url: not a PostgreSQL URL/],
      [["--storage", "postgres", "--postgres-url", `postgres//u:${PASSWORD}@127.0.0.1/db`], {}, /^actionqueue: postgres-url: not a PostgreSQL URL/],
      [["--postgres-url", `postgres://u:${PASSWORD}@127.0.0.1/db`], {}, /^actionqueue: postgres-url: only with --storage postgres/],
      [[], { ACTIONQUEUE_STORAGE: "postgres", ACTIONQUEUE_POSTGRES_URL: "" }, /^actionqueue: storage: postgres needs --postgres-url/],
      [["--postgres-commits", "serial"], {}, /^actionqueue: postgres-commits: only with --storage postgres/],
      [["--storage", "postgres", "--postgres-url", `postgres://u:${PASSWORD}@127.0.0.1/db`, "--postgres-commits", "parallel"], {}, /^actionqueue: postgres-commits: /],
    ];
    for (const [args, env, message] of cases) {
      const r = await run("src/main.ts", [...args, "--listen", "127.0.0.1:0"], env);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain(PASSWORD);
    }
  });

  it("refuses a database it cannot reach in one line (exit 1), naming host, port and database only", { timeout: 60_000 }, async () => {
    const r = await run("src/main.ts", ["--storage", "postgres", "--postgres-url", `postgres://u:${PASSWORD}@127.0.0.1:1/nowhere`, "--listen", "127.0.0.1:0"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^actionqueue: cannot connect to PostgreSQL at 127\.0\.0\.1:1\/nowhere: /);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it("actionqueue backup refuses on postgres: use pg_dump", { timeout: 60_000 }, async () => {
    for (const [args, env] of [
      [["backup", "--storage", "postgres", "--to", "/tmp/nowhere"], {}],
      [["backup", "--to", "/tmp/nowhere"], { ACTIONQUEUE_STORAGE: "postgres" }],
    ] as [string[], Record<string, string>][]) {
      const r = await run("src/bin/cli.ts", args, env);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toEqual(["actionqueue: backup: the storage is PostgreSQL: use pg_dump (actionqueue backup copies an LMDB data directory)"]);
    }
  });
});
