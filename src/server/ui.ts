/**
 * The dashboard's files on the main port (docs/dashboard.md). The dashboard itself (ui/) is a
 * client of the public API over connect-web; `scripts/build-ui.mjs` bundles it into
 * `dist/ui/` at install time (`npm ci` runs `prepare`) and whenever `npm start` finds it stale.
 *
 * - GET/HEAD `/ui/` answers index.html, `/ui/<file>` the built file; `/ui` redirects to `/ui/`.
 * - GET `/` from a browser (Accept includes text/html) redirects to `/ui/`; API clients
 *   never send that, so nothing else about `/` changes.
 * - The files are read into memory once, at start-up (a few hundred kilobytes): no file
 *   system access per request, so no request path can reach outside the directory.
 * - Public, like GET /metrics: the files hold no data. The API calls the page makes carry
 *   the caller's token and are checked like every other call.
 * - Every answer carries a strict Content-Security-Policy (only this origin: no inline
 *   script, no framing), nosniff and no-referrer; files are revalidated by ETag
 *   (`cache-control: no-cache`), as their names do not change between builds.
 * - Not built (no dist/ui/index.html): `/ui/` answers 503 with how to build it, and start-up
 *   logs a warning. `--ui false` turns all of this off.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type NodeRequest, type NodeResponse, writeHead } from "./node-http.js";

type Handler = (req: NodeRequest, res: NodeResponse) => void;

/** Where the dashboard is served. */
export const UI_PATH = "/ui/";

/** dist/ui of this checkout, from src/server (tsx) and from dist/server (built) alike. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL("../../dist/ui/", import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/** One file, ready to answer. */
interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

/** The dashboard's files by request path (`/ui/`, `/ui/app.js`, …); empty when not built. */
export class UiAssets {
  readonly #files: ReadonlyMap<string, Asset>;
  readonly dir: string;

  private constructor(dir: string, files: ReadonlyMap<string, Asset>) {
    this.dir = dir;
    this.#files = files;
  }

  /** Reads every file under `dir` (recursively, dot files aside); none when `dir` has no index.html. */
  static load(dir: string = DEFAULT_UI_DIR): UiAssets {
    const files = new Map<string, Asset>();
    if (existsSync(join(dir, "index.html"))) {
      const walk = (sub: string) => {
        for (const name of readdirSync(join(dir, sub)).sort()) {
          if (name.startsWith(".")) continue; // .build-stamp (scripts/start-build.mjs) and the like
          const rel = sub === "" ? name : `${sub}/${name}`;
          const full = join(dir, rel);
          if (statSync(full).isDirectory()) walk(rel);
          else {
            const body = readFileSync(full);
            const contentType = CONTENT_TYPES[extname(name).toLowerCase()] ?? "application/octet-stream";
            files.set(`${UI_PATH}${rel}`, { body, contentType, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` });
          }
        }
      };
      walk("");
      const index = files.get(`${UI_PATH}index.html`);
      if (index) files.set(UI_PATH, index);
    }
    return new UiAssets(dir, files);
  }

  /** Whether the dashboard was built. */
  get built(): boolean {
    return this.#files.has(UI_PATH);
  }

  /** The file answering `path`, if any. */
  get(path: string): Asset | undefined {
    return this.#files.get(path);
  }
}

function pathOf(req: NodeRequest): string {
  const url = req.url ?? "";
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

function answerText(res: NodeResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  writeHead(res, status, { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8", "content-length": String(Buffer.byteLength(text)), "cache-control": "no-store", ...extra });
  res.end(text);
}

function redirect(res: NodeResponse, status: 301 | 302, location: string): void {
  writeHead(res, status, { location, "content-length": "0", "cache-control": "no-store" });
  res.end();
}

function serve(assets: UiAssets, path: string, req: NodeRequest, res: NodeResponse): void {
  if (req.method !== "GET" && req.method !== "HEAD") {
    answerText(res, 405, "the dashboard's files answer GET and HEAD only\n", { allow: "GET, HEAD" });
    return;
  }
  if (!assets.built) {
    answerText(res, 503, `the dashboard is not built (no ${join(assets.dir, "index.html")}): run npm run build:ui\n`);
    return;
  }
  const asset = assets.get(path);
  if (!asset) {
    answerText(res, 404, `no such file: ${path}\n`);
    return;
  }
  const common = { ...SECURITY_HEADERS, "content-type": asset.contentType, etag: asset.etag, "cache-control": "no-cache" };
  if (req.headers["if-none-match"] === asset.etag) {
    writeHead(res, 304, common);
    res.end();
    return;
  }
  writeHead(res, 200, { ...common, "content-length": String(asset.body.length) });
  if (req.method === "HEAD") res.end();
  else res.end(asset.body);
}

/** Wraps the main port's handler: the dashboard's paths are answered here, the rest go to `next`. */
export function withUi(assets: UiAssets, next: Handler): Handler {
  return (req, res) => {
    const path = pathOf(req);
    if (path.startsWith(UI_PATH)) serve(assets, path, req, res);
    else if (path === "/ui" && (req.method === "GET" || req.method === "HEAD")) redirect(res, 301, UI_PATH);
    else if (path === "/" && req.method === "GET" && String(req.headers.accept ?? "").includes("text/html")) redirect(res, 302, UI_PATH);
    else next(req, res);
  };
}
