#!/usr/bin/env python
"""Flush admf-perf caches by cache name, by key pattern, or all: what ``admf-perf flush``
does, as a plain script on the public API to copy into your own tooling.

    python scripts/flush_caches.py --url redis://host:6379/0 --pattern 'sma:AAPL:*' --dry-run
    python scripts/flush_caches.py --cache sma --yes
    python scripts/flush_caches.py --all --yes --json

Patterns are globs over ``"<cache name>:<key>"``. Only the namespace's caches are touched
(``--namespace`` or ``ADMF_NAMESPACE``, default ``admf``), through the caches' own
scripts: no ``KEYS``, no ``FLUSHALL``, and every cache's stats stay exact.

Exit codes: 0 done, 1 error (unreachable server, unknown cache), 2 usage, 3 nothing
matched, 4 not confirmed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from admf_perf import configure
from admf_perf.caching import fleet
from admf_perf.errors import AdmfPerfError
from admf_perf.stores import RedisBackend

EXIT_OK, EXIT_ERROR, EXIT_NOTHING, EXIT_ABORTED = 0, 1, 3, 4


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--cache", help="flush every entry of this cache")
    target.add_argument("--pattern", help="flush entries whose '<cache name>:<key>' matches")
    target.add_argument("--all", action="store_true", help="flush every cache of the namespace")
    parser.add_argument("--url", default=os.environ.get("ADMF_REDIS_URL"), help="Redis URL")
    parser.add_argument("--namespace", default=os.environ.get("ADMF_NAMESPACE") or "admf")
    parser.add_argument("--dry-run", action="store_true", help="count; remove nothing")
    parser.add_argument("--yes", "-y", action="store_true", help="don't ask for confirmation")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("no Redis server given: pass --url or set ADMF_REDIS_URL")
    return args


def count(backend: RedisBackend, args: argparse.Namespace) -> dict[str, int]:
    """How many entries each cache would lose."""
    if args.cache:
        return {args.cache: len(fleet.open_cache(backend, args.cache))}
    return fleet.invalidate(backend, args.pattern or "*", dry_run=True)


def flush(backend: RedisBackend, args: argparse.Namespace) -> dict[str, int]:
    """Remove them; the entries removed per cache."""
    if args.cache:
        return {args.cache: fleet.open_cache(backend, args.cache).clear()}
    return fleet.invalidate(backend, args.pattern or "*")


def confirmed(total: int, args: argparse.Namespace) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        print(f"would remove {total} entries; add --yes to confirm", file=sys.stderr)
        return False
    return input(f"Remove {total} entries? [y/N] ").strip().lower() in ("y", "yes")


def report(counts: dict[str, int], args: argparse.Namespace, *, dry_run: bool) -> None:
    total = sum(counts.values())
    if args.json:
        print(
            json.dumps(
                {
                    "dry_run": dry_run,
                    "removed": 0 if dry_run else total,
                    "matched": total,
                    "caches": counts,
                },
                indent=2,
                sort_keys=True,
            )
        )
        return
    verb = "would remove" if dry_run else "removed"
    for name, n in counts.items():
        if n:
            print(f"{name}: {verb} {n}")
    print(f"{verb} {total} entries")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        configure(redis_url=args.url, namespace=args.namespace)
        backend = RedisBackend(args.url)
        backend.call(backend.client.ping)
        counts = count(backend, args)
        total = sum(counts.values())
        if total == 0:
            if args.json:
                print(json.dumps({"dry_run": args.dry_run, "removed": 0, "caches": {}}))
            print("nothing to flush: no entry matches", file=sys.stderr)
            return EXIT_NOTHING
        if args.dry_run:
            report(counts, args, dry_run=True)
            return EXIT_OK
        if not confirmed(total, args):
            return EXIT_ABORTED
        report(flush(backend, args), args, dry_run=False)
        return EXIT_OK
    except AdmfPerfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
