"""`admf-perf flush` and `admf-perf stats` as real subprocesses against the real server."""

from __future__ import annotations

import json

import pytest

from admf_perf import Cache
from admf_perf.testing import run_cli, unique_name


@pytest.fixture
def env(redis_url, namespace):
    return {"ADMF_REDIS_URL": redis_url, "ADMF_NAMESPACE": namespace}


def fill(name, n=20, **kwargs):
    cache = Cache(name, max_size=1000, **kwargs)
    for i in range(n):
        cache.set(f"{'AAPL' if i % 2 else 'MSFT'}:{i}", i)
    return cache


def test_flush_by_pattern_dry_run_then_real(env):
    name = unique_name("ind")
    cache = fill(name)
    pattern = f"{name}:AAPL:*"
    dry = run_cli("flush", "--pattern", pattern, "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["matched"] == 10
    assert len(cache) == 20, "a dry run removes nothing"
    real = run_cli("flush", "--pattern", pattern, "--yes", "--json", env=env)
    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout)["removed"] == 10
    stats = cache.stats()
    assert (stats.size, stats.invalidations) == (10, 10)


def test_flush_a_whole_cache_leaves_the_others(env):
    a, b = unique_name("a"), unique_name("b")
    fill(a, 5)
    other = fill(b, 7)
    result = run_cli("flush", "--cache", a, "--yes", env=env)
    assert result.returncode == 0, result.stderr
    assert "removed 5 entries" in result.stdout
    assert len(other) == 7


def test_flush_without_confirmation_is_refused_when_not_a_terminal(env):
    name = unique_name()
    cache = fill(name, 3)
    result = run_cli("flush", "--cache", name, env=env)
    assert result.returncode == 4
    assert "--yes" in result.stderr
    assert len(cache) == 3


def test_flush_that_matches_nothing_says_so(env):
    fill(unique_name(), 2)
    result = run_cli("flush", "--pattern", "no-such-cache:*", "--yes", env=env)
    assert result.returncode == 3
    assert "nothing to flush" in result.stderr


def test_flush_all_stays_in_the_namespace(env, redis_client):
    redis_client.set("outside:key", 1)
    fill(unique_name(), 4)
    result = run_cli("flush", "--all", "--yes", env=env)
    assert result.returncode == 0, result.stderr
    assert redis_client.get("outside:key") == b"1"


def test_unknown_cache_and_bad_url_are_one_line_errors(env):
    unknown = run_cli("flush", "--cache", "nope", "--yes", env=env)
    assert unknown.returncode == 1
    assert "no cache named 'nope'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    bad = run_cli("stats", env={**env, "ADMF_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert bad.returncode == 1
    assert "unavailable" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    malformed = run_cli("stats", "--url", "http://x", env=env)
    assert malformed.returncode != 0
    assert "redis://" in malformed.stderr


def test_flush_needs_exactly_one_target(env):
    result = run_cli("flush", "--all", "--pattern", "x*", env=env)
    assert result.returncode == 2


def test_stats_match_the_caches_own_view(env):
    name = unique_name("stats")
    cache = fill(name, 6)
    cache.get("AAPL:1")
    cache.get("missing")
    result = run_cli("stats", "--json", env=env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)["caches"][name]
    own = cache.stats()
    assert (shown["size"], shown["hits"], shown["misses"]) == (own.size, own.hits, own.misses)
    table = run_cli("stats", env=env)
    assert name in table.stdout and "TOTAL" in table.stdout
