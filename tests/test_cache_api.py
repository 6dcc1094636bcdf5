"""The Cache and @cached API on both stores: keys, TTLs, invalidation, stats, bad input."""

from __future__ import annotations

import time

import pytest

from admf_perf import Cache, CacheManager, ConfigurationError, KeyGenerationError, cached
from admf_perf.testing import unique_name
from tests.test_cache_strategies import wait_past


@pytest.fixture(params=["memory", "redis"])
def backend(request, redis_url):
    return "memory" if request.param == "memory" else redis_url


def test_cached_function_computes_once_per_distinct_call(backend):
    calls = []

    @cached(max_size=16, backend=backend, name=unique_name("f"))
    def add(a, b):
        calls.append((a, b))
        return a + b

    assert [add(1, 2), add(1, 2), add(2, 1), add(1, 2)] == [3, 3, 3, 3]
    assert calls == [(1, 2), (2, 1)]
    stats = add.cache.stats()
    assert (stats.hits, stats.misses, stats.sets, stats.size) == (2, 2, 2, 2)
    assert stats.hit_rate == 0.5


def test_bare_decorator_uses_defaults_and_module_qualname():
    @cached
    def square(x):
        return x * x

    assert square(4) == 16
    assert (
        square.cache.name
        == f"{__name__}.test_bare_decorator_uses_defaults_and_module_qualname.<locals>.square"
    )
    assert square.cache.max_size == 128


def test_none_is_a_cacheable_value(backend):
    calls = []

    @cached(backend=backend, name=unique_name())
    def nothing(x):
        calls.append(x)

    assert nothing(1) is None and nothing(1) is None
    assert calls == [1]


def test_methods_key_on_cache_key_or_attributes(backend):
    class Strategy:
        def __init__(self, fast, slow):
            self.fast, self.slow = fast, slow

        @cached(backend=backend, name=unique_name("m"))
        def signal(self, symbol):
            return (symbol, self.fast, self.slow)

    class Named(Strategy):
        def cache_key(self):
            return f"named-{self.fast}"

    assert Strategy(5, 20).signal("AAPL") == ("AAPL", 5, 20)
    assert Strategy(5, 30).signal("AAPL") == ("AAPL", 5, 30), "other attributes, other key"
    assert Named(7, 1).signal("X") == ("X", 7, 1)
    assert Named(7, 2).signal("X") == ("X", 7, 1), "cache_key() alone decides"


def test_include_self_false_shares_entries_between_instances(backend):
    class Loader:
        def __init__(self, tag):
            self.tag = tag

        @cached(backend=backend, include_self=False, name=unique_name())
        def load(self, symbol):
            return f"{symbol}-{self.tag}"

    assert Loader("first").load("SPY") == "SPY-first"
    assert Loader("second").load("SPY") == "SPY-first"


def test_key_maker_replaces_the_default_key(backend):
    @cached(
        backend=backend,
        key_maker=lambda symbol, window, **_: f"{symbol}:{window}",
        name=unique_name(),
    )
    def sma(symbol, window, verbose=False):
        return window * 2

    assert sma("AAPL", 20) == 40
    assert sma("AAPL", 20, verbose=True) == 40
    assert "AAPL:20" in sma.cache
    assert sma.cache.stats().hits == 1


def test_readable_keys_make_patterns_meaningful(backend):
    cache = Cache(unique_name(), max_size=100, backend=backend)

    @cached(backend=backend, name=cache.name)
    def indicator(symbol, window):
        return window

    for symbol in ("AAPL", "MSFT"):
        for window in (5, 10, 20):
            indicator(symbol, window)
    assert indicator.cache.invalidate(pattern="AAPL:*") == 3
    assert len(indicator.cache) == 3
    assert "MSFT:10" in indicator.cache


def test_invalidate_key_is_literal_even_with_glob_characters(backend):
    cache = Cache(unique_name(), backend=backend)
    for key in ("a*", "ab", "a?", "a[b]"):
        cache.set(key, key)
    assert cache.invalidate(key="a*") == 1
    assert cache.invalidate(key="a?") == 1
    assert sorted(k for k in ("a*", "ab", "a?", "a[b]") if k in cache) == ["a[b]", "ab"]
    assert cache.invalidate(key="missing") == 0


def test_glob_patterns_follow_redis_rules(backend):
    cache = Cache(unique_name(), max_size=100, backend=backend)
    keys = ["sma:1", "sma:2", "sma:10", "ema:1", "s:x", "smb:1"]
    for k in keys:
        cache.set(k, 1)
    assert cache.invalidate(pattern="sm[a-b]:?") == 3  # sma:1 sma:2 smb:1
    assert cache.invalidate(pattern="[^e]*") == 2  # sma:10 s:x
    assert [k for k in keys if k in cache] == ["ema:1"]


def test_pattern_invalidation_pages_through_large_caches(backend):
    cache = Cache(unique_name(), max_size=5000, backend=backend, strategy="fifo")
    for i in range(3000):
        cache.set(f"{'even' if i % 2 == 0 else 'odd'}:{i}", i)
    assert cache.invalidate(pattern="even:*") == 1500
    stats = cache.stats()
    assert (stats.size, stats.invalidations) == (1500, 1500)
    assert cache.clear() == 1500
    assert len(cache) == 0


def test_ttl_expires_entries_and_counts_expirations(backend):
    cache = Cache(unique_name(), ttl=0.2, backend=backend)
    cache.set("soon", 1)
    cache.set("later", 2, ttl=3600)
    entry = cache.entry("soon")
    assert entry is not None and entry.expires_at is not None
    assert entry.expires_at - entry.created_at == pytest.approx(0.2, abs=0.01)
    wait_past(entry.expires_at)
    assert cache.get("soon", "gone") == "gone"
    stats = cache.stats()
    assert (stats.size, stats.expirations) == (1, 1)
    assert "later" in cache


def test_entry_metadata_tracks_reads(backend):
    cache = Cache(unique_name(), backend=backend)
    before = time.time()
    cache.set("k", [1, 2])
    for _ in range(3):
        cache.get("k")
    entry = cache.entry("k")
    assert entry is not None
    assert entry.value == [1, 2]
    assert entry.access_count == 3
    assert before - 1 <= entry.created_at <= entry.last_accessed <= time.time() + 1
    assert entry.expires_at is None


def test_set_with_args_generates_the_key(backend):
    cache = Cache(unique_name(), backend=backend)
    cache.set(None, 42, args=("AAPL", 20), kwargs={"adjust": True})
    assert cache.get("AAPL:20:adjust=True") == 42


def test_manager_sees_every_cache_and_disables_them(backend):
    calls = []

    @cached(backend=backend, name=unique_name("mgr"))
    def f(x):
        calls.append(x)
        return x

    manager = CacheManager.get_instance()
    assert manager.get(f.cache.name) is f.cache
    assert f.cache.name in manager.get_stats()["caches"]
    manager.disable()
    try:
        f(1)
        f(1)
    finally:
        manager.enable()
    assert calls == [1, 1]
    assert f.cache.stats().sets == 0
    f(1)
    f(1)
    assert calls == [1, 1, 1]


def test_manager_invalidates_by_name_and_key_pattern(backend):
    prefix = unique_name("p")
    a = Cache(f"{prefix}.prices", backend=backend)
    b = Cache(f"{prefix}.signals", backend=backend)
    for c in (a, b):
        for k in ("AAPL:1", "MSFT:1"):
            c.set(k, 1)
    manager = CacheManager.get_instance()
    assert manager.invalidate_by_pattern(f"{prefix}.prices:AAPL:*") == 1
    assert manager.invalidate_by_pattern(f"{prefix}.*:MSFT*") == 2
    assert manager.invalidate_by_pattern(f"{prefix}*AAPL*") == 1
    assert (len(a), len(b)) == (0, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_size": 0}, "max_size"),
        ({"max_size": -5}, "max_size"),
        ({"max_size": 2.5}, "max_size"),
        ({"ttl": -1}, "ttl"),
        ({"ttl": 0}, "ttl"),
        ({"strategy": "random"}, "strategy"),
        ({"backend": "http://localhost"}, "backend"),
        ({"backend": 42}, "backend"),
    ],
)
def test_bad_arguments_fail_at_once_with_a_named_setting(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        Cache(unique_name(), **kwargs)


def test_bad_cache_names_and_invalidate_calls_are_refused():
    with pytest.raises(ConfigurationError, match="cache name"):
        Cache("has{brace}")
    cache = Cache(unique_name())
    with pytest.raises(ConfigurationError, match="exactly one"):
        cache.invalidate()
    with pytest.raises(ConfigurationError, match="exactly one"):
        cache.invalidate(key="a", pattern="b")


def test_unkeyable_argument_names_its_type(backend):
    @cached(backend=backend, name=unique_name())
    def f(x):
        return 1

    with pytest.raises(KeyGenerationError, match="function"):
        f(lambda: 1)
    with pytest.raises(KeyGenerationError, match="object"):
        f(object())


def test_early_refresh_recomputes_a_hot_entry_before_it_expires(backend):
    calls = []

    @cached(backend=backend, ttl=60, early_refresh=1e9, name=unique_name())
    def quote(symbol):
        calls.append(symbol)
        time.sleep(0.005)  # the computation whose cost XFetch weighs
        return len(calls)

    assert quote("SPY") == 1
    assert quote("SPY") == 2, "a near-certain early refresh recomputed the value"
    assert quote.cache.get("SPY") == 2


def test_without_early_refresh_hits_are_never_recomputed(backend):
    calls = []

    @cached(backend=backend, ttl=60, name=unique_name())
    def quote(symbol):
        calls.append(symbol)
        return len(calls)

    assert [quote("SPY") for _ in range(5)] == [1] * 5
