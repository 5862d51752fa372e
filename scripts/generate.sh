#!/usr/bin/env bash
# `npm run generate`: every client's and the server's generated code from proto/, with local
# plugins only — TypeScript (buf.gen.yaml: protoc-gen-es from node_modules), Python
# (buf.gen.python.yaml: protoc's python and pyi, Debian's grpc_python_plugin) and Go
# (buf.gen.go.yaml: Debian's protoc-gen-go and protoc-gen-go-grpc). Never edit the output by
# hand: scripts/check-generated.sh runs this and fails on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
npx --no-install buf generate
# The Python template cannot clean its output (the hand-written wrapper shares the folder):
# its two generated folders are removed first, so a file left stale by a proto change shows.
rm -rf clients/python/src/actionqueue clients/python/src/actionqueue_client/_gen
npx --no-install buf generate --template buf.gen.python.yaml
npx --no-install buf generate --template buf.gen.go.yaml
