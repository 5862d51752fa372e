#!/usr/bin/env bash
# Runs the Go tool in the offline build environment of the ActionQueue Go client:
#   clients/go/scripts/go.sh test -v ./clients/go/...
#   clients/go/scripts/go.sh run ./examples/go/worker
# Paths are relative to the repository root (the script changes into it).
#
# Why GOPATH mode: there is no access to the Go module proxy, and Debian ships its Go
# libraries (grpc-go 1.33, google.golang.org/protobuf 1.28, github.com/golang/protobuf 1.5,
# genproto, x/net, ...) as plain source trees under /usr/share/gocode/src. Module mode would
# need a go.sum and every module of grpc-go's requirement graph (several are not packaged);
# GOPATH mode resolves imports straight from those trees, exactly as Debian builds its own
# Go packages. The repository is linked into a private GOPATH under the temp directory so
# that its import path (github.com/actionqueue/actionqueue/...) resolves to this checkout.
#
# Nothing is taken from the caller's Go environment: GOENV=off ignores `go env -w` settings,
# and GO111MODULE, GOPATH, GOFLAGS, GOPROXY, GOROOT and CGO_ENABLED are set here. Only GOCACHE
# (a pure cache) is honoured when it is set; otherwise it lives under the temp directory, so a
# read-only HOME in CI does not matter.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd -P)"
tmp="${TMPDIR:-/tmp}"
# One private GOPATH per checkout (keyed by its path), so two clones never share the link.
key="$(printf '%s' "$root" | sha256sum | cut -c1-12)"
gopath="$tmp/actionqueue-gopath-$key"
link="$gopath/src/github.com/actionqueue/actionqueue"
mkdir -p "$(dirname "$link")"
# Replace the link atomically (rename over it) so concurrent runs never see it missing.
if [ "$(readlink "$link" 2>/dev/null || true)" != "$root" ]; then
  ln -sfn "$root" "$link.$$" && mv -Tf "$link.$$" "$link"
fi

export GOENV=off
export GO111MODULE=off
export GOPATH="$gopath:/usr/share/gocode"
export GOFLAGS=""
export GOPROXY=off
export GOTOOLCHAIN=local
export CGO_ENABLED=0
unset GOROOT GOBIN
export GOCACHE="${GOCACHE:-$tmp/actionqueue-gocache}"

# Fail early and clearly when a Debian package is missing. golang-google-grpc-dev accepts
# either golang-github-golang-protobuf-1-3-dev or -1-5-dev, and apt picks 1.3 unless told
# otherwise. grpc-go's codec marshals through github.com/golang/protobuf, and only 1.4+ hands
# messages to google.golang.org/protobuf, which the generated code is written for.
src=/usr/share/gocode/src
need() { [ -e "$src/$1" ] || { echo "clients/go: $src/$1 is missing; apt-get install -y $2" >&2; exit 1; }; }
need google.golang.org/grpc/clientconn.go golang-google-grpc-dev
need google.golang.org/protobuf/proto/proto.go golang-google-protobuf-dev
need github.com/golang/protobuf/proto/registry.go golang-github-golang-protobuf-1-5-dev
need google.golang.org/genproto/googleapis/rpc/errdetails/error_details.pb.go golang-google-genproto-dev

# Debian's Go (golang-go); /usr/bin/go is the packaged 1.19 toolchain.
gobin=/usr/bin/go
[ -x "$gobin" ] || gobin="$(command -v go || true)"
[ -n "$gobin" ] || { echo "clients/go: no Go toolchain; apt-get install -y golang-go" >&2; exit 1; }

# `cd` through the link (not the physical path): bash exports the logical PWD, which the Go
# tool uses to find the package's import path inside GOPATH.
cd "$link"
exec "$gobin" "$@"
