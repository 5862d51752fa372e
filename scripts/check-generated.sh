#!/usr/bin/env bash
# Fails when `buf generate` changes the committed generated code (it must be reproducible).
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=(src/gen clients/typescript/src/gen)
before=$(git status --porcelain -- "${dirs[@]}"; git diff -- "${dirs[@]}" | sha256sum)
npx --no-install buf generate
after=$(git status --porcelain -- "${dirs[@]}"; git diff -- "${dirs[@]}" | sha256sum)
if [ "$before" != "$after" ] || [ -n "$(git status --porcelain -- "${dirs[@]}")" ]; then
  echo "check-generated: 'buf generate' changed the generated code; commit the regenerated files:" >&2
  git status --porcelain -- "${dirs[@]}" >&2
  exit 1
fi
echo "check-generated: generated code is up to date"
