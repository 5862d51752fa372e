/**
 * --cors-origins / ACTIONQUEUE_CORS_ORIGINS (src/config.ts): none by default; each origin
 * validated and normalised to what a browser sends in `Origin`; every bad value is one
 * ConfigError line naming the flag.
 */
import { describe, expect, it } from "vitest";
import { type Config, ConfigError, helpText, parseConfig } from "../../../src/config.js";

function origins(argv: readonly string[], env: NodeJS.ProcessEnv = {}): readonly string[] {
  const c = parseConfig(argv, env);
  if (c === "help") throw new Error("unexpected help");
  return (c as Config).corsOrigins;
}

function refusal(value: string): string {
  try {
    parseConfig(["--cors-origins", value], {});
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error(`"${value}" was accepted`);
}

describe("cors origins configuration", () => {
  it("allows no origin by default", () => {
    expect(origins([])).toEqual([]);
  });

  it("reads a comma-separated list from the flag, in either flag form", () => {
    expect(origins(["--cors-origins", "https://a.example,http://localhost:5173"])).toEqual(["https://a.example", "http://localhost:5173"]);
    expect(origins(["--cors-origins=https://a.example"])).toEqual(["https://a.example"]);
  });

  it("reads ACTIONQUEUE_CORS_ORIGINS, and the flag wins over it", () => {
    expect(origins([], { ACTIONQUEUE_CORS_ORIGINS: "http://127.0.0.1:8080" })).toEqual(["http://127.0.0.1:8080"]);
    expect(origins(["--cors-origins", "https://b.example"], { ACTIONQUEUE_CORS_ORIGINS: "https://a.example" })).toEqual(["https://b.example"]);
  });

  it("treats an empty value as no origin (an env var can be overridden back to none)", () => {
    expect(origins(["--cors-origins", ""], { ACTIONQUEUE_CORS_ORIGINS: "https://a.example" })).toEqual([]);
    expect(origins(["--cors-origins", "  "])).toEqual([]);
  });

  it("normalises origins to the browser's serialisation and drops duplicates", () => {
    expect(origins(["--cors-origins", " HTTPS://App.Example:443 , http://LOCALHOST:80,https://app.example, http://[::1]:5173"])).toEqual([
      "https://app.example",
      "http://localhost",
      "http://[::1]:5173",
    ]);
    expect(origins(["--cors-origins", "https://bücher.example"])).toEqual(["https://xn--bcher-kva.example"]);
  });

  it.each([
    ["*", /"\*" is not accepted/],
    ["https://a.example,*", /"\*" is not accepted/],
    ["null", /"null" is not an origin/],
    ["https://a.example/", /not an origin \(scheme:\/\/host\[:port\], no path/],
    ["https://a.example/app", /not an origin/],
    ["https://a.example?x=1", /not an origin/],
    ["https://a.example#top", /not an origin/],
    ["a.example", /not an origin/],
    ["localhost:5173", /not an origin/],
    ["ftp://a.example", /must use http or https/],
    ["chrome-extension://abcdef", /must use http or https/],
    ["https://*.a.example", /no user info or wildcard/],
    ["https://user@a.example", /no user info or wildcard/],
    ["https://a.example:99999", /bad host or port/],
    ["https://a.example:port", /bad host or port/],
    ["https://", /bad host or port|has no host/],
    ["https://a.example,,https://b.example", /empty origin/],
    ["https://a.example,", /empty origin/],
  ])("refuses %j with one line naming the flag", (value, why) => {
    const message = refusal(value);
    expect(message).toMatch(/^cors-origins: /);
    expect(message).toMatch(why);
    expect(message).not.toContain("\n");
  });

  it("refuses a bad ACTIONQUEUE_CORS_ORIGINS the same way", () => {
    expect(() => parseConfig([], { ACTIONQUEUE_CORS_ORIGINS: "https://a.example/" })).toThrow(ConfigError);
  });

  it("is described in --help with its environment variable and default", () => {
    const help = helpText();
    expect(help).toMatch(/--cors-origins <value>\s+browser origins allowed to call the API \(CORS\)/);
    expect(help).toContain("env ACTIONQUEUE_CORS_ORIGINS, default (none)");
  });
});
