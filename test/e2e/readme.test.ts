/**
 * The README's buf curl recipes work as written: the bash block of the "Operating it"
 * section runs unchanged (but for the port) against a live server.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, startServer } from "../support/server.js";

const ROOT = join(import.meta.dirname, "..", "..");
const run = promisify(execFile);

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.cleanup();
});

function recipe(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Operating it"), readme.indexOf("## API"));
  const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error("no bash block in the Operating section");
  return block;
}

describe("README recipes", () => {
  it("run as written against a live server", async () => {
    const script = `set -euo pipefail\n${recipe().replaceAll("127.0.0.1:50051", `127.0.0.1:${server.port}`)}`;
    const { stdout } = await run("bash", ["-c", script], {
      cwd: ROOT,
      timeout: 120_000,
      maxBuffer: 16 << 20,
      env: { ...process.env, PATH: `${join(ROOT, "node_modules", ".bin")}:${process.env.PATH ?? ""}` },
    });
    expect(stdout).toContain("actionqueue.v1.TaskService");
    expect(stdout).toContain('"status": "SERVING"');
    expect(stdout).toContain("RUN_STATE_COMPLETED");
    expect(stdout).toContain("ATTEMPT_OUTCOME_SUCCESS");
    expect(stdout).toContain('"tasksCanceled": 1');
    expect(stdout).toContain('"key": "tenant-42"');
    expect(stdout).toContain('"runsPerSecond": 5');
    expect(stdout).toContain("RUN_EVENT_TYPE_CREATED");
  });
});
