"""Tenants of one server: a namespace's flush, invalidate and clear never touch another
namespace's caches, even with the same cache names and keys and a namespace that is a
prefix of the other's, nor keys that belong to no cache. (The library never SCANs the
keyspace: it walks each cache's own index and the namespace's cache registry.)"""

from __future__ import annotations

import json

import pytest
import redis

from admf_perf import Cache
from admf_perf.caching import fleet
from admf_perf.stores import RedisBackend
from admf_perf.testing import run_cli, unique_name

NAMES = ("ind.sma", "sig[1]", "x*")
KEYS = ("AAPL:20", "MSFT:5", "*", "a[b]")


def fill(url: str, ns: str) -> dict[str, Cache]:
    backend = RedisBackend(url, namespace=ns)
    caches = {name: Cache(name, max_size=100, backend=backend) for name in NAMES}
    for cache in caches.values():
        for key in KEYS:
            cache.set(key, f"{ns}/{key}")
    return caches


def snapshot(client: redis.Redis, ns: str) -> dict[bytes, object]:
    out: dict[bytes, object] = {}
    for key in client.scan_iter(match=f"{ns}:*", count=1000):
        kind = client.type(key)
        if kind == b"hash":
            out[key] = client.hgetall(key)
        elif kind == b"zset":
            out[key] = client.zrange(key, 0, -1, withscores=True)
        else:
            out[key] = kind
    return out


@pytest.fixture
def tenants(redis_url: str, redis_client: redis.Redis) -> tuple[str, str, dict[bytes, object]]:
    ours = unique_name("t")
    theirs = ours + "x"  # our namespace is a prefix of theirs
    fill(redis_url, ours)
    fill(redis_url, theirs)
    redis_client.set(f"{ours}:not-a-cache", "keep")
    redis_client.set("foreign:key", "keep")
    return ours, theirs, snapshot(redis_client, theirs)


def assert_untouched(client: redis.Redis, ours: str, theirs: str, before: dict) -> None:
    assert snapshot(client, theirs) == before, "another namespace changed"
    assert client.get(f"{ours}:not-a-cache") == b"keep"
    assert client.get("foreign:key") == b"keep"


def test_clear_and_invalidate_stay_in_the_namespace(
    redis_url: str, redis_client: redis.Redis, tenants: tuple[str, str, dict]
) -> None:
    ours, theirs, before = tenants
    caches = fill(redis_url, ours)
    assert caches["ind.sma"].invalidate(pattern="*") == len(KEYS)
    assert caches["sig[1]"].invalidate(key="*") == 1
    assert caches["x*"].clear() == len(KEYS)
    backend = RedisBackend(redis_url, namespace=ours)
    assert sum(fleet.invalidate(backend, "*").values()) == len(KEYS) - 1
    assert all(s.size == 0 for s in fleet.stats(backend).values())
    assert_untouched(redis_client, ours, theirs, before)
    mirror = fill(redis_url, theirs)
    assert all(c.stats().size == len(KEYS) for c in mirror.values())


def test_cli_flush_stays_in_the_namespace(
    redis_url: str, redis_client: redis.Redis, tenants: tuple[str, str, dict]
) -> None:
    ours, theirs, before = tenants
    env = {"ADMF_REDIS_URL": redis_url, "ADMF_NAMESPACE": ours}
    one = run_cli("flush", "--cache", "x*", "--yes", "--json", env=env)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["caches"] == {"x*": len(KEYS)}, "the glob name is literal"
    every = run_cli("flush", "--pattern", "*", "--yes", "--json", env=env)
    assert every.returncode == 0, every.stderr
    assert json.loads(every.stdout)["removed"] == 2 * len(KEYS)
    assert run_cli("flush", "--all", "--yes", env=env).returncode == 3, "nothing left"
    assert_untouched(redis_client, ours, theirs, before)
