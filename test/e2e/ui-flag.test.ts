/**
 * The dashboard on a real server process: the start-up line names its URL, browsers asking
 * for / are sent there, its page is served with the API on the same port (HTTP/1.1 and
 * HTTP/2), and --ui false takes all of it away without touching the API.
 */
import http2 from "node:http2";
import { describe, expect, it } from "vitest";
import { startServer } from "../support/server.js";

function h2get(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | undefined; location: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on("error", reject);
    const req = session.request({ ":method": "GET", ":path": path, ...headers });
    let body = "";
    let head: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader = {};
    req.setEncoding("utf8");
    req.on("response", (h) => (head = h));
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      session.close();
      resolve({ status: Number(head[":status"]), type: head["content-type"], location: head.location, body });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the dashboard on the server", () => {
  it("is served at /ui/ over HTTP/1.1 and HTTP/2, browsers are redirected there, and the start-up line names it", { timeout: 60_000 }, async () => {
    const server = await startServer();
    try {
      const serving = server.logs.map((l) => JSON.parse(l) as { msg?: string; dashboard?: string }).find((l) => l.dashboard !== undefined);
      expect(serving?.dashboard).toBe(`http://127.0.0.1:${server.port}/ui/`);
      expect(serving?.msg).toBe("serving");

      const page = await fetch(`${server.url}/ui/`);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(await page.text()).toMatch(/<script[^>]+src="[^"]*app\.js"/);
      const h2 = await h2get(server.url, "/ui/");
      expect([h2.status, h2.type]).toEqual([200, "text/html; charset=utf-8"]);

      const root = await fetch(`${server.url}/`, { headers: { accept: "text/html" }, redirect: "manual" });
      expect([root.status, root.headers.get("location")]).toEqual([302, "/ui/"]);
      // The API on the same port is unchanged.
      const stats = await fetch(`${server.url}/actionqueue.v1.AdminService/GetStats`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(stats.status).toBe(200);
    } finally {
      await server.cleanup();
    }
  });

  it("--ui false serves no dashboard and redirects nothing; the API answers as before", { timeout: 60_000 }, async () => {
    const server = await startServer({ args: ["--ui", "false"] });
    try {
      const serving = server.logs.map((l) => JSON.parse(l) as { msg?: string; dashboard?: string }).find((l) => l.msg === "serving");
      expect(serving).toBeDefined();
      expect(serving?.dashboard).toBeUndefined();
      const page = await fetch(`${server.url}/ui/`);
      expect(page.status).toBe(404);
      const root = await fetch(`${server.url}/`, { headers: { accept: "text/html" }, redirect: "manual" });
      expect(root.status).toBe(404);
      const h2 = await h2get(server.url, "/ui/app.js");
      expect(h2.status).not.toBe(200);
      const stats = await fetch(`${server.url}/actionqueue.v1.AdminService/GetStats`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(stats.status).toBe(200);
    } finally {
      await server.cleanup();
    }
  });

  it("refuses a bad --ui value at start-up with one line", { timeout: 60_000 }, async () => {
    await expect(startServer({ args: ["--ui", "maybe"] })).rejects.toThrow(/ui: "maybe" must be true or false/);
  });
});
