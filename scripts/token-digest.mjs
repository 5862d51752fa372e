#!/usr/bin/env node
// The digest of a bearer token, as the auth file stores it (docs/auth.md):
//   node scripts/token-digest.mjs --new      a fresh random token (stderr) and its digest (stdout)
//   printf %s "$TOKEN" | node scripts/token-digest.mjs
//                                            the digest of a token read from stdin (not argv:
//                                            arguments end up in shell history and `ps`)
// One-liner without this script:
//   printf %s "$TOKEN" | node -e 'process.stdout.write("sha256:"+require("crypto").createHash("sha256").update(require("fs").readFileSync(0)).digest("hex")+"\n")'
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

const digest = (token) => `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`;

if (process.argv[2] === "--new") {
  // 32 random bytes, base64url: 43 characters, all valid in an HTTP header value.
  const token = randomBytes(32).toString("base64url");
  process.stderr.write(`token (give it to the client; it is not stored anywhere): ${token}\n`);
  process.stdout.write(`${digest(token)}\n`);
} else if (process.argv.length > 2) {
  process.stderr.write("usage: node scripts/token-digest.mjs --new | printf %s \"$TOKEN\" | node scripts/token-digest.mjs\n");
  process.exit(2);
} else {
  const token = readFileSync(0, "utf8").replace(/\r?\n$/, "");
  if (token === "") {
    process.stderr.write("token-digest: empty token on stdin\n");
    process.exit(2);
  }
  process.stdout.write(`${digest(token)}\n`);
}
