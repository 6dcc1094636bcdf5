#!/usr/bin/env bash
# The main job: a demo parameter sweep on an embedded server with real workers.
# Extra arguments go to `admf-perf demo` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
exec .venv/bin/admf-perf demo "$@"
