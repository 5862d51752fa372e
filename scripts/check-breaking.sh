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
npx --no-install buf breaking proto --against "$baseline"
echo "check-breaking: no breaking change against $baseline"
