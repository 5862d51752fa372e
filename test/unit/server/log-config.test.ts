/**
 * --log-format / --log-time and --version (src/config.ts), and how "auto" resolves
 * (src/bin/logger.ts): good values parse, bad ones are one ConfigError line naming the flag.
 */
import { describe, expect, it } from "vitest";
import { resolvedLogFormat } from "../../../src/bin/logger.js";
import { type Config, ConfigError, helpText, isVersionRequest, parseConfig } from "../../../src/config.js";

function config(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Config {
  const c = parseConfig(argv, env);
  if (c === "help") throw new Error("unexpected help");
  return c;
}

function refusal(argv: readonly string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig(argv, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error("accepted");
}

describe("--log-format", () => {
  it("defaults to auto and takes json, pretty and auto from the flag or ACTIONQUEUE_LOG_FORMAT", () => {
    expect(config([]).logFormat).toBe("auto");
    for (const v of ["json", "pretty", "auto"] as const) {
      expect(config(["--log-format", v]).logFormat).toBe(v);
      expect(config([], { ACTIONQUEUE_LOG_FORMAT: v }).logFormat).toBe(v);
    }
    expect(config(["--log-format=json"], { ACTIONQUEUE_LOG_FORMAT: "pretty" }).logFormat).toBe("json");
  });

  it("refuses anything else in one line naming the flag", () => {
    for (const bad of ["", "JSON", "text", "pretty ", "logfmt"]) {
      expect(refusal(["--log-format", bad])).toMatch(/^log-format: ".*" must be one of auto, json, pretty$/);
    }
    expect(refusal([], { ACTIONQUEUE_LOG_FORMAT: "yaml" })).toContain("log-format");
  });

  it("auto is pretty on a terminal and JSON otherwise", () => {
    expect(resolvedLogFormat("auto", true)).toBe("pretty");
    expect(resolvedLogFormat("auto", false)).toBe("json");
    expect(resolvedLogFormat("json", true)).toBe("json");
    expect(resolvedLogFormat("pretty", false)).toBe("pretty");
  });
});

describe("--log-time", () => {
  it("defaults to epoch and takes epoch or iso", () => {
    expect(config([]).logTime).toBe("epoch");
    expect(config(["--log-time", "iso"]).logTime).toBe("iso");
    expect(config([], { ACTIONQUEUE_LOG_TIME: "iso" }).logTime).toBe("iso");
    expect(config(["--log-time", "epoch"], { ACTIONQUEUE_LOG_TIME: "iso" }).logTime).toBe("epoch");
  });

  it("refuses anything else", () => {
    for (const bad of ["", "ISO", "unix", "rfc3339"]) expect(refusal(["--log-time", bad])).toMatch(/^log-time: ".*" must be one of epoch, iso$/);
  });

  it("both are in --help with their environment variables", () => {
    const help = helpText();
    expect(help).toContain("--log-format");
    expect(help).toContain("ACTIONQUEUE_LOG_FORMAT");
    expect(help).toContain("--log-time");
    expect(help).toContain("ACTIONQUEUE_LOG_TIME");
    expect(help).toContain("--version");
  });
});

describe("--version", () => {
  it("is recognised in a flag's place, anywhere on the line", () => {
    expect(isVersionRequest(["--version"])).toBe(true);
    expect(isVersionRequest(["-V"])).toBe(true);
    expect(isVersionRequest(["--data-dir", "/d", "--version"])).toBe(true);
    expect(isVersionRequest(["--log-level=debug", "--version", "--bogus"])).toBe(true);
  });

  it("is not taken from another flag's value, and is absent otherwise", () => {
    expect(isVersionRequest([])).toBe(false);
    expect(isVersionRequest(["--data-dir", "--version"])).toBe(false);
    expect(isVersionRequest(["--data-dir", "/d", "--listen", "127.0.0.1:0"])).toBe(false);
    expect(isVersionRequest(["--versions"])).toBe(false);
  });
});
