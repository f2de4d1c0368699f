# Shared by demo.sh, test.sh and bench.sh: create .venv (once) and install the project into it.
# Usage: source scripts/_venv.sh EXTRAS   (e.g. "dev" or "dev,bench")
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.installed-$1"
# Reinstall when the build configuration or the compiled module's source changed (the install
# compiles streamer/_native.c in place; without a C compiler the pure-Python path is used).
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ] || [ "$ROOT/setup.py" -nt "$STAMP" ] \
  || [ "$ROOT/streamer/_native.c" -nt "$STAMP" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$1]"
  touch "$STAMP"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
cd "$ROOT"
