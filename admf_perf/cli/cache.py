"""``admf-perf flush`` and ``admf-perf stats``: the caches of a namespace, from a shell."""

from __future__ import annotations

import sys

import click

from admf_perf.caching import fleet
from admf_perf.caching.patterns import escape_glob
from admf_perf.cli.common import (
    EXIT_ABORTED,
    EXIT_NOTHING,
    emit_json,
    redis_backend,
    server_options,
    table,
)


@click.command()
@server_options
@click.option("--cache", "cache_name", help="Flush every entry of this cache.")
@click.option("--pattern", help="Flush entries whose '<cache name>:<key>' matches this glob.")
@click.option("--all", "flush_all", is_flag=True, help="Flush every cache of the namespace.")
@click.option("--dry-run", is_flag=True, help="Count what would go; remove nothing.")
@click.option("--yes", "-y", is_flag=True, help="Don't ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def flush(
    cache_name: str | None,
    pattern: str | None,
    flush_all: bool,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Remove cache entries by cache, pattern or all, within the namespace only.

    Uses SCAN-style walks and the caches' own scripts (never KEYS or FLUSHALL), so every
    cache's stats stay exact. Exit codes: 0 done, 1 error, 2 usage, 3 nothing matched,
    4 not confirmed.
    """
    chosen = [x for x in (cache_name, pattern, flush_all or None) if x]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --cache, --pattern or --all")
    backend = redis_backend()
    if cache_name:
        fleet.open_cache(backend, cache_name)  # an unknown name fails here, clearly
        glob = f"{escape_glob(cache_name)}:*"
        what = f"cache {cache_name!r}"
    elif pattern:
        glob, what = pattern, f"entries matching {pattern!r}"
    else:
        glob, what = "*", f"every cache in namespace {backend.namespace!r}"

    counts = fleet.invalidate(backend, glob, dry_run=True)
    total = sum(counts.values())
    if total == 0:
        if as_json:
            emit_json({"dry_run": dry_run, "removed": 0, "caches": {}})
        click.echo(f"nothing to flush: no entry matches {what}", err=True)
        sys.exit(EXIT_NOTHING)
    if dry_run:
        _report(counts, as_json, dry_run=True)
        return
    if not yes:
        if not sys.stdin.isatty():
            click.echo(f"would remove {total} entries of {what}; add --yes to confirm", err=True)
            sys.exit(EXIT_ABORTED)
        if not click.confirm(f"Remove {total} entries of {what}?"):
            sys.exit(EXIT_ABORTED)
    _report(fleet.invalidate(backend, glob), as_json, dry_run=False)


def _report(counts: dict[str, int], as_json: bool, *, dry_run: bool) -> None:
    total = sum(counts.values())
    if as_json:
        emit_json(
            {
                "dry_run": dry_run,
                "removed": 0 if dry_run else total,
                "matched": total,
                "caches": counts,
            }
        )
        return
    verb = "would remove" if dry_run else "removed"
    for name, count in counts.items():
        if count:
            click.echo(f"{name}: {verb} {count}")
    click.echo(f"{verb} {total} entries")


@click.command()
@server_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def stats(as_json: bool) -> None:
    """Fleet-wide stats of every cache in the namespace, and totals."""
    backend = redis_backend()
    per_cache = fleet.stats(backend)
    totals = sum(per_cache.values(), fleet.CacheStats(max_size=0))
    if as_json:
        emit_json(
            {"caches": {n: s.to_dict() for n, s in per_cache.items()}, "totals": totals.to_dict()}
        )
        return
    rows = [
        [
            name,
            f"{s.size}/{s.max_size or '-'}",
            s.hits,
            s.misses,
            f"{s.hit_rate:.1%}",
            s.sets,
            s.evictions,
            s.expirations,
            s.invalidations,
        ]
        for name, s in per_cache.items()
    ]
    rows.append(
        [
            "TOTAL",
            totals.size,
            totals.hits,
            totals.misses,
            f"{totals.hit_rate:.1%}",
            totals.sets,
            totals.evictions,
            totals.expirations,
            totals.invalidations,
        ]
    )
    columns = [
        "cache",
        "size",
        "hits",
        "misses",
        "hit rate",
        "sets",
        "evicted",
        "expired",
        "invalidated",
    ]
    table(f"caches in namespace {backend.namespace!r}", columns, rows)
