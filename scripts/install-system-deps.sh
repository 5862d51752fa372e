#!/usr/bin/env bash
# Installs the Debian packages the test suite drives, when any is missing (as root; CI and
# the development machines run as root). Safe to run again: it does nothing when all are
# there. Called by .ci/run before `npm ci && npm test`.
#   jq, curl                    the README's and the operations guide's recipes
#   python3-grpcio (+protobuf)  the Python client and its tests (/usr/bin/python3)
#   protobuf-compiler(-grpc)    protoc and grpc_python_plugin for `buf generate` (Python)
#   golang-go, golang-google-grpc-dev, golang-google-protobuf-dev, protoc-gen-go,
#   protoc-gen-go-grpc, golang-google-genproto-dev (google.rpc error details),
#   golang-github-golang-protobuf-1-5-dev
#                               the Go client, built offline from Debian's sources. The
#                               1-5 package must be named in the same install as grpc-dev:
#                               left alone apt picks the 1-3 API, whose codec cannot
#                               marshal the generated (protobuf-go 1.28) messages
#   python3-venv, python3-pip, python3-setuptools
#                               the Python package's pip-install test
#   chromium                    the browser test (driven by puppeteer-core)
#   postgresql                  the PostgreSQL tests: initdb and pg_ctl from
#                               /usr/lib/postgresql/<version>/bin (15 on bookworm), run by
#                               scripts/pg-cluster.mjs as the `postgres` user the package
#                               creates. The cluster the package itself sets up (main, port
#                               5432) is not used
set -euo pipefail
PACKAGES=(
  jq curl
  python3-grpcio python3-protobuf
  protobuf-compiler protobuf-compiler-grpc
  golang-go golang-google-grpc-dev golang-google-protobuf-dev protoc-gen-go protoc-gen-go-grpc
  golang-google-genproto-dev golang-github-golang-protobuf-1-5-dev
  python3-venv python3-pip python3-setuptools
  chromium
  postgresql
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
echo "install-system-deps: done"
