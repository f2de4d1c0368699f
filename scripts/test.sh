#!/usr/bin/env bash
# One command from a fresh clone: virtual environment, install, lint, type-check, whole test suite.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" dev,bench
# shellcheck disable=SC1091
source scripts/node_peer.sh
ruff check streamer tests benchmarks scripts
ruff format --check streamer tests benchmarks scripts
mypy
python -m pytest -q -p no:cacheprovider "$@"
if [ "$#" -eq 0 ]; then
  # The pure-Python path (no mypyc module, no C body builder) passes the same pure-logic tests.
  STREAMER_PURE=1 python -m pytest -q -p no:cacheprovider tests/unit tests/pipeline
fi
