#!/usr/bin/env bash
# Soak run (minutes; not part of the test suite): steady input with 5% injected partial failures,
# RSS and queue depth sampled every second. Usage: ./scripts/soak.sh [--minutes 10] [--rate 2000]
set -euo pipefail
source "$(dirname "$0")/_venv.sh" dev,bench
exec python -m benchmarks.soak --out benchmarks/results/soak.json "$@"
