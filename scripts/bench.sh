#!/usr/bin/env bash
# Run benchmarks by name (all when none given): ./scripts/bench.sh redis_roundtrip [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh dev
exec .venv/bin/python -m benchmarks "$@"
