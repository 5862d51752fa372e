/**
 * The auth file (src/server/auth/auth-file.ts) and its flags (src/config.ts): good files
 * compile to token entries; every bad one is one AuthFileError line naming the entry;
 * --auth-file / ACTIONQUEUE_AUTH_FILE, --allow-unauthenticated and the loopback rule.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type Config, ConfigError, isLoopbackHost, parseConfig } from "../../../src/config.js";
import { AuthFileError, parseAuthFile } from "../../../src/server/auth/auth-file.js";

const digest = (t: string) => `sha256:${createHash("sha256").update(t).digest("hex")}`;
const D1 = digest("one");
const D2 = digest("two");

function refusal(doc: unknown): string {
  try {
    parseAuthFile(typeof doc === "string" ? doc : JSON.stringify(doc), "auth.json");
  } catch (e) {
    if (e instanceof AuthFileError) {
      expect(e.message).not.toContain("\n");
      return e.message;
    }
    throw e;
  }
  throw new Error(`accepted: ${JSON.stringify(doc)}`);
}

describe("auth file", () => {
  it("compiles built-in and custom roles, with and without queues", () => {
    const f = parseAuthFile(
      JSON.stringify({
        roles: { operator: ["actionqueue.v1.AdminService/*", "actionqueue.v1.RunService/CancelRun"] },
        tokens: [
          { name: "admin", digest: D1, role: "admin" },
          { name: "ops", digest: D2.toUpperCase().replace("SHA256", "sha256"), role: "operator", queues: ["emails", "billing"] },
        ],
      }),
      "auth.json",
    );
    expect(f.tokens.map((t) => t.name)).toEqual(["admin", "ops"]);
    expect(f.tokens[0]?.queues).toBeNull();
    expect(f.tokens[0]?.digest.toString("hex")).toBe(D1.slice(7));
    expect(f.tokens[1]?.digest.toString("hex")).toBe(D2.slice(7));
    expect([...(f.tokens[1]?.queues ?? [])]).toEqual(["emails", "billing"]);
    expect(f.tokens[1]?.methods.has("actionqueue.v1.AdminService/PauseEngine")).toBe(true);
    expect(f.tokens[1]?.methods.has("actionqueue.v1.RunService/CancelRun")).toBe(true);
    expect(f.tokens[1]?.methods.has("actionqueue.v1.RunService/GetRun")).toBe(false);
  });

  it("gives a custom role GetCaller even when its patterns do not name it", () => {
    const f = parseAuthFile(JSON.stringify({ roles: { stats: ["actionqueue.v1.RunService/GetRun"] }, tokens: [{ name: "s", digest: D1, role: "stats" }] }), "auth.json");
    expect([...(f.tokens[0]?.methods ?? [])].sort()).toEqual(["actionqueue.v1.AdminService/GetCaller", "actionqueue.v1.RunService/GetRun"]);
  });

  it.each([
    ["not JSON", "{", "not valid JSON"],
    ["not an object", [], "must be a JSON object"],
    ["an unknown top-level key", { tokens: [{ name: "a", digest: D1, role: "admin" }], users: [] }, 'unknown key "users"'],
    ["no tokens", { tokens: [] }, '"tokens" must be a non-empty list'],
    ["a token that is not an object", { tokens: ["x"] }, "tokens[0]: must be an object"],
    ["a missing name", { tokens: [{ digest: D1, role: "admin" }] }, 'tokens[0]: "name"'],
    ["a duplicate name", { tokens: [{ name: "a", digest: D1, role: "admin" }, { name: "a", digest: D2, role: "admin" }] }, 'tokens[1] ("a"): the name "a" is used twice'],
    ["a plain token instead of a digest", { tokens: [{ name: "a", digest: "secret", role: "admin" }] }, 'tokens[0] ("a"): "digest" must be "sha256:"'],
    ["a short digest", { tokens: [{ name: "a", digest: "sha256:abcd", role: "admin" }] }, '"digest" must be'],
    ["a duplicate digest", { tokens: [{ name: "a", digest: D1, role: "admin" }, { name: "b", digest: D1, role: "reader" }] }, 'tokens[1] ("b"): the same digest appears twice'],
    ["an unknown role", { tokens: [{ name: "a", digest: D1, role: "root" }] }, 'tokens[0] ("a"): role "root" is not defined'],
    ["an unknown token key", { tokens: [{ name: "a", digest: D1, role: "admin", token: "x" }] }, 'unknown key "token"'],
    ["empty queues", { tokens: [{ name: "a", digest: D1, role: "worker", queues: [] }] }, '"queues" must be a non-empty list'],
    ["a bad queue name", { tokens: [{ name: "a", digest: D1, role: "worker", queues: ["a b"] }] }, 'queue "a b" is not a queue name'],
    ["a redefined built-in role", { roles: { admin: ["actionqueue.v1.AdminService/*"] }, tokens: [{ name: "a", digest: D1, role: "admin" }] }, 'roles.admin: "admin" is a built-in role'],
    ["a custom role with no methods", { roles: { ops: [] }, tokens: [{ name: "a", digest: D1, role: "ops" }] }, "roles.ops: must be a non-empty list"],
    ["a custom role naming an unknown method", { roles: { ops: ["actionqueue.v1.AdminService/Nope"] }, tokens: [{ name: "a", digest: D1, role: "ops" }] }, 'roles.ops[0]: "actionqueue.v1.AdminService/Nope" names no method'],
    ["a custom role naming health", { roles: { ops: ["grpc.health.v1.Health/*"] }, tokens: [{ name: "a", digest: D1, role: "ops" }] }, "names no method"],
  ])("refuses %s, naming the entry", (_what, doc, message) => {
    const m = refusal(doc);
    expect(m.startsWith("auth file auth.json: ")).toBe(true);
    expect(m).toContain(message);
  });

  it("accepts a client certificate's fingerprint in openssl's form or as plain hex", () => {
    const hex = D1.slice(7);
    const colons = hex.toUpperCase().match(/../g)?.join(":") ?? "";
    const f = parseAuthFile(JSON.stringify({ tokens: [{ name: "a", certificate: `sha256:${colons}`, role: "worker" }, { name: "b", certificate: D2, role: "reader" }, { name: "c", digest: D1, role: "admin" }] }), "auth.json");
    expect(f.tokens.map((t) => [t.kind, t.digest.toString("hex")])).toEqual([["certificate", hex], ["certificate", D2.slice(7)], ["token", hex]]);
  });

  it.each([
    ["both a digest and a certificate", { tokens: [{ name: "a", digest: D1, certificate: D2, role: "admin" }] }, 'give exactly one of "digest"'],
    ["neither a digest nor a certificate", { tokens: [{ name: "a", role: "admin" }] }, 'give exactly one of "digest"'],
    ["a malformed fingerprint", { tokens: [{ name: "a", certificate: "sha256:AB:CD", role: "admin" }] }, '"certificate" must be "sha256:"'],
    ["a duplicate certificate", { tokens: [{ name: "a", certificate: D1, role: "admin" }, { name: "b", certificate: D1, role: "reader" }] }, 'tokens[1] ("b"): the same certificate appears twice'],
  ])("refuses %s", (_what, doc, message) => {
    expect(refusal(doc)).toContain(message);
  });

  it("never echoes a token given where a digest belongs", () => {
    expect(refusal({ tokens: [{ name: "a", digest: "hunter2-secret", role: "admin" }] })).not.toContain("hunter2");
  });
});

function config(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Config {
  const c = parseConfig(argv, env);
  if (c === "help") throw new Error("unexpected help");
  return c;
}

function configRefusal(argv: readonly string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    config(argv, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error(`accepted: ${argv.join(" ")}`);
}

describe("auth flags", () => {
  it("has no auth file by default and reads --auth-file or ACTIONQUEUE_AUTH_FILE (flag wins)", () => {
    expect(config([]).authFile).toBeNull();
    expect(config(["--auth-file", "/etc/aq/auth.json"]).authFile).toBe("/etc/aq/auth.json");
    expect(config([], { ACTIONQUEUE_AUTH_FILE: "/a.json" }).authFile).toBe("/a.json");
    expect(config(["--auth-file=/b.json"], { ACTIONQUEUE_AUTH_FILE: "/a.json" }).authFile).toBe("/b.json");
  });

  it("parses --allow-unauthenticated as true or false only", () => {
    expect(config([]).allowUnauthenticated).toBe(false);
    expect(config(["--allow-unauthenticated", "true"]).allowUnauthenticated).toBe(true);
    expect(config([], { ACTIONQUEUE_ALLOW_UNAUTHENTICATED: "false" }).allowUnauthenticated).toBe(false);
    expect(configRefusal(["--allow-unauthenticated", "yes"])).toContain('allow-unauthenticated: "yes" must be true or false');
  });

  it("refuses a non-loopback listen address without an auth file unless explicitly allowed", () => {
    for (const listen of ["0.0.0.0:50051", "[::]:50051", "10.1.2.3:50051", "example.com:50051"]) {
      expect(configRefusal(["--listen", listen])).toContain("is not a loopback address and no --auth-file is given");
      expect(config(["--listen", listen, "--auth-file", "/a.json"]).authFile).toBe("/a.json");
      expect(config(["--listen", listen, "--allow-unauthenticated", "true"]).allowUnauthenticated).toBe(true);
    }
    for (const listen of ["127.0.0.1:0", "localhost:50051", "[::1]:50051", "127.3.4.5:1"]) expect(config(["--listen", listen]).authFile).toBeNull();
  });

  it("knows loopback hosts", () => {
    expect(["127.0.0.1", "127.255.0.1", "localhost", "LOCALHOST", "::1", "::ffff:127.0.0.1"].every(isLoopbackHost)).toBe(true);
    expect(["0.0.0.0", "::", "", "10.0.0.1", "128.0.0.1", "localhost.example", "127.0.0.1.example"].some(isLoopbackHost)).toBe(false);
  });
});
