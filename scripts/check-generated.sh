#!/usr/bin/env bash
# Fails when `buf generate` changes the committed generated code (it must be reproducible).
set -euo pipefail
cd "$(dirname "$0")/.."
# The generated folders of every template that scripts/generate.sh runs.
dirs=(src/gen clients/typescript/src/gen clients/python/src/actionqueue clients/python/src/actionqueue_client/_gen clients/go/gen)
before=$(git status --porcelain -- "${dirs[@]}"; git diff -- "${dirs[@]}" | sha256sum)
bash scripts/generate.sh
after=$(git status --porcelain -- "${dirs[@]}"; git diff -- "${dirs[@]}" | sha256sum)
if [ "$before" != "$after" ] || [ -n "$(git status --porcelain -- "${dirs[@]}")" ]; then
  echo "check-generated: 'buf generate' changed the generated code; commit the regenerated files:" >&2
  git status --porcelain -- "${dirs[@]}" >&2
  exit 1
fi
echo "check-generated: generated code is up to date"
