"""The cache on a real 3-master Redis Cluster started from the same server binary."""

from __future__ import annotations

import pytest
import redis

from admf_perf import Cache, cached, configure
from admf_perf.config import reset_settings
from admf_perf.testing import EmbeddedCluster, unique_name

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    with EmbeddedCluster(3) as c:
        yield c


@pytest.fixture
def on_cluster(cluster):
    configure(redis_url=cluster.url, cluster=True, namespace=unique_name("ns"))
    yield redis.RedisCluster.from_url(cluster.url)
    reset_settings()


def test_cache_works_unchanged_on_a_cluster(on_cluster):
    calls = []

    @cached(name=unique_name(), max_size=50, strategy="lfu", ttl=60)
    def sma(symbol, window):
        calls.append(symbol)
        return window * 1.5

    for symbol in ("AAPL", "MSFT", "AAPL"):
        assert sma(symbol, 20) == 30.0
    assert calls == ["AAPL", "MSFT"]
    assert sma.cache.invalidate(pattern="AAPL:*") == 1
    stats = sma.cache.stats()
    assert (stats.hits, stats.size) == (1, 1)


def test_shards_spread_one_cache_over_the_masters(on_cluster):
    cache = Cache(unique_name("big"), max_size=300, shards=6, strategy="fifo")
    for i in range(400):
        cache.set(f"k{i}", i)
    stats = cache.stats()
    assert stats.size <= 300
    assert stats.size + stats.evictions == 400
    slots = {on_cluster.keyslot(f"{s.prefix}idx") for s in cache.store.shards}
    owners = {on_cluster.get_node_from_key(f"{s.prefix}idx").name for s in cache.store.shards}
    assert len(slots) == 6
    assert len(owners) >= 2, "all shards landed on one master"
    assert cache.get("k399") == 399
    assert cache.invalidate(pattern="k39*") == 10
    assert cache.clear() == stats.size - 10


def test_single_flight_and_near_cache_on_a_cluster(on_cluster):
    name = unique_name()

    @cached(name=name, local_size=4)
    def f(x):
        return x + 1

    assert [f(1) for _ in range(5)] == [2] * 5
    stats = f.cache.stats()
    assert stats.hits + stats.local_hits == 4
