"""``python -m benchmarks NAME [NAME ...] [--quick]``: run benchmark modules by name."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from benchmarks.harness import report, run_suite, save


def available() -> list[str]:
    here = Path(__file__).parent
    skip = {"harness", "__main__"}
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name not in skip)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all): {available()}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; available: {', '.join(available())}")
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        for suite in module.build(quick=args.quick):
            results = run_suite(suite)
            print(report(suite, results), flush=True)
            print(f"  -> {save(suite, results)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
