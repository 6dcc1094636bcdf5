"""Eviction order of every strategy, step by step, on both stores; and a property test
that drives random operation sequences against a reference model."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admf_perf import Cache, CacheStrategy
from admf_perf.testing import unique_name
from tests.cache_model import ModelCache


@pytest.fixture(params=["memory", "redis"])
def make_cache(request, redis_url):
    backend = "memory" if request.param == "memory" else redis_url

    def make(strategy, max_size=3, ttl=None):
        return Cache(
            unique_name("c"), max_size=max_size, strategy=strategy, ttl=ttl, backend=backend
        )

    return make


def fill(cache, *keys):
    for k in keys:
        cache.set(k, k.upper())


def live_keys(cache):
    return {k for k in "abcdefgh" if k in cache}


def test_lru_evicts_least_recently_read_or_written(make_cache):
    cache = make_cache(CacheStrategy.LRU)
    fill(cache, "a", "b", "c")
    assert cache.get("a") == "A"  # a is now the most recent
    cache.set("d", "D")  # b was least recent
    assert live_keys(cache) == {"a", "c", "d"}
    cache.set("c", "C2")  # a write counts as use too
    cache.set("e", "E")  # a is least recent now
    assert live_keys(cache) == {"c", "d", "e"}
    assert cache.stats().evictions == 2


def test_lfu_evicts_fewest_reads_and_breaks_ties_by_recency(make_cache):
    cache = make_cache(CacheStrategy.LFU)
    fill(cache, "a", "b", "c")
    cache.get("a")
    cache.get("a")
    cache.get("b")
    cache.get("c")
    # reads: a=2, b=1, c=1; of b and c, b was used less recently
    cache.set("d", "D")
    assert live_keys(cache) == {"a", "c", "d"}
    cache.set("e", "E")  # d has 0 reads
    assert live_keys(cache) == {"a", "c", "e"}
    cache.get("e")
    cache.get("e")
    cache.set("f", "F")  # c (1 read) goes; a and e have 2
    assert live_keys(cache) == {"a", "e", "f"}


def test_fifo_evicts_oldest_write_and_ignores_reads(make_cache):
    cache = make_cache(CacheStrategy.FIFO)
    fill(cache, "a", "b", "c")
    for _ in range(3):
        cache.get("a")
    cache.set("d", "D")
    assert live_keys(cache) == {"b", "c", "d"}
    cache.set("b", "B2")  # a rewrite is a new write
    cache.set("e", "E")
    assert live_keys(cache) == {"b", "d", "e"}


def test_unbounded_never_evicts(make_cache):
    cache = make_cache(CacheStrategy.UNBOUNDED, max_size=2)
    fill(cache, "a", "b", "c", "d", "e")
    assert len(cache) == 5
    assert cache.stats().evictions == 0
    assert cache.stats().max_size is None


def test_tlru_evicts_expired_entries_before_live_ones(make_cache):
    cache = make_cache(CacheStrategy.TLRU, ttl=3600)
    cache.set("a", "A", ttl=0.3)  # a short-lived entry, the most recently used
    cache.set("b", "B")
    cache.set("c", "C")
    cache.get("a")
    entry = cache.entry("a")
    assert entry is not None and entry.expires_at is not None
    wait_past(entry.expires_at)
    cache.set("d", "D")  # b is least recently used, but a has expired: a goes
    assert live_keys(cache) == {"b", "c", "d"}
    stats = cache.stats()
    assert (stats.expirations, stats.evictions, stats.size) == (1, 0, 3)


def test_tlru_requires_a_ttl():
    with pytest.raises(ValueError, match="TLRU"):
        Cache(unique_name(), strategy="tlru")


def test_strategy_names_are_case_insensitive_strings(make_cache):
    assert make_cache("Lfu").strategy is CacheStrategy.LFU
    with pytest.raises(ValueError, match="strategy 'mru' is unknown"):
        make_cache("mru")


def wait_past(deadline: float) -> None:
    """Let the clock pass an expiry time (the behaviour under test is time itself)."""
    import time

    while time.time() <= deadline + 0.005:
        time.sleep(max(0.001, deadline + 0.005 - time.time()))


operations = st.lists(
    st.tuples(st.sampled_from(["get", "set", "delete"]), st.sampled_from(list("abcdef"))),
    min_size=1,
    max_size=60,
)


@pytest.mark.parametrize("strategy", ["lru", "lfu", "fifo", "unbounded"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_stores_agree_with_the_reference_model(make_cache, strategy, ops):
    cache = make_cache(strategy, max_size=3)
    model = ModelCache(strategy, 3)
    for i, (op, key) in enumerate(ops):
        if op == "get":
            assert cache.get(key) == model.get(key), f"step {i}: get {key}"
        elif op == "set":
            cache.set(key, i)
            model.set(key, i)
        else:
            assert cache.invalidate(key=key) == int(model.delete(key)), f"step {i}: delete {key}"
    assert live_keys(cache) == set(model.entries)
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.sets) == (model.hits, model.misses, model.sets)
    assert (stats.evictions, stats.invalidations) == (model.evictions, model.invalidations)
    assert stats.size == len(model.entries)
