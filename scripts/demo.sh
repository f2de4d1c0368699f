#!/usr/bin/env bash
# One command from a fresh clone: virtual environment, install, embedded local Kinesis (moto on
# 127.0.0.1), a 4-shard stream, sample profile events through `streamer run`, read back per shard.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" dev
exec python scripts/demo.py "$@"
