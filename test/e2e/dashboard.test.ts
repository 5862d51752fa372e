/**
 * The dashboard (ui/, served by the server at /ui/) in headless Chromium (Debian's
 * /usr/bin/chromium, driven by puppeteer-core) against real server processes. Each scenario
 * acts through the API (the Connect JSON client) and the page, and checks both:
 *  1. the overview lists a queue created through the API, with its counts and the
 *     throughput / failure-rate charts fed by WatchRuns (backfill, then live);
 *  2. a run submitted through the API appears in the runs view without a reload;
 *  3. the run page shows both attempts after a worker fails the run once (retryable) and then
 *     completes it, with the error text and the output;
 *  4. "cancel run" on the run page (a real modal dialog: Escape closes it and gives focus
 *     back, then confirm) cancels a READY run, as GetRun says;
 *  5. with an auth file: the token form, a reader sees no cancel button, and a CancelRun the
 *     page forges with the reader's token is refused PERMISSION_DENIED; sign out forgets it;
 *  6. the concurrency keys view shows a held key with its holder and free slots;
 *  7. the page survives a server restart (same data directory and port): the indicator goes
 *     "reconnecting" then "live", and a run submitted after the restart appears unreloaded.
 * Each writes a screenshot to docs/dashboard/ at a fixed viewport (1280×800; phone 390×844).
 * Nothing waits on time: every wait is for a DOM or API condition, with generous deadlines.
 * No page error and no Content-Security-Policy violation may happen anywhere.
 * Skipped, saying why, only when /usr/bin/chromium is absent.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "@connectrpc/connect";
import type { Browser, Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ActionQueueClients, AttemptOutcome, RunState, type WorkerService } from "../../clients/typescript/src/index.js";
import { tempDir } from "../support/engine.js";
import { CHROMIUM, HAVE_CHROMIUM, launchChromium, warnWithoutChromium } from "../support/chromium.js";
import { connectJson, type ServerProcess, startServer } from "../support/server.js";

const ROOT = join(import.meta.dirname, "..", "..");
const SHOTS = join(ROOT, "docs", "dashboard");
const DEADLINE_MS = 30_000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 1 };
// A short shutdown grace keeps the restart quick; it changes nothing the test checks.
const GRACE = ["--shutdown-grace", "1s"];
const payload = (text: string) => ({ data: new TextEncoder().encode(text), contentType: "text/plain" });
const sel = (testid: string, extra = "") => `[data-testid="${testid}"]${extra}`;

warnWithoutChromium("dashboard.test.ts");

// The few DOM names the functions run in the page use (the suite's tsconfig has no DOM library).
interface DomElement {
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  hasAttribute(name: string): boolean;
  closest(selector: string): DomElement | null;
  blur(): void;
}
declare const document: {
  querySelector(selector: string): DomElement | null;
  querySelectorAll(selector: string): { readonly length: number };
  readonly activeElement: DomElement | null;
  readonly documentElement: { readonly scrollWidth: number };
};
declare const sessionStorage: { getItem(key: string): string | null };
declare const localStorage: { getItem(key: string): string | null };

/** Problems a page reported: uncaught errors and CSP violations (none are allowed). */
const problems: string[] = [];

/** A new page at the desktop viewport, its problems recorded. */
async function newPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport(DESKTOP);
  page.on("pageerror", (e) => problems.push(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`csp: ${m.text()}`);
  });
  return page;
}

/** Opens the dashboard of `server` at `hash` and waits for the app to render its header. */
async function open(page: Page, server: ServerProcess, hash = ""): Promise<void> {
  await page.goto(`${server.url}/ui/${hash}`, { waitUntil: "load" });
  await page.waitForSelector(sel("connection"), { timeout: DEADLINE_MS });
}

/** Waits until `selector` exists (and returns its text). */
async function textOf(page: Page, selector: string): Promise<string> {
  const el = await page.waitForSelector(selector, { timeout: DEADLINE_MS });
  return (await el?.evaluate((e) => e.textContent ?? "")) ?? "";
}

/** Waits until the element at `selector` has text matching `re`. */
async function waitText(page: Page, selector: string, re: RegExp): Promise<void> {
  await page.waitForFunction((s, src, flags) => new RegExp(src, flags).test(document.querySelector(s)?.textContent ?? ""), { timeout: DEADLINE_MS }, selector, re.source, re.flags);
}

/** A screenshot of the viewport into docs/dashboard/<name>.png. */
async function shot(page: Page, name: string): Promise<void> {
  // The heading's focus (moved there on navigation) and the caret do not belong in a picture.
  await page.evaluate(() => document.activeElement?.blur());
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Leases one run of `queue` (long poll) with its attempt started. */
async function lease(workers: Client<typeof WorkerService>, queue: string, opts: object = {}) {
  const r = await workers.leaseRuns({ queues: [queue], workerId: "dash-worker", maxRuns: 1, leaseDuration: { seconds: 60n }, wait: { seconds: 20n }, startAttempt: true }, opts);
  const leased = r.runs[0];
  if (leased?.run === undefined || leased.attempt === undefined) throw new Error(`no run leased from ${queue}`);
  return { runId: leased.run.id, leaseToken: leased.leaseToken, attemptId: leased.attempt.id };
}

/** Submits one task to `queue`; returns its task and first run id. */
async function submit(api: ActionQueueClients, queue: string, extra: object = {}, opts: object = {}): Promise<{ taskId: string; runId: string }> {
  const r = await api.tasks.submitTask({ spec: { queue, payload: payload(`job for ${queue}`), ...extra } }, opts);
  return { taskId: r.task?.id ?? "", runId: r.runs[0]?.id ?? "" };
}

describe.skipIf(!HAVE_CHROMIUM)(HAVE_CHROMIUM ? "the dashboard in headless Chromium" : `the dashboard (SKIPPED: ${CHROMIUM} not found)`, () => {
  let browser: Browser;
  let server: ServerProcess;
  let api: ActionQueueClients;
  const dataDirs: string[] = [];

  beforeAll(async () => {
    const built = spawnSync(process.execPath, [join(ROOT, "scripts", "build-ui.mjs")], { cwd: ROOT, encoding: "utf8" });
    if (built.status !== 0) throw new Error(`build-ui failed: ${built.stderr}${built.stdout}`);
    mkdirSync(SHOTS, { recursive: true });
    server = await startServer({ keepData: true, args: GRACE });
    dataDirs.push(server.dataDir);
    api = connectJson(server.port);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.cleanup();
    for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
    expect(problems).toEqual([]);
  }, 60_000);

  it("1. the overview lists a queue created through the API, with counts and charts (backfill, then live)", { timeout: 120_000 }, async () => {
    const q = "dash-overview";
    // Two runs completed and one failed before the page opens (the backfill must find them)…
    for (let i = 0; i < 3; i++) await submit(api, q, { constraints: { maxAttempts: 1 } });
    for (const outcome of [AttemptOutcome.SUCCESS, AttemptOutcome.SUCCESS, AttemptOutcome.TERMINAL_FAILURE]) {
      const l = await lease(api.workers, q);
      await api.workers.completeAttempt({ ...l, outcome, error: outcome === AttemptOutcome.SUCCESS ? "" : "bad input" });
    }
    // …and one left READY.
    await submit(api, q);
    const stats = await api.admin.getStats({ queues: [q] });
    expect(stats.queues.map((s) => s.queue?.name)).toEqual([q]);
    expect(stats.queues[0]?.runs).toMatchObject({ ready: 1n, completed: 2n, failed: 1n });

    const page = await newPage(browser);
    await open(page, server);
    const card = sel("queue-card", `[data-queue="${q}"]`);
    await page.waitForSelector(card, { timeout: DEADLINE_MS });
    expect(await textOf(page, `${card} ${sel("count-READY")}`)).toBe("1");
    expect(await textOf(page, `${card} ${sel("count-COMPLETED")}`)).toBe("2");
    expect(await textOf(page, `${card} ${sel("queue-status")}`)).toBe("dispatching");
    expect(BigInt(await textOf(page, sel("revision")))).toBeGreaterThanOrEqual(stats.revision);
    await waitText(page, `${card} ${sel("chart-throughput")} figcaption`, /Throughput: 2 completed/);
    await waitText(page, `${card} ${sel("chart-failures")} figcaption`, /Failure rate: 33\.3%/);
    // Live: one more completion moves the chart without a reload.
    const l = await lease(api.workers, q);
    await api.workers.completeAttempt({ ...l, outcome: AttemptOutcome.SUCCESS, output: new TextEncoder().encode("ok") });
    await waitText(page, `${card} ${sel("chart-throughput")} figcaption`, /Throughput: 3 completed/);
    await waitText(page, `${card} ${sel("count-COMPLETED")}`, /^3$/);
    expect(await page.$$eval(`${card} canvas`, (c) => c.length)).toBeGreaterThanOrEqual(2);
    expect(await textOf(page, sel("connection"))).toMatch(/live/);
    await shot(page, "overview");

    // A phone: nothing wider than the screen but the tables' own scrolling frames.
    // (Switching to a mobile viewport reloads the page: the charts fill again from the backfill.)
    await page.setViewport(PHONE);
    await waitText(page, `${card} ${sel("chart-throughput")} figcaption`, /Throughput: 3 completed/);
    await page.waitForFunction(() => document.documentElement.scrollWidth <= 390, { timeout: DEADLINE_MS });
    await shot(page, "overview-phone");
    await page.close();
  });

  it("2. a run submitted through the API appears in the runs view without a reload", { timeout: 120_000 }, async () => {
    const q = "dash-runs";
    const first = await submit(api, q);
    const page = await newPage(browser);
    await open(page, server, `#/runs?queue=${q}`);
    await page.waitForSelector(sel("run-row", `[data-run-id="${first.runId}"]`), { timeout: DEADLINE_MS });
    await waitText(page, sel("runs-live"), /live/);
    await page.evaluate(() => ((globalThis as { __noReload?: boolean }).__noReload = true));

    const second = await submit(api, q);
    const row = sel("run-row", `[data-run-id="${second.runId}"]`);
    await page.waitForSelector(row, { timeout: DEADLINE_MS });
    expect(await page.$eval(row, (e) => e.getAttribute("data-state"))).toBe("READY");
    // In id order, after the first; and a state change shows up in place.
    expect(await page.$$eval(sel("run-row"), (rows) => rows.map((r) => r.getAttribute("data-run-id")))).toEqual([first.runId, second.runId]);
    await api.runs.cancelRun({ runId: first.runId });
    await page.waitForSelector(sel("run-row", `[data-run-id="${first.runId}"][data-state="CANCELED"]`), { timeout: DEADLINE_MS });
    expect(await page.evaluate(() => (globalThis as { __noReload?: boolean }).__noReload)).toBe(true);
    const listed = await api.runs.listRuns({ queue: q });
    expect(listed.runs.map((r) => [r.id, r.state])).toEqual([
      [first.runId, RunState.CANCELED],
      [second.runId, RunState.READY],
    ]);
    await shot(page, "runs");
    await page.close();
  });

  it("3. the run page shows both attempts after a retryable failure and a success", { timeout: 120_000 }, async () => {
    const q = "dash-attempts";
    const { runId } = await submit(api, q, { constraints: { maxAttempts: 3, backoff: { fixed: { interval: { nanos: 100_000_000 } } } } });
    const page = await newPage(browser);
    await open(page, server, `#/runs/${runId}`);
    await waitText(page, sel("run-state"), /^READY$/);

    const first = await lease(api.workers, q);
    expect(first.runId).toBe(runId);
    await api.workers.completeAttempt({ ...first, outcome: AttemptOutcome.RETRYABLE_FAILURE, error: "connection reset by peer" });
    // The long poll hands the run out again once its backoff is over.
    const second = await lease(api.workers, q);
    expect(second.runId).toBe(runId);
    await api.workers.completeAttempt({ ...second, outcome: AttemptOutcome.SUCCESS, output: new TextEncoder().encode("sent 3 emails") });

    await waitText(page, sel("run-state"), /^COMPLETED$/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="attempt-row"]').length === 2, { timeout: DEADLINE_MS });
    const rows = await page.$$eval(sel("attempt-row"), (trs) =>
      trs.map((tr) => ({ n: tr.getAttribute("data-number"), outcome: tr.getAttribute("data-outcome"), text: tr.textContent ?? "" })),
    );
    expect(rows.map((r) => [r.n, r.outcome])).toEqual([
      ["1", "RETRYABLE_FAILURE"],
      ["2", "SUCCESS"],
    ]);
    expect(rows[0]?.text).toContain("connection reset by peer");
    expect(rows[1]?.text).toContain("sent 3 emails");
    expect(await page.$eval(`${sel("attempt-row", '[data-number="2"]')} ${sel("attempt-output")}`, (e) => e.getAttribute("data-kind"))).toBe("text");
    // The timeline ends with the completion and stops watching.
    await page.waitForSelector(sel("timeline-event", '[data-to-state="COMPLETED"]'), { timeout: DEADLINE_MS });
    await waitText(page, sel("timeline-status"), /complete/);
    const states = await page.$$eval(sel("timeline-event"), (li) => li.map((e) => e.getAttribute("data-to-state")));
    expect(states).toEqual(["READY", "LEASED", "RUNNING", "RETRY_WAIT", "READY", "LEASED", "RUNNING", "COMPLETED"]);

    const got = await api.runs.getRun({ runId });
    expect(got.run?.state).toBe(RunState.COMPLETED);
    expect(got.attempts.map((a) => a.outcome)).toEqual([AttemptOutcome.RETRYABLE_FAILURE, AttemptOutcome.SUCCESS]);
    await shot(page, "run-detail");
    await page.close();
  });

  it("4. cancel on the run page cancels a READY run, behind a keyboard-usable confirm dialog", { timeout: 120_000 }, async () => {
    const { runId } = await submit(api, "dash-cancel");
    const page = await newPage(browser);
    await open(page, server, `#/runs/${runId}`);
    await waitText(page, sel("run-state"), /^READY$/);

    // Escape closes the dialog without doing anything, and focus returns to the button.
    await page.click(sel("cancel-run"));
    await page.waitForSelector(`${sel("cancel-run-dialog")}[open]`, { timeout: DEADLINE_MS });
    expect(await page.evaluate(() => document.activeElement?.closest("dialog")?.getAttribute("data-testid"))).toBe("cancel-run-dialog");
    await page.keyboard.press("Escape");
    await page.waitForFunction(() => !document.querySelector('[data-testid="cancel-run-dialog"]')?.hasAttribute("open"), { timeout: DEADLINE_MS });
    await page.waitForFunction(() => document.activeElement?.getAttribute("data-testid") === "cancel-run", { timeout: DEADLINE_MS });
    expect((await api.runs.getRun({ runId })).run?.state).toBe(RunState.READY);

    await page.click(sel("cancel-run"));
    await page.waitForSelector(`${sel("cancel-run-dialog")}[open]`, { timeout: DEADLINE_MS });
    await page.click(`${sel("cancel-run-dialog")} ${sel("confirm-ok")}`);
    await waitText(page, sel("run-state"), /^CANCELED$/);
    expect(await page.$eval(sel("cancel-run-dialog"), (d) => d.hasAttribute("open"))).toBe(false);
    expect(await page.$eval(sel("cancel-run"), (b) => (b as unknown as { disabled: boolean }).disabled)).toBe(true);
    const got = await api.runs.getRun({ runId });
    expect(got.run?.state).toBe(RunState.CANCELED);
    expect(got.run?.stateReason).toBe("CANCELED_BY_USER");
    await page.close();
  });

  it("5. with an auth file: a token form, no cancel button for a reader, and its forged CancelRun refused", { timeout: 120_000 }, async () => {
    const dir = tempDir("aq-dash-auth-");
    dataDirs.push(dir);
    const token = (name: string) => `aq-test-${name}-token`;
    const digest = (t: string) => `sha256:${createHash("sha256").update(t, "utf8").digest("hex")}`;
    const authFile = join(dir, "auth.json");
    writeFileSync(
      authFile,
      JSON.stringify({
        tokens: [
          { name: "dash-admin", digest: digest(token("dash-admin")), role: "admin" },
          { name: "dash-reader", digest: digest(token("dash-reader")), role: "reader" },
        ],
      }),
    );
    const secured = await startServer({ args: ["--auth-file", authFile, ...GRACE] });
    try {
      const c = connectJson(secured.port);
      const as = (name: string) => ({ headers: { authorization: `Bearer ${token(name)}` } });
      const { runId } = await submit(c, "dash-auth", {}, as("dash-admin"));

      const page = await newPage(browser);
      await open(page, secured, `#/runs/${runId}`);
      await page.waitForSelector(sel("token-form"), { timeout: DEADLINE_MS });
      await shot(page, "token-entry");
      await page.type(sel("token-input"), token("dash-reader"));
      await page.click(sel("token-submit"));
      await waitText(page, sel("whoami"), /dash-reader · reader · all queues/);
      await waitText(page, sel("run-state"), /^READY$/);
      // Everything a reader may read is there; no action it may not take is.
      await page.waitForSelector(sel("task-panel"), { timeout: DEADLINE_MS });
      for (const action of ["cancel-run", "suspend-run", "resume-run", "set-priority", "cancel-task"]) expect(await page.$(sel(action))).toBeNull();
      expect(await page.evaluate(() => sessionStorage.getItem("actionqueue.token"))).toBe(token("dash-reader"));
      expect(await page.evaluate(() => localStorage.getItem("actionqueue.token"))).toBeNull();

      // The server is the one that says no: the same call, forged from the page with its token.
      const forged = await page.evaluate(async (id) => {
        const res = await fetch("/actionqueue.v1.RunService/CancelRun", {
          method: "POST",
          headers: { "content-type": "application/json", "connect-protocol-version": "1", authorization: `Bearer ${sessionStorage.getItem("actionqueue.token") ?? ""}` },
          body: JSON.stringify({ runId: id }),
        });
        return { status: res.status, body: (await res.json()) as { code?: string; details?: Array<{ type?: string; debug?: { reason?: string } }> } };
      }, runId);
      expect(forged.status).toBe(403);
      expect(forged.body.code).toBe("permission_denied");
      expect((await c.runs.getRun({ runId }, as("dash-admin"))).run?.state).toBe(RunState.READY);

      // Sign out forgets the token and asks again.
      await page.click(sel("sign-out"));
      await page.waitForSelector(sel("token-form"), { timeout: DEADLINE_MS });
      expect(await page.evaluate(() => sessionStorage.getItem("actionqueue.token"))).toBeNull();
      // A wrong token is refused with the server's words.
      await page.type(sel("token-input"), token("dash-nobody"));
      await page.click(sel("token-submit"));
      await waitText(page, sel("token-error"), /UNAUTHENTICATED/);
      await page.close();
    } finally {
      await secured.cleanup();
    }
  });

  it("6. the keys view shows a held concurrency key with its holder and free slots", { timeout: 120_000 }, async () => {
    const q = "dash-keys";
    const key = "tenant-42";
    const { runId } = await submit(api, q, { constraints: { concurrency: { key, slots: 2 } } });
    const held = await lease(api.workers, q);
    expect(held.runId).toBe(runId);
    const info = await api.admin.getConcurrencyKey({ key });
    expect(info.key?.holders.map((h) => h.runId)).toEqual([runId]);

    const page = await newPage(browser);
    await open(page, server, "#/keys");
    const row = sel("key-row", `[data-key="${key}"]`);
    await page.waitForSelector(`${sel("keys-table")} ${row}`, { timeout: DEADLINE_MS });
    expect(await textOf(page, `${sel("keys-table")} ${row} ${sel("key-free")}`)).toBe("1");
    expect(await page.$$eval(`${sel("keys-table")} ${row} a`, (as) => as.map((a) => a.getAttribute("href")))).toContain(`#/runs/${runId}`);
    // Lookup by name.
    await page.type(sel("key-lookup"), key);
    await page.click(sel("key-lookup-go"));
    await page.waitForSelector(`${sel("key-lookup-table")} ${row}`, { timeout: DEADLINE_MS });
    await shot(page, "keys");
    await api.workers.completeAttempt({ ...held, outcome: AttemptOutcome.SUCCESS });
    await page.waitForFunction((s) => document.querySelector(s) === null, { timeout: DEADLINE_MS }, `${sel("keys-table")} ${row}`);
    expect((await api.admin.getConcurrencyKey({ key })).key?.holders ?? []).toEqual([]);
    await page.close();
  });

  it("7. survives a server restart and resumes live updates", { timeout: 180_000 }, async () => {
    const q = "dash-restart";
    const before = await submit(api, q);
    const page = await newPage(browser);
    await open(page, server, `#/runs?queue=${q}`);
    await page.waitForSelector(sel("run-row", `[data-run-id="${before.runId}"]`), { timeout: DEADLINE_MS });
    await waitText(page, sel("runs-live"), /live/);
    await page.evaluate(() => ((globalThis as { __noReload?: boolean }).__noReload = true));

    const { port, dataDir } = server;
    expect(await server.stop("SIGTERM")).toBe(0);
    await page.waitForSelector(sel("connection", '[data-state="reconnecting"]'), { timeout: DEADLINE_MS });
    server = await startServer({ dataDir, keepData: true, args: [...GRACE, "--listen", `127.0.0.1:${port}`] });
    expect(server.port).toBe(port);
    api = connectJson(server.port);

    await page.waitForSelector(sel("connection", '[data-state="live"]'), { timeout: DEADLINE_MS });
    const after = await submit(api, q);
    await page.waitForSelector(sel("run-row", `[data-run-id="${after.runId}"]`), { timeout: DEADLINE_MS });
    expect(await page.evaluate(() => (globalThis as { __noReload?: boolean }).__noReload)).toBe(true);
    expect((await api.runs.listRuns({ queue: q })).runs.map((r) => r.id)).toEqual([before.runId, after.runId]);
    await page.close();
  });
});
