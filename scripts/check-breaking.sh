#!/usr/bin/env bash
# `buf breaking` (FILE rules) of the working protos against the contract of the last landed
# main, kept as a committed buf image in proto-baseline/. The baseline is refreshed (with
# `npm run baseline:proto`) only at the start of a session, from the main that landed, so a
# session's own changes are always checked against what clients already use.
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=proto-baseline/actionqueue-v1.binpb
if [ ! -f "$baseline" ]; then
  echo "check-breaking: no baseline image yet (first version of the contract); skipped"
  exit 0
fi
# Only our module (proto/); third_party/ mirrors upstream files we do not own.
#
# One change the FILE rules report is accepted: marking a unary read NO_SIDE_EFFECTS where it
# was IDEMPOTENCY_UNKNOWN (RPC_SAME_IDEMPOTENCY_LEVEL). It only adds a way to call the method
# (Connect GET); every existing client keeps calling it with POST. Any other idempotency
# change, taking NO_SIDE_EFFECTS away included (which breaks GET callers), still fails.
out=$(npx --no-install buf breaking proto --against "$baseline" --error-format json || true)
left=$(printf '%s\n' "$out" | node -e '
  const lines = require("fs").readFileSync(0, "utf8").split("\n").filter((l) => l.trim() !== "");
  const additive = /changed option "idempotency_level" from "IDEMPOTENCY_UNKNOWN" to "NO_SIDE_EFFECTS"/;
  for (const l of lines) {
    let o;
    try { o = JSON.parse(l); } catch { console.log(l); continue; }
    if (o.type === "RPC_SAME_IDEMPOTENCY_LEVEL" && additive.test(o.message)) continue;
    console.log(`${o.path}:${o.start_line}:${o.start_column}:${o.message} (${o.type})`);
  }')
if [ -n "$left" ]; then
  printf '%s\n' "$left" >&2
  echo "check-breaking: breaking changes against $baseline" >&2
  exit 1
fi
echo "check-breaking: no breaking change against $baseline"
