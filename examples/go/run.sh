#!/usr/bin/env bash
# Builds and runs a Go example against ActionQueue (ACTIONQUEUE_TARGET, default 127.0.0.1:50051):
#   examples/go/run.sh worker                # processes queue "examples" until Ctrl-C
#   examples/go/run.sh producer -n 5 -wait   # submits 5 tasks and waits for their outcomes
# The build is offline, against Debian's Go packages (see clients/go/README.md). The binary is
# built first and then exec'd, so that it, not `go run`, receives Ctrl-C and SIGTERM.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
name="${1:-}"
case "$name" in
  producer | worker) shift ;;
  *) echo "usage: examples/go/run.sh producer|worker [flags]" >&2; exit 2 ;;
esac
# Per checkout, like the private GOPATH of clients/go/scripts/go.sh.
bin="${TMPDIR:-/tmp}/actionqueue-go-examples-$(printf %s "$(cd "$here/../.." && pwd -P)" | sha256sum | cut -c1-12)"
mkdir -p "$bin"
"$here/../../clients/go/scripts/go.sh" build -o "$bin/$name" "./examples/go/$name"
exec "$bin/$name" "$@"
