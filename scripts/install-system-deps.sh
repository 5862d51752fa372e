#!/usr/bin/env bash
# Installs the Debian packages the test suite drives, when any is missing (as root; CI and
# the development machines run as root). Safe to run again: it does nothing when all are
# there. Called by .ci/run before `npm ci && npm test`.
#   jq                          the README's and the operations guide's recipes
#   python3-grpcio (+protobuf)  the Python client and its tests (/usr/bin/python3)
#   protobuf-compiler(-grpc)    protoc and grpc_python_plugin for `buf generate` (Python)
#   golang-go, golang-google-grpc-dev, golang-google-protobuf-dev, protoc-gen-go,
#   protoc-gen-go-grpc          the Go client, built offline from Debian's sources
#   chromium                    the browser test (driven by puppeteer-core)
set -euo pipefail
PACKAGES=(
  jq
  python3-grpcio python3-protobuf
  protobuf-compiler protobuf-compiler-grpc
  golang-go golang-google-grpc-dev golang-google-protobuf-dev protoc-gen-go protoc-gen-go-grpc
  chromium
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
