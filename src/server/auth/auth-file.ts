/**
 * The auth file: JSON (no YAML parser is a dependency), read once at start-up. Every error
 * is one line naming the file and the entry (`AuthFileError`); main.ts prints it and exits 2.
 *
 * ```json
 * {
 *   "roles": { "operator": ["actionqueue.v1.AdminService/*", "actionqueue.v1.RunService/CancelRun"] },
 *   "tokens": [
 *     { "name": "billing-worker", "digest": "sha256:<64 hex>", "role": "worker", "queues": ["billing"] }
 *   ]
 * }
 * ```
 * Tokens are stored as SHA-256 digests of the token text (`node scripts/token-digest.mjs`);
 * the file never holds a token. An entry may instead name a TLS client certificate by its
 * SHA-256 fingerprint (`"certificate": "sha256:AB:CD:…"`, mutual TLS: see peer.ts); the
 * server then asks TLS clients for a certificate.
 */
import { readFileSync } from "node:fs";
import { BUILTIN_ROLES, type BuiltinRole, builtinMethods, expandPattern, roleMethods } from "./policy.js";

/** Raised for an unreadable or invalid auth file; the message is one line. */
export class AuthFileError extends Error {
  override readonly name = "AuthFileError";
}

/** One token entry, compiled. */
export interface TokenEntry {
  /** For logs and error metadata; never the token. */
  readonly name: string;
  /** `token`: `digest` is the SHA-256 of a bearer token; `certificate`: the SHA-256 fingerprint of a TLS client certificate. */
  readonly kind: "token" | "certificate";
  /** 32 bytes: the token's SHA-256 digest, or the client certificate's SHA-256 fingerprint. */
  readonly digest: Buffer;
  readonly role: string;
  /** The methods the role may call (full names). */
  readonly methods: ReadonlySet<string>;
  /** The queues the token is limited to; null: every queue. */
  readonly queues: ReadonlySet<string> | null;
}

/** A validated auth file. */
export interface AuthFile {
  readonly tokens: readonly TokenEntry[];
}

/** Queue names as the engine accepts them (proto: [A-Za-z0-9._:-]{1,128}). */
const QUEUE_NAME = /^[A-Za-z0-9._:-]{1,128}$/;
const DIGEST = /^sha256:([0-9a-f]{64})$/i;
/** A certificate fingerprint: as `openssl x509 -fingerprint -sha256` prints it, or plain hex. */
const FINGERPRINT = /^sha256:((?:[0-9a-f]{2}:){31}[0-9a-f]{2}|[0-9a-f]{64})$/i;
const ROLE_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Validates the text of an auth file; `source` names it in errors. Throws AuthFileError. */
export function parseAuthFile(text: string, source: string): AuthFile {
  const fail = (what: string): never => {
    throw new AuthFileError(`auth file ${source}: ${what}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    fail(`not valid JSON (${(e instanceof Error ? e.message : String(e)).split("\n")[0]})`);
  }
  if (!isObject(doc)) return fail("must be a JSON object with \"tokens\" (and optionally \"roles\")");
  for (const k of Object.keys(doc)) if (k !== "roles" && k !== "tokens") fail(`unknown key "${k}" (expected "roles", "tokens")`);

  const roles = new Map<string, ReadonlySet<string>>();
  for (const r of BUILTIN_ROLES) roles.set(r, builtinMethods(r as BuiltinRole));
  const custom = doc.roles ?? {};
  if (!isObject(custom)) fail(`"roles" must be an object of role name -> list of methods`);
  for (const [name, list] of Object.entries(custom as Record<string, unknown>)) {
    const at = `roles.${name}`;
    if (roles.has(name)) fail(`${at}: "${name}" is a built-in role and cannot be redefined`);
    if (!ROLE_NAME.test(name)) fail(`${at}: a role name is 1 to 64 of a-z, 0-9, "_" and "-", starting with a letter`);
    if (!Array.isArray(list) || list.length === 0) fail(`${at}: must be a non-empty list of methods ("package.Service/Method" or "package.Service/*")`);
    const methods = new Set<string>();
    (list as unknown[]).forEach((p, i) => {
      const names = typeof p === "string" ? expandPattern(p) : null;
      if (!names) fail(`${at}[${i}]: ${JSON.stringify(p)} names no method (expected e.g. "actionqueue.v1.AdminService/GetStats" or "actionqueue.v1.RunService/*")`);
      for (const n of names as string[]) methods.add(n);
    });
    // Plus the methods every valid token may call (GetCaller), listed or not.
    roles.set(name, roleMethods(methods));
  }

  if (!Array.isArray(doc.tokens) || doc.tokens.length === 0) fail(`"tokens" must be a non-empty list`);
  const names = new Set<string>();
  const digests = new Set<string>();
  const tokens = (doc.tokens as unknown[]).map((t, i): TokenEntry => {
    let at = `tokens[${i}]`;
    if (!isObject(t)) return fail(`${at}: must be an object with "name", "digest" (or "certificate"), "role" and optional "queues"`);
    if (typeof t.name === "string" && t.name !== "") at += ` ("${t.name}")`;
    for (const k of Object.keys(t)) if (!["name", "digest", "certificate", "role", "queues"].includes(k)) fail(`${at}: unknown key "${k}" (expected "name", "digest" or "certificate", "role", "queues")`);
    if (typeof t.name !== "string" || t.name.trim() === "" || t.name.length > 128) fail(`${at}: "name" must be a non-empty string of at most 128 characters`);
    const name = t.name as string;
    if (names.has(name)) fail(`${at}: the name "${name}" is used twice`);
    names.add(name);
    if ((t.digest === undefined) === (t.certificate === undefined)) fail(`${at}: give exactly one of "digest" (a bearer token's) and "certificate" (a TLS client certificate's fingerprint)`);
    const kind = t.digest !== undefined ? "token" : "certificate";
    let hex: string;
    if (kind === "token") {
      const m = typeof t.digest === "string" ? DIGEST.exec(t.digest) : null;
      if (!m) fail(`${at}: "digest" must be "sha256:" followed by 64 hex digits (the SHA-256 of the token; see scripts/token-digest.mjs) — never the token itself`);
      hex = ((m as RegExpExecArray)[1] as string).toLowerCase();
    } else {
      const m = typeof t.certificate === "string" ? FINGERPRINT.exec(t.certificate) : null;
      if (!m) fail(`${at}: "certificate" must be "sha256:" followed by the certificate's SHA-256 fingerprint (openssl x509 -noout -fingerprint -sha256 -in cert.pem)`);
      hex = ((m as RegExpExecArray)[1] as string).replaceAll(":", "").toLowerCase();
    }
    if (digests.has(`${kind}:${hex}`)) fail(`${at}: the same ${kind === "token" ? "digest" : "certificate"} appears twice`);
    digests.add(`${kind}:${hex}`);
    if (typeof t.role !== "string") fail(`${at}: "role" must be a string (one of ${[...roles.keys()].join(", ")})`);
    const methods = roles.get(t.role as string);
    if (!methods) fail(`${at}: role "${String(t.role)}" is not defined (one of ${[...roles.keys()].join(", ")})`);
    let queues: Set<string> | null = null;
    if (t.queues !== undefined) {
      if (!Array.isArray(t.queues) || t.queues.length === 0) fail(`${at}: "queues" must be a non-empty list of queue names (leave it out for every queue)`);
      queues = new Set();
      for (const q of t.queues as unknown[]) {
        if (typeof q !== "string" || !QUEUE_NAME.test(q)) fail(`${at}: queue ${JSON.stringify(q)} is not a queue name ([A-Za-z0-9._:-]{1,128})`);
        queues.add(q as string);
      }
    }
    return { name, kind, digest: Buffer.from(hex, "hex"), role: t.role as string, methods: methods as ReadonlySet<string>, queues };
  });
  return { tokens };
}

/** Reads and validates the auth file at `path`. Throws AuthFileError. */
export function loadAuthFile(path: string): AuthFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new AuthFileError(`auth file ${path}: cannot be read (${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : (code ?? String(e))})`);
  }
  return parseAuthFile(text, path);
}
