# Shared by test.sh and bench.sh: install the Node benchmark peer's npm packages (once, from the
# committed package-lock.json) when node and npm are on the machine; without them the peer's
# test is skipped and the benchmark leaves the Node comparison out.
# Usage: source scripts/node_peer.sh   (after scripts/_venv.sh, from the repository root)
NODE_PEER_DIR="benchmarks/peers/node"
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  STAMP="$NODE_PEER_DIR/node_modules/.installed"
  if [ ! -f "$STAMP" ] || [ "$NODE_PEER_DIR/package-lock.json" -nt "$STAMP" ]; then
    (cd "$NODE_PEER_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null \
      && touch node_modules/.installed) || echo "note: npm ci failed; the Node peer is left out" >&2
  fi
fi
