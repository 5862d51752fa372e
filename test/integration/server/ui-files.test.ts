/**
 * The dashboard's file serving (src/server/ui.ts) over a real loopback HTTP server and a real
 * directory of files: what /ui/ answers, with which headers, what it refuses, the redirects,
 * and what passes on to the API untouched.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeHead } from "../../../src/server/node-http.js";
import { UiAssets, withUi } from "../../../src/server/ui.js";

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

function request(port: number, path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: init.method ?? "GET", headers: init.headers ?? {}, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function serveDir(dir: string): Promise<{ port: number; close(): Promise<void> }> {
  const handler = withUi(UiAssets.load(dir), (_req, res) => {
    writeHead(res, 404, { "content-type": "text/plain" });
    res.end("api");
  });
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const root = mkdtempSync(join(tmpdir(), "aq-ui-files-"));
const built = join(root, "built");
const empty = join(root, "empty");
let site: { port: number; close(): Promise<void> };
let bare: { port: number; close(): Promise<void> };

beforeAll(async () => {
  mkdirSync(join(built, "assets"), { recursive: true });
  mkdirSync(empty);
  writeFileSync(join(built, "index.html"), "<!doctype html><title>ActionQueue</title>");
  writeFileSync(join(built, "app.js"), "console.log('dashboard');");
  writeFileSync(join(built, "assets", "app.css"), "body{}");
  writeFileSync(join(built, ".build-stamp"), "built");
  writeFileSync(join(root, "secret.txt"), "outside");
  site = await serveDir(built);
  bare = await serveDir(empty);
});

afterAll(async () => {
  await site.close();
  await bare.close();
  rmSync(root, { recursive: true, force: true });
});

describe("the dashboard's files", () => {
  it("answers /ui/ with index.html, a strict CSP, nosniff, an ETag and no-cache", async () => {
    const a = await request(site.port, "/ui/");
    expect(a.status).toBe(200);
    expect(a.body).toBe("<!doctype html><title>ActionQueue</title>");
    expect(a.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(a.headers["content-security-policy"]).toContain("default-src 'self'");
    expect(a.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(a.headers["x-content-type-options"]).toBe("nosniff");
    expect(a.headers["cache-control"]).toBe("no-cache");
    expect(a.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
  });

  it("answers each built file with its content type, in subdirectories too, and HEAD without a body", async () => {
    const js = await request(site.port, "/ui/app.js?v=1");
    expect([js.status, js.headers["content-type"], js.body]).toEqual([200, "text/javascript; charset=utf-8", "console.log('dashboard');"]);
    const css = await request(site.port, "/ui/assets/app.css");
    expect([css.status, css.headers["content-type"], css.body]).toEqual([200, "text/css; charset=utf-8", "body{}"]);
    const head = await request(site.port, "/ui/app.js", { method: "HEAD" });
    expect([head.status, head.headers["content-length"], head.body]).toEqual([200, String(Buffer.byteLength("console.log('dashboard');")), ""]);
  });

  it("answers 304 to a matching If-None-Match, and the file again to a stale one", async () => {
    const first = await request(site.port, "/ui/app.js");
    const again = await request(site.port, "/ui/app.js", { headers: { "if-none-match": String(first.headers.etag) } });
    expect([again.status, again.body]).toEqual([304, ""]);
    const stale = await request(site.port, "/ui/app.js", { headers: { "if-none-match": '"stale"' } });
    expect(stale.status).toBe(200);
  });

  it("answers 404 for a file it does not have, however the path tries to leave the directory", async () => {
    for (const path of ["/ui/nope.js", "/ui/.build-stamp", "/ui/../secret.txt", "/ui/%2e%2e/secret.txt", "/ui/..%2fsecret.txt", "/ui/assets/../../secret.txt", "/ui//etc/passwd"]) {
      const a = await request(site.port, path);
      expect({ path, status: a.status, leaked: a.body.includes("outside") }).toEqual({ path, status: 404, leaked: false });
    }
  });

  it("answers 405 with Allow to anything but GET and HEAD", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const a = await request(site.port, "/ui/", { method });
      expect([a.status, a.headers.allow]).toEqual([405, "GET, HEAD"]);
    }
  });

  it("redirects /ui to /ui/, and a browser's GET / to /ui/", async () => {
    const ui = await request(site.port, "/ui");
    expect([ui.status, ui.headers.location]).toEqual([301, "/ui/"]);
    const browser = await request(site.port, "/", { headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8" } });
    expect([browser.status, browser.headers.location]).toEqual([302, "/ui/"]);
  });

  it("passes everything else on untouched: API paths, / without text/html, POST /", async () => {
    for (const [path, init] of [
      ["/actionqueue.v1.AdminService/GetStats", { method: "POST", headers: { "content-type": "application/json" } }],
      ["/", {}],
      ["/", { method: "POST", headers: { accept: "text/html" } }],
      ["/uix/app.js", {}],
    ] as const) {
      const a = await request(site.port, path, init);
      expect({ path, status: a.status, body: a.body }).toEqual({ path, status: 404, body: "api" });
    }
  });

  it("answers 503 with how to build it when the dashboard was not built", async () => {
    expect(UiAssets.load(empty).built).toBe(false);
    const a = await request(bare.port, "/ui/");
    expect(a.status).toBe(503);
    expect(a.body).toContain("npm run build:ui");
    const api = await request(bare.port, "/actionqueue.v1.AdminService/GetStats", { method: "POST" });
    expect(api.body).toBe("api");
  });
});
