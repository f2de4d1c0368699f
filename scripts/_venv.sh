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
# Reinstall when the build configuration or the source of a compiled module changed: the install
# compiles streamer/_native.c and the modules listed in streamer/_compiled.py in place (without
# a C compiler the pure-Python modules run; a compiled module older than its source is not used).
stale() {
  [ ! -f "$STAMP" ] && return 0
  local input
  for input in "$ROOT/pyproject.toml" "$ROOT/setup.py" $("$VENV/bin/python" "$ROOT/streamer/_compiled.py"); do
    [ "$input" -nt "$STAMP" ] && return 0
  done
  return 1
}
if stale; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$1]"
  touch "$STAMP"
fi
# Byte-compile the project's own modules (an editable install leaves them as source; with
# PYTHONDONTWRITEBYTECODE set every start would compile them again). Only stale ones are redone.
"$VENV/bin/python" -m compileall -q "$ROOT/streamer" "$ROOT/benchmarks" >/dev/null
# shellcheck disable=SC1091
source "$VENV/bin/activate"
cd "$ROOT"
