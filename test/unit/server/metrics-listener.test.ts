/**
 * --metrics-listen's lifetime, seen from inside one process (where a port left open would
 * show — a server process that exits closes its ports anyway): the real server over a real
 * engine serves GET /metrics on its own port, keeps a scraper's keep-alive connection from
 * holding shutdown, and no longer accepts connections once `close` resolves, while the
 * process goes on.
 */
import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { type Config, parseConfig } from "../../../src/config.js";
import { Metrics } from "../../../src/server/metrics/metrics.js";
import { type RunningServer, startServer } from "../../../src/server/server.js";
import { openTestEngine, type TestEngine } from "../../support/engine.js";

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function get(port: number, path: string, agent: http.Agent | false = false): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: res.headers["content-type"], body }));
    });
    req.on("error", reject);
  });
}

let t: TestEngine | null = null;
let server: RunningServer | null = null;
afterEach(async () => {
  await server?.close(1_000);
  await t?.cleanup();
  server = null;
  t = null;
});

describe("metrics listener", () => {
  it("serves /metrics on its own port and closes it with the server", { timeout: 30_000 }, async () => {
    const metrics = new Metrics();
    t = await openTestEngine({ observer: metrics.engineObserver });
    const config = parseConfig(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"], {}) as Config;
    server = await startServer(t.engine, config, silent, null, metrics);
    const port = server.metricsPort;
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(server.port);
    // A scraper's keep-alive connection stays open between scrapes.
    const agent = new http.Agent({ keepAlive: true });
    const a = await get(port as number, "/metrics", agent);
    expect(a.status).toBe(200);
    expect(a.type).toBe(metrics.registry.contentType);
    expect(a.body).toContain("# TYPE actionqueue_runs gauge");
    expect((await get(port as number, "/metrics?x=1", agent)).status).toBe(200);
    expect((await get(port as number, "/other")).status).toBe(404);
    await server.close(10_000);
    server = null;
    await expect(get(port as number, "/metrics")).rejects.toMatchObject({ code: "ECONNREFUSED" });
    agent.destroy();
  });

  it("has no metrics port without --metrics-listen", async () => {
    t = await openTestEngine();
    server = await startServer(t.engine, parseConfig(["--listen", "127.0.0.1:0"], {}) as Config, silent);
    expect(server.metricsPort).toBeNull();
  });
});
