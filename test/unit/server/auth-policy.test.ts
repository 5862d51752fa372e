/**
 * The authorization policy table (src/server/auth/policy.ts): an entry for every method of
 * every guarded service, enumerated from the generated descriptors (a new rpc fails here
 * until it has one), none for a method that does not exist, health left open; and the role
 * table of docs/auth.md matches the policy table cell by cell.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Health } from "../../../src/gen/grpc/health/v1/health_pb.js";
import { BUILTIN_ROLES, GUARDED_SERVICES, METHOD_POLICY, builtinMethods, expandPattern, methodNames, roleMethods } from "../../../src/server/auth/policy.js";

describe("auth policy table", () => {
  const names = methodNames();

  it("has an entry for every method of every guarded service in the descriptors", () => {
    const missing = names.filter((n) => !(n in METHOD_POLICY));
    expect(missing).toEqual([]);
    // Reflection v1 and v1alpha, and the four API services, all guarded.
    expect(GUARDED_SERVICES.map((s) => s.typeName).sort()).toEqual(
      ["actionqueue.v1.AdminService", "actionqueue.v1.RunService", "actionqueue.v1.TaskService", "actionqueue.v1.WorkerService", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"].sort(),
    );
    expect(names.length).toBe(31);
  });

  it("has no entry for a method that does not exist", () => {
    expect(Object.keys(METHOD_POLICY).filter((n) => !names.includes(n))).toEqual([]);
  });

  it("leaves grpc.health.v1.Health out (it stays open)", () => {
    for (const m of Health.methods) expect(METHOD_POLICY[`${Health.typeName}/${m.name}`]).toBeUndefined();
  });

  it("gives admin every method and each other built-in role a subset", () => {
    expect([...builtinMethods("admin")].sort()).toEqual([...names].sort());
    for (const role of BUILTIN_ROLES) expect(builtinMethods(role).size).toBeGreaterThan(0);
    expect(builtinMethods("reader").has("actionqueue.v1.TaskService/SubmitTask")).toBe(false);
    expect(builtinMethods("submitter").has("actionqueue.v1.WorkerService/LeaseRuns")).toBe(false);
    expect(builtinMethods("worker").has("actionqueue.v1.AdminService/PauseEngine")).toBe(false);
  });

  it("opens GetCaller to every role, built-in or custom, and nothing else that way", () => {
    const getCaller = "actionqueue.v1.AdminService/GetCaller";
    expect(METHOD_POLICY[getCaller]).toEqual({ roles: "every-token", scope: "none" });
    expect(Object.entries(METHOD_POLICY).filter(([, p]) => p.roles === "every-token").map(([n]) => n)).toEqual([getCaller]);
    for (const role of BUILTIN_ROLES) expect(builtinMethods(role).has(getCaller), role).toBe(true);
    // A custom role's methods: what its patterns name, plus GetCaller.
    expect([...roleMethods(["actionqueue.v1.RunService/GetRun"])].sort()).toEqual([getCaller, "actionqueue.v1.RunService/GetRun"]);
    expect([...roleMethods([getCaller])]).toEqual([getCaller]);
  });

  it("expands custom role patterns to known methods only", () => {
    expect(expandPattern("actionqueue.v1.AdminService/GetStats")).toEqual(["actionqueue.v1.AdminService/GetStats"]);
    expect(expandPattern("actionqueue.v1.AdminService/*")?.length).toBe(9);
    expect(expandPattern("actionqueue.v1.AdminService/Nope")).toBeNull();
    expect(expandPattern("actionqueue.v1.Nope/*")).toBeNull();
    expect(expandPattern("*")).toBeNull();
    expect(expandPattern("grpc.health.v1.Health/Check")).toBeNull();
  });

  it("matches the role table in docs/auth.md", () => {
    const doc = readFileSync(join(import.meta.dirname, "../../../docs/auth.md"), "utf8");
    const rows = new Map<string, string[]>();
    let header: string[] | null = null;
    for (const line of doc.split("\n")) {
      const cells = line.split("|").slice(1, -1).map((c) => c.trim());
      if (cells[0] === "method") header = cells;
      // The table ends at the first line that is not a row.
      if (header && cells.length === 0 && rows.size > 0) break;
      const m = /^`([^`]+)`$/.exec(cells[0] ?? "");
      if (header && m) rows.set(m[1] as string, cells.slice(1));
    }
    expect(header?.slice(1, 5)).toEqual(["admin", "worker", "submitter", "reader"]);
    expect([...rows.keys()].sort()).toEqual([...names].sort());
    for (const [name, cells] of rows) {
      const policy = METHOD_POLICY[name];
      for (const [i, role] of BUILTIN_ROLES.entries()) {
        expect(cells[i] === "✓", `${name} × ${role}`).toBe(builtinMethods(role).has(name));
      }
      expect(cells[4], `${name} queue scope`).toBe(`\`${policy?.scope}\``);
    }
  });
});
