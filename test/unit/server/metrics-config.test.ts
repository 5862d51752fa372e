/**
 * --metrics-listen / ACTIONQUEUE_METRICS_LISTEN (src/config.ts): off by default; a host:port
 * (IPv6 in brackets, port 0 to 65535); every bad value is one ConfigError line naming the flag.
 */
import { describe, expect, it } from "vitest";
import { type Config, ConfigError, helpText, parseConfig } from "../../../src/config.js";

function metricsListen(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Config["metricsListen"] {
  const c = parseConfig(argv, env);
  if (c === "help") throw new Error("unexpected help");
  return c.metricsListen;
}

function refusal(value: string): string {
  try {
    parseConfig(["--metrics-listen", value], {});
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error(`"${value}" was accepted`);
}

describe("metrics listen configuration", () => {
  it("is off by default, and an empty value turns it off", () => {
    expect(metricsListen([])).toBeNull();
    expect(metricsListen(["--metrics-listen", ""], { ACTIONQUEUE_METRICS_LISTEN: "127.0.0.1:9464" })).toBeNull();
  });

  it("reads host:port from the flag (either form) and the environment; the flag wins", () => {
    expect(metricsListen(["--metrics-listen", "127.0.0.1:9464"])).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(metricsListen(["--metrics-listen=0.0.0.0:0"])).toEqual({ host: "0.0.0.0", port: 0 });
    expect(metricsListen([], { ACTIONQUEUE_METRICS_LISTEN: "localhost:9100" })).toEqual({ host: "localhost", port: 9100 });
    expect(metricsListen(["--metrics-listen", "10.0.0.5:9464"], { ACTIONQUEUE_METRICS_LISTEN: "localhost:9100" })).toEqual({ host: "10.0.0.5", port: 9464 });
  });

  it("takes IPv6 addresses in brackets, without them", () => {
    expect(metricsListen(["--metrics-listen", "[::1]:9464"])).toEqual({ host: "::1", port: 9464 });
    expect(metricsListen(["--metrics-listen", "[::]:65535"])).toEqual({ host: "::", port: 65535 });
  });

  it.each(["9464", ":9464", "localhost", "localhost:", "localhost:http", "127.0.0.1:65536", "127.0.0.1:-1", "::1:9464", "http://127.0.0.1:9464", "host name:9464", "127.0.0.1:9464/metrics"])(
    "refuses %j with a one-line error naming the flag",
    (value) => {
      const message = refusal(value);
      expect(message).toMatch(/^metrics-listen: /);
      expect(message).toContain("host:port");
      expect(message).not.toContain("\n");
    },
  );

  it("is listed in --help with its environment variable", () => {
    expect(helpText()).toContain("--metrics-listen");
    expect(helpText()).toContain("ACTIONQUEUE_METRICS_LISTEN");
  });
});
