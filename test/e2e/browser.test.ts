/**
 * Browsers, for real: headless Chromium (Debian's /usr/bin/chromium, driven by
 * puppeteer-core) loads a page from another origin — a tiny HTTP server on another loopback
 * port serving test/fixtures/browser/index.html and app.ts bundled at test time with esbuild —
 * and the page calls real server processes with connect-web:
 *  - against a server that lists the page's origin in --cors-origins: SubmitTask over the
 *    Connect protocol (POST), GetStats and GetRun as Connect GET requests (seen on the wire),
 *    a NOT_FOUND with its ErrorInfo, a WatchRuns stream over fetch that sees the events of
 *    runs the test creates meanwhile, and gRPC-Web unary calls including an error whose
 *    status and details the page reads from exposed headers; no CORS error anywhere;
 *  - the same page against a server that lists another origin (http://localhost:PORT, the
 *    page's own port under another name): every call fails in the page, Chromium reports
 *    CORS errors, and nothing reached the engine.
 * Skipped, saying why, only when /usr/bin/chromium is absent (CI installs Debian's chromium).
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import type net from "node:net";
import { join } from "node:path";
import { build } from "esbuild";
import type { Browser, Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Outcome, PageApi } from "../fixtures/browser/app.js";
import { CHROMIUM, HAVE_CHROMIUM, launchChromium, warnWithoutChromium } from "../support/chromium.js";
import { connectJson, type ServerProcess, startServer } from "../support/server.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "browser");
const DEADLINE_MS = 30_000;

warnWithoutChromium("browser.test.ts");

/** Serves the page and its bundled script on a free loopback port. */
async function servePage(): Promise<{ origin: string; port: number; close(): Promise<void> }> {
  const bundle = await build({
    entryPoints: [join(FIXTURES, "app.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "chrome120",
    write: false,
    logLevel: "silent",
  });
  const js = bundle.outputFiles[0]?.text ?? "";
  const html = readFileSync(join(FIXTURES, "index.html"));
  const pages = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/") res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html);
    else if (path === "/app.js") res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(js);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => pages.listen(0, "127.0.0.1", resolve));
  const { port } = pages.address() as net.AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise((resolve) => {
        pages.closeAllConnections();
        pages.close(() => resolve());
      }),
  };
}

/** What a page did on the network: requests, and the CORS errors Chromium reported. */
interface Traffic {
  readonly requests: Array<{ method: string; url: string; contentType: string }>;
  readonly corsErrors: string[];
}

/** Opens the page against `server` and waits for its script; records its traffic. */
async function openPage(browser: Browser, pageOrigin: string, server: ServerProcess): Promise<{ page: Page; traffic: Traffic }> {
  const page = await browser.newPage();
  const traffic: Traffic = { requests: [], corsErrors: [] };
  page.on("request", (r) => traffic.requests.push({ method: r.method(), url: r.url(), contentType: r.headers()["content-type"] ?? "" }));
  const cdp = await page.createCDPSession();
  await cdp.send("Network.enable");
  cdp.on("Network.loadingFailed", (e) => {
    if (e.corsErrorStatus) traffic.corsErrors.push(e.corsErrorStatus.corsError);
  });
  await page.goto(`${pageOrigin}/?server=${encodeURIComponent(server.url)}`, { waitUntil: "load" });
  await page.waitForFunction(() => (globalThis as { actionqueue?: unknown }).actionqueue !== undefined, { timeout: DEADLINE_MS });
  return { page, traffic };
}

/** Runs one step of the page's API (see test/fixtures/browser/app.ts) in the page. */
function step<K extends keyof PageApi>(page: Page, name: K, ...args: PageApi[K] extends (...a: infer A) => unknown ? A : never): Promise<Awaited<PageApi[K] extends (...a: never[]) => infer R ? R : never>> {
  return page.evaluate(
    (n, a) => {
      const api = (globalThis as unknown as { actionqueue: Record<string, (...x: unknown[]) => unknown> }).actionqueue;
      return api[n]?.(...a);
    },
    name,
    args as unknown[],
  ) as never;
}

function value<T>(o: Outcome<T>): T {
  if (!o.ok) throw new Error(`the page got ${o.code}: ${o.message}`);
  return o.value;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!HAVE_CHROMIUM)(HAVE_CHROMIUM ? "a page on another origin, in headless Chromium" : `a page on another origin (SKIPPED: ${CHROMIUM} not found)`, () => {
  let browser: Browser;
  let pages: Awaited<ReturnType<typeof servePage>>;
  let allowing: ServerProcess;
  let otherOrigin: ServerProcess;
  beforeAll(async () => {
    pages = await servePage();
    [allowing, otherOrigin] = await Promise.all([
      startServer({ args: ["--cors-origins", `https://app.example,${pages.origin}`] }),
      // The page's own port under another host name: a different origin to a browser.
      startServer({ args: ["--cors-origins", `http://localhost:${pages.port}`] }),
    ]);
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await pages?.close();
    await allowing?.cleanup();
    await otherOrigin?.cleanup();
  });

  it("calls the server from an allowed origin: Connect POST and GET, a WatchRuns stream, gRPC-Web", { timeout: 120_000 }, async () => {
    const { page, traffic } = await openPage(browser, pages.origin, allowing);
    const node = connectJson(allowing.port);
    expect(await page.evaluate(() => (globalThis as unknown as { location: { origin: string } }).location.origin)).toBe(pages.origin);
    expect(pages.origin).not.toBe(allowing.url);

    // Unary over the Connect protocol: the task really is on the server.
    const submitted = value(await step(page, "submit", "browser-unary"));
    expect(submitted.runIds).toHaveLength(1);
    expect((await node.tasks.getTask({ taskId: submitted.taskId })).task?.spec?.queue).toBe("browser-unary");

    // Reads as Connect GET, and an error with its details.
    const runId = submitted.runIds[0] as string;
    const reads = value(await step(page, "reads", runId));
    expect(reads.queues).toContain("browser-unary");
    expect(reads.run.id).toBe(runId);
    expect(reads.missing).toEqual({ code: "NotFound", reason: "RUN_NOT_FOUND" });
    // What went on the wire, preflights (OPTIONS) apart: the POST was preflighted, the reads
    // went as GET.
    const sent = (path: string) => traffic.requests.filter((r) => r.url.startsWith(`${allowing.url}${path}`)).map((r) => r.method);
    const onWire = (path: string) => sent(path).filter((m) => m !== "OPTIONS");
    expect(sent("/actionqueue.v1.TaskService/SubmitTask")).toContain("OPTIONS");
    expect(onWire("/actionqueue.v1.TaskService/SubmitTask")).toEqual(["POST"]);
    expect(onWire("/actionqueue.v1.AdminService/GetStats")).toEqual(["GET"]);
    expect(onWire("/actionqueue.v1.RunService/GetRun")).toEqual(["GET", "GET"]);

    // A live WatchRuns stream sees the runs the test creates while it is open.
    value(await step(page, "startWatch", "browser-watch"));
    const created: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await node.tasks.submitTask({ spec: { queue: "browser-watch", payload: { data: new Uint8Array([i]), contentType: "application/octet-stream" } } });
      created.push(r.runs[0]?.id as string);
    }
    const until = Date.now() + DEADLINE_MS;
    let watched = await step(page, "watched");
    while (!created.every((id) => watched.events.some((e) => e.runId === id && e.type === "CREATED")) && !watched.ended && Date.now() < until) {
      await sleep(50);
      watched = await step(page, "watched");
    }
    expect(watched.error).toBeNull();
    expect(watched.events.filter((e) => e.type === "CREATED").map((e) => e.runId)).toEqual(created);
    expect(watched.events.every((e) => e.runId !== runId)).toBe(true); // another queue
    await step(page, "stopWatch");

    // gRPC-Web: results, errors from the trailer frame, and one read from the (exposed)
    // grpc-status response header.
    const web = value(await step(page, "grpcWeb", "browser-grpc-web"));
    expect(BigInt(web.tasks)).toBeGreaterThanOrEqual(4n);
    expect((await node.tasks.getTask({ taskId: web.taskId })).task?.spec?.queue).toBe("browser-grpc-web");
    expect(web.missing).toEqual({ code: "NotFound", reason: "RUN_NOT_FOUND" });
    expect(web.unknownPath.code).toBe("Unimplemented");
    expect(traffic.requests.filter((r) => r.contentType.startsWith("application/grpc-web")).length).toBeGreaterThanOrEqual(3);

    expect(traffic.corsErrors).toEqual([]);
    await page.close();
  });

  it("fails in the page, with CORS errors, when the server does not list the page's origin", { timeout: 120_000 }, async () => {
    const { page, traffic } = await openPage(browser, pages.origin, otherOrigin);
    const node = connectJson(otherOrigin.port);

    const submitted = await step(page, "submit", "browser-refused");
    expect(submitted.ok).toBe(false);
    if (!submitted.ok) expect(submitted.message).toMatch(/Failed to fetch/);
    const reads = await step(page, "reads", "01890000-0000-7000-8000-000000000001");
    expect(reads.ok).toBe(false);
    const watch = await step(page, "startWatch", "browser-refused");
    expect(watch.ok).toBe(false);
    const web = await step(page, "grpcWeb", "browser-refused");
    expect(web.ok).toBe(false);
    if (!web.ok) expect(web.message).toMatch(/Failed to fetch/);

    // Blocked by the browser, not lost on the network: the preflights were refused (403, no
    // Allow-Origin), and the read the browser sent without one (a Connect GET is a "simple"
    // request) was answered without Allow-Origin, so the page could not read it.
    expect(traffic.corsErrors).toContain("PreflightMissingAllowOriginHeader");
    expect(traffic.corsErrors).toContain("MissingAllowOriginHeader");
    // Nothing the page asked for was done.
    expect((await node.tasks.listTasks({ queue: "browser-refused" })).tasks).toEqual([]);
    await page.close();
  });
});
