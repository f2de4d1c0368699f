#!/usr/bin/env bash
# One command from a fresh clone: virtual environment, install, lint, type-check, whole test suite.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" dev,bench
# shellcheck disable=SC1091
source scripts/node_peer.sh
ruff check streamer tests benchmarks scripts
ruff format --check streamer tests benchmarks scripts
mypy
exec python -m pytest -q -p no:cacheprovider "$@"
