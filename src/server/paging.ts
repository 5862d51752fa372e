/**
 * Opaque page tokens: base64url JSON of the last key returned and a fingerprint of the
 * filters, so a token is only valid with the filters it was made for.
 */
import { createHash } from "node:crypto";
import type { Violations } from "./convert/wire.js";

/** Fingerprint of a request's filters. */
export function filterPrint(filters: unknown): string {
  return createHash("sha256").update(JSON.stringify(filters)).digest("base64url").slice(0, 16);
}

/** Encodes a page position. */
export function encodeToken(last: string, filters: string): string {
  return Buffer.from(JSON.stringify({ k: last, f: filters })).toString("base64url");
}

/** Decodes a page token ("" = first page); adds a violation when it is malformed or made for other filters. */
export function decodeToken(token: string, filters: string, v: Violations, field = "page_token"): string | undefined {
  if (token === "") return undefined;
  try {
    if (token.length > 1024) throw new Error("too long");
    const o = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { k?: unknown; f?: unknown };
    if (typeof o.k !== "string" || typeof o.f !== "string") throw new Error("shape");
    if (o.f !== filters) {
      v.add(field, "was issued for different filters; repeat the request with the same filters or drop the token");
      return undefined;
    }
    return o.k;
  } catch {
    v.add(field, "is not a page token issued by this server");
    return undefined;
  }
}
