"""Flushing by pattern at scale: 100,000 entries, with ``admf-perf flush`` and with
``scripts/flush_caches.py``; counts, stats and exit codes stay exact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from admf_perf import Cache
from admf_perf.stores.scripts import script
from admf_perf.testing import run_cli, unique_name

ENTRIES = 100_000
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "flush_caches.py"


def fill_fast(cache: Cache, count: int) -> None:
    """``count`` entries ``even:i`` / ``odd:i`` through the cache's own set script,
    pipelined (the same writes ``Cache.set`` makes, without a round trip each)."""
    cache.set("even:0", 0)  # registers the cache and loads the script
    store = cache.store
    set_script = script("set")
    pipe = store.client.pipeline(transaction=False)
    for i in range(1, count):
        key = f"{'even' if i % 2 == 0 else 'odd'}:{i}"
        pipe.evalsha(
            set_script.sha,
            5,
            *store._keys,
            store._entry_prefix + key,
            *store._args,
            key,
            store.payloads.dumps(key, i),
            0,  # no ttl
            count,  # max_size
            0,  # compute ms
            "",  # version
        )
        if i % 5000 == 0:
            pipe.execute()
    pipe.execute()


def run_script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_flush_100k_entries_by_pattern_keeps_stats_exact(redis_url, namespace):
    env = {"ADMF_REDIS_URL": redis_url, "ADMF_NAMESPACE": namespace}
    cache = Cache(unique_name("big"), max_size=ENTRIES, strategy="fifo")
    fill_fast(cache, ENTRIES)
    before = cache.stats()
    assert before.size == ENTRIES

    dry = run_cli("flush", "--pattern", f"{cache.name}:even:*", "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout) == {
        "dry_run": True,
        "removed": 0,
        "matched": ENTRIES // 2,
        "caches": {cache.name: ENTRIES // 2},
    }
    assert cache.stats().size == ENTRIES, "a dry run removes nothing"

    refused = run_cli("flush", "--pattern", f"{cache.name}:even:*", env=env)
    assert refused.returncode == 4, "no TTY and no --yes"
    nothing = run_cli("flush", "--pattern", f"{cache.name}:none:*", "--yes", env=env)
    assert nothing.returncode == 3

    real = run_cli("flush", "--pattern", f"{cache.name}:even:*", "--yes", "--json", env=env)
    assert real.returncode == 0, real.stderr
    removed = json.loads(real.stdout)["removed"]
    after = cache.stats()
    assert removed == ENTRIES // 2
    assert before.size - removed == after.size
    assert after.invalidations - before.invalidations == removed
    assert "odd:1" in cache and "even:2" not in cache

    # the same through the copyable script, on what is left
    dry = run_script("--pattern", f"{cache.name}:odd:*", "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["matched"] == ENTRIES // 2
    assert run_script("--cache", cache.name, env=env).returncode == 4
    real = run_script("--pattern", f"{cache.name}:odd:*", "--yes", "--json", env=env)
    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout)["removed"] == ENTRIES // 2
    assert cache.stats().size == 0
    assert run_script("--cache", cache.name, "--yes", env=env).returncode == 3
    unknown = run_script("--cache", "nope", "--yes", env=env)
    assert unknown.returncode == 1 and "no cache named 'nope'" in unknown.stderr
