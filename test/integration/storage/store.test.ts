/**
 * The LMDB store's guards: one process per directory, schema versions, unwritable
 * directories, and storage faults (a file-size limit standing in for a full disk).
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LmdbStore, SCHEMA_VERSION, StoreOpenError } from "../../../src/storage/lmdb/store.js";
import { openTestEngine, spec, tempDir } from "../../support/engine.js";

function runNode(args: string[], shellPrefix = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const cmd = `${shellPrefix} exec ${JSON.stringify(process.execPath)} --import tsx ${args.map((a) => JSON.stringify(a)).join(" ")}`;
    const child = spawn("bash", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("LMDB store guards", () => {
  it("refuses a second process on the same directory with a clear message", async () => {
    const dir = tempDir();
    const store = await LmdbStore.open({ path: dir });
    try {
      const script = `import { LmdbStore } from "./src/storage/lmdb/store.ts";
        try { await LmdbStore.open({ path: ${JSON.stringify(dir)} }); console.log("OPENED"); }
        catch (e) { console.log("REFUSED " + e.message); }`;
      const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8" });
      expect(r.stdout).toContain("REFUSED");
      expect(r.stdout).toContain("in use by another ActionQueue process");
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lets a new process in once the holder is gone, even after SIGKILL", async () => {
    const dir = tempDir();
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", `import { LmdbStore } from "./src/storage/lmdb/store.ts"; await LmdbStore.open({ path: ${JSON.stringify(dir)} }); console.log("HELD"); setInterval(() => {}, 1000);`], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => child.stdout.on("data", (d) => String(d).includes("HELD") && resolve()));
    await expect(LmdbStore.open({ path: dir })).rejects.toThrow(/in use/);
    child.kill("SIGKILL");
    await new Promise((r) => child.on("exit", r));
    const store = await LmdbStore.open({ path: dir });
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a directory written by an unknown schema version", async () => {
    const dir = tempDir();
    const store = await LmdbStore.open({ path: dir });
    await store.dbs.meta.put("schemaVersion", SCHEMA_VERSION + 1);
    await store.close();
    await expect(LmdbStore.open({ path: dir })).rejects.toThrow(new RegExp(`schema version ${SCHEMA_VERSION + 1}`));
    await expect(LmdbStore.open({ path: dir })).rejects.toBeInstanceOf(StoreOpenError);
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses an unwritable data directory with a clear message", async () => {
    if (process.getuid?.() === 0) {
      // root ignores permission bits; use a path under a regular file instead.
      const dir = tempDir();
      const file = join(dir, "file");
      await import("node:fs").then((fs) => fs.writeFileSync(file, "x"));
      await expect(LmdbStore.open({ path: join(file, "data") })).rejects.toThrow(/not writable/);
      rmSync(dir, { recursive: true, force: true });
      return;
    }
    const dir = tempDir();
    mkdirSync(join(dir, "ro"));
    chmodSync(join(dir, "ro"), 0o500);
    await expect(LmdbStore.open({ path: join(dir, "ro") })).rejects.toThrow(/not writable/);
    rmSync(dir, { recursive: true, force: true });
  });

  it("fails commands with a clear storage error when the disk is full, keeps reads, memory and the process alive", async () => {
    const dir = tempDir();
    // 4 MiB file-size limit; SIGXFSZ ignored so writes fail with an error instead of a kill.
    const r = await runNode(["test/support/fault-child.ts", dir], "trap '' XFSZ; ulimit -f 4096;");
    const lines = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const step = (name: string) => lines.find((l) => l.step === name);
    expect(r.code, r.stderr).toBe(0);
    expect(step("fill")?.accepted).toBeGreaterThan(5);
    expect(["STORAGE_FULL", "STORAGE_IO"]).toContain(step("fill")?.reason);
    expect(step("reads")).toMatchObject({ ok: true, taskCount: step("fill")?.accepted });
    expect(step("memory")?.readyIndexed).toBe(step("memory")?.readyStored);
    expect(step("closed")).toBeDefined();
    // After the fault: exactly the acknowledged submissions are stored, nothing of the failed one.
    const t = await openTestEngine({ dir });
    expect(t.engine.reader.taskCount()).toBe(step("fill")?.accepted);
    await t.engine.submitTask({ taskId: null, spec: spec() }); // and writes work again without the limit
    await t.cleanup();
  });
});
