#!/usr/bin/env bash
# Runs redis-server for `npm run bench:compare`, installing Debian's package first when it is
# missing (the benchmark runs as root on a Debian/Ubuntu machine). Every argument is passed to
# redis-server, which replaces this shell (exec), so the caller's child process *is* the
# server and stopping it stops Redis. `scripts/redis-server.sh --version` only installs and
# prints the version.
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server not found: installing Debian's redis-server package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2 && apt-get install -y --no-install-recommends redis-server >&2
  # The package starts a system-wide instance on 6379; the benchmark runs its own.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
fi
exec redis-server "$@"
