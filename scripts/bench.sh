#!/usr/bin/env bash
# The throughput benchmark (about 23 minutes on 2 CPUs; --quick: about 2): the streamer and its
# alternatives against the same local Kinesis-compatible endpoint and events, plus scaling runs.
# Writes benchmarks/results/full.json, benchmarks/results/throughput.png and BENCHMARKS.md
# (--quick: under benchmarks/results/quick/). With node and npm on the machine it first installs
# the Node peer's packages (benchmarks/peers/node, npm ci). Usage: ./scripts/bench.sh [--quick] [--help]
set -euo pipefail
source "$(dirname "$0")/_venv.sh" dev,bench
# shellcheck disable=SC1091
source scripts/node_peer.sh
BENCH_COMMAND="./scripts/bench.sh"
if [ "$#" -gt 0 ]; then BENCH_COMMAND+="$(printf ' %q' "$@")"; fi
export BENCH_COMMAND
exec python -m benchmarks "$@"
