#!/usr/bin/env bash
# The main job: a demo parameter sweep on an embedded server with real workers.
# Extra arguments go to `admf-perf demo` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh ""  # no extras (an argument, so the caller's $1 is not taken for one)
exec .venv/bin/admf-perf demo "$@"
