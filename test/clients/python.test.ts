/**
 * The Python client (clients/python) against a real server: its own unittest suite (round
 * trip, attempt ledger, watch resume, rich errors, worker loop with a cancel), a `pip install`
 * of the package into a scratch virtual environment used from outside the source tree, and
 * the two Python examples.
 *
 * Python is Debian's, named explicitly (/usr/bin/python3: the `python3` first on PATH may be
 * another one without grpcio), with Debian's python3-grpcio and python3-protobuf; the pip
 * install is offline (--no-index) and takes those from the system site packages.
 * PYTHONDONTWRITEBYTECODE keeps __pycache__ folders out of the generated-code directories
 * that scripts/check-generated.sh watches. Timeouts bound a hang; they time nothing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, startServer } from "../support/server.js";
import { waitUntil } from "../support/wait.js";

const ROOT = join(import.meta.dirname, "..", "..");
const PKG = join(ROOT, "clients/python");
const PYTHON = "/usr/bin/python3";
const RUN_TIMEOUT_MS = 180_000;

/** Every test of the Python suite, by unittest id: each must be reported "ok". */
const EXPECTED_TESTS = [
  "tests.test_client.ClientTest.test_submit_lease_start_heartbeat_complete_round_trip",
  "tests.test_client.ClientTest.test_attempt_ledger_lists_every_attempt_in_order",
  "tests.test_client.ClientTest.test_watch_resumes_from_last_revision_without_gap_or_duplicate",
  "tests.test_client.ClientTest.test_watch_reports_progress_while_idle",
  "tests.test_client.ClientTest.test_invalid_argument_carries_field_violations",
  "tests.test_client.ClientTest.test_unknown_run_is_run_not_found_with_its_id",
  "tests.test_client.ClientTest.test_stale_lease_token_is_lease_lost",
  "tests.test_client.ClientTest.test_heartbeat_tells_the_worker_to_stop_a_canceled_run",
  "tests.test_client.ClientTest.test_batch_heartbeat_reports_each_item_on_its_own",
  "tests.test_client.ClientTest.test_same_task_id_replays_and_different_spec_conflicts",
  "tests.test_client.ClientTest.test_list_runs_pages_through_matching_runs_in_order",
  "tests.test_errors.DecodeTest.test_reason_picks_the_class_and_metadata_carries_the_ids",
  "tests.test_errors.DecodeTest.test_revision_purged_exposes_the_oldest_revision",
  "tests.test_errors.DecodeTest.test_error_info_of_another_domain_is_not_taken_as_a_reason",
  "tests.test_errors.DecodeTest.test_a_corrupt_trailer_keeps_the_code_and_message",
  "tests.test_errors.DecodeTest.test_batch_item_errors_become_typed_errors",
  "tests.test_transport.TransportTest.test_token_is_sent_as_bearer_authorization_on_unary_and_stream_calls",
  "tests.test_transport.TransportTest.test_no_token_sends_no_authorization",
  "tests.test_worker.WorkerTest.test_worker_completes_runs_and_stops_a_canceled_one",
  "tests.test_worker.WorkerTest.test_worker_maps_handler_exceptions_to_outcomes",
  "tests.test_worker.WorkerTest.test_stop_waits_for_running_handlers_and_leaves_no_leased_run",
  "tests.test_worker.WorkerTest.test_stop_past_the_drain_deadline_signals_shutdown",
  "tests.test_worker.WorkerTest.test_worker_stops_a_handler_whose_lease_expired",
  "tests.test_worker.WorkerTest.test_worker_refuses_to_run_twice",
];

interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A started command: `exit` resolves when it ends; it is killed (SIGKILL) after `timeoutMs`. */
function start(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs = RUN_TIMEOUT_MS): { child: ChildProcess; exit: Promise<Exit> } {
  const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += String(d)));
  child.stderr?.on("data", (d) => (stderr += String(d)));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exit = new Promise<Exit>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, exit };
}

/** Runs a command to completion. */
function run(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Exit> {
  return start(cmd, args, cwd, env).exit;
}

/** Debian's Python with the package importable from the source tree. */
function pythonEnv(target: string): NodeJS.ProcessEnv {
  return { ...process.env, PYTHONPATH: join(PKG, "src"), PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1", ACTIONQUEUE_TARGET: target };
}

/**
 * Results of `python -m unittest -v` by test id. A line is `name (module.Class.name) ... ok`;
 * output a test writes to stderr can push the result onto a later line, which is then the
 * first line that is only a result word.
 */
function parseUnittestVerbose(output: string): Map<string, string> {
  const results = new Map<string, string>();
  const header = /^(test\w*) \(([\w.]+)\)(?: \.\.\. ?(.*))?$/;
  const result = /^(ok|FAIL|ERROR|skipped\b.*|expected failure|unexpected success)$/;
  let pending: string | null = null;
  for (const line of output.split("\n")) {
    const h = header.exec(line);
    if (h) {
      const id = h[2] ?? "";
      const rest = (h[3] ?? "").trim();
      if (result.test(rest)) {
        results.set(id, rest);
        pending = null;
      } else {
        pending = id;
      }
    } else if (pending && result.test(line.trim())) {
      results.set(pending, line.trim());
      pending = null;
    }
  }
  return results;
}

describe("Python client against a real server", () => {
  let server: ServerProcess;
  let target: string;

  beforeAll(async () => {
    server = await startServer();
    target = `127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it("passes its unittest suite (every expected test reported ok)", async () => {
    const r = await run(PYTHON, ["-m", "unittest", "-v"], PKG, pythonEnv(server.url));
    const results = parseUnittestVerbose(r.stderr);
    expect(r.code, r.stderr).toBe(0);
    for (const id of EXPECTED_TESTS) expect(results.get(id), `${id}\n${r.stderr}`).toBe("ok");
    // A new Python test must be listed here too, so that its disappearance would be noticed.
    expect([...results.keys()].sort()).toEqual([...EXPECTED_TESTS].sort());
    expect(r.stderr).toMatch(new RegExp(`^Ran ${EXPECTED_TESTS.length} tests? in `, "m"));
  }, RUN_TIMEOUT_MS);

  it("installs with pip into a scratch virtual environment and works from outside the source tree", async () => {
    const scratch = mkdtempSync(join(tmpdir(), "aq-py-install-"));
    try {
      // A copy, so that pip's in-tree build leaves nothing in the repository.
      const src = join(scratch, "pkg");
      cpSync(PKG, src, { recursive: true, filter: (p) => !p.includes("__pycache__") });
      const venv = join(scratch, "venv");
      // Debian's own pip installs into the venv (`--python`): faster than seeding a pip in it.
      const made = await run(PYTHON, ["-m", "venv", "--without-pip", "--system-site-packages", venv], scratch, process.env);
      expect(made.code, made.stderr).toBe(0);
      const pipArgs = ["-m", "pip", "--python", join(venv, "bin/python"), "install", "--no-index", "--no-build-isolation", "--disable-pip-version-check", src];
      const pip = await run(PYTHON, pipArgs, scratch, process.env);
      expect(pip.code, pip.stdout + pip.stderr).toBe(0);
      const script = [
        "import sys, grpc, google.protobuf",
        "import actionqueue_client, actionqueue.v1.run_pb2 as run_pb2",
        "from actionqueue_client import Client, RunNotFoundError",
        // The installed package is used, and neither grpc nor google is shadowed by it.
        "assert actionqueue_client.__file__.startswith(sys.prefix), actionqueue_client.__file__",
        "assert not grpc.__file__.startswith(sys.prefix), grpc.__file__",
        "assert not google.protobuf.__file__.startswith(sys.prefix), google.protobuf.__file__",
        "with Client(sys.argv[1]) as c:",
        "    run = c.submit_task('pip-install', b'x').runs[0]",
        "    [leased] = c.lease_runs(['pip-install'], 'pip', wait=10, start_attempt=True)",
        "    c.complete_attempt(run.id, leased.lease_token, leased.attempt.id, 'SUCCESS', output=b'installed')",
        "    assert c.get_run(run.id).run.state == run_pb2.RUN_STATE_COMPLETED",
        "    try:",
        "        c.get_run('00000000-0000-7000-8000-000000000000')",
        "    except RunNotFoundError as e:",
        "        print('OK', c.list_attempts(run.id)[0].output.decode(), e.reason)",
      ].join("\n");
      // No PYTHONPATH: only the installed copy may be found.
      const { PYTHONPATH: _ignored, ...inherited } = process.env;
      const env: NodeJS.ProcessEnv = { ...inherited, PYTHONDONTWRITEBYTECODE: "1" };
      const used = await run(join(venv, "bin/python"), ["-c", script, target], scratch, env);
      expect(used.code, used.stderr).toBe(0);
      expect(used.stdout.trim()).toBe("OK installed RUN_NOT_FOUND");
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }, RUN_TIMEOUT_MS);

  it("runs the examples: the producer's tasks are completed by the worker, which stops on SIGTERM", async () => {
    const env = pythonEnv(target);
    const worker = start(PYTHON, ["examples/python/worker.py", "--queue", "py-examples"], ROOT, env);
    let workerOut = "";
    worker.child.stdout?.on("data", (d) => (workerOut += String(d)));
    try {
      await waitUntil("the worker to start", () => workerOut.includes("on queue"), 60_000);
      const producer = await run(PYTHON, ["examples/python/producer.py", "--queue", "py-examples", "-n", "3", "--wait"], ROOT, env);
      expect(producer.code, producer.stderr).toBe(0);
      const done = producer.stdout.split("\n").filter((l) => / COMPLETED after 1 attempt\(s\): /.test(l));
      const outputs = done.map((l) => l.slice(l.indexOf("(s): ") + 5)).sort();
      expect(outputs).toEqual(['{"n": 1, "square": 1}', '{"n": 2, "square": 4}', '{"n": 3, "square": 9}']);
    } finally {
      worker.child.kill("SIGTERM");
    }
    const stopped = await worker.exit;
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stdout).toMatch(/stopped: \{'leased': 3, 'succeeded': 3,/);
  }, RUN_TIMEOUT_MS);
});
