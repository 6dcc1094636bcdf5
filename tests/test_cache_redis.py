"""The Redis store against a real server: shared entries, exact invariants, key layout,
one round trip per operation, corrupt payloads."""

from __future__ import annotations

import multiprocessing as mp
import threading

import numpy as np
import pandas as pd
import pytest
import redis

from admf_perf import Cache, CodecError, cached
from admf_perf.testing import unique_name


def test_two_cache_objects_with_one_name_share_entries(redis_url):
    name = unique_name()
    writer = Cache(name, backend=redis_url)
    reader = Cache(name, backend=redis_url)
    frame = pd.DataFrame(
        {"close": np.linspace(100, 101, 50)}, index=pd.date_range("2024", periods=50)
    )
    writer.set("AAPL:1d", frame)
    pd.testing.assert_frame_equal(reader.get("AAPL:1d"), frame)
    assert reader.stats().hits == 1


def test_every_key_starts_with_the_namespace_and_shares_one_hash_tag(
    redis_url, namespace, redis_client
):
    cache = Cache("prices.sma", max_size=5, strategy="lfu", ttl=60, backend=redis_url)
    for i in range(8):
        cache.set(f"k{i}", i)
        cache.get(f"k{i}")
    cache.invalidate(pattern="k1*")
    keys = [k.decode() for k in redis_client.scan_iter(match=f"{namespace}:*", count=1000)]
    cache_keys = [k for k in keys if k != f"{namespace}:caches"]
    assert cache_keys, "the cache wrote nothing?"
    for k in cache_keys:
        assert k.startswith(f"{namespace}:{{prices.sma}}:"), k
    assert not [
        k
        for k in redis_client.scan_iter(match="*prices.sma*")
        if not k.decode().startswith(namespace)
    ]


def test_a_get_and_a_set_are_one_round_trip_each(redis_url):
    counted = redis.Redis.from_url(redis_url)
    commands = []
    original = counted.execute_command

    def counting(*args, **kwargs):
        commands.append(args[0])
        return original(*args, **kwargs)

    counted.execute_command = counting  # instrument the real client; the server is real
    from admf_perf.stores import RedisBackend

    cache = Cache(unique_name(), backend=RedisBackend(client=counted))
    cache.set("warm", 1)  # first write also registers the cache and loads scripts
    commands.clear()
    cache.set("k", {"a": 1})
    assert commands == ["EVALSHA"]
    commands.clear()
    assert cache.get("k") == {"a": 1}
    assert cache.get("absent") is None
    assert commands == ["EVALSHA", "EVALSHA"]


def test_scripts_are_reloaded_after_script_flush(redis_url, redis_client):
    cache = Cache(unique_name(), backend=redis_url)
    cache.set("a", 1)
    redis_client.script_flush()
    assert cache.get("a") == 1
    cache.set("b", 2)
    assert cache.get("b") == 2


def test_corrupt_payload_is_a_counted_miss_and_other_entries_survive(
    redis_url, redis_client, caplog
):
    calls = []

    @cached(backend=redis_url, name=unique_name())
    def compute(x):
        calls.append(x)
        return x * 10

    assert compute(1) == 10 and compute(2) == 20
    prefix = compute.cache.store.prefix
    redis_client.hset(f"{prefix}e:1", "v", b"\x80\x04garbage-or-a-pickle")
    assert compute(1) == 10, "recomputed, not crashed"
    assert compute(2) == 20
    assert calls == [1, 2, 1]
    stats = compute.cache.stats()
    assert stats.corrupt == 1
    assert (stats.hits, stats.misses) == (1, 3)
    assert stats.size == 2
    assert compute(1) == 10 and calls == [1, 2, 1], "the rewritten entry is good again"
    redis_client.hset(f"{prefix}e:2", "v", b"not ours either")
    assert compute(2) == 20
    warnings = [r for r in caplog.records if "unreadable" in r.message and r.levelname == "WARNING"]
    assert len(warnings) == 1, "logged once per cache, counted every time"
    assert compute.cache.stats().corrupt == 2


def test_unencodable_value_raises_at_set_time(redis_url):
    cache = Cache(unique_name(), backend=redis_url)
    with pytest.raises(CodecError):
        cache.set("k", object())
    assert len(cache) == 0


def test_threads_sharing_a_cache_keep_size_exact(redis_url):
    cache = Cache(unique_name(), max_size=50, backend=redis_url)
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(300):
                k = f"k{rng.integers(200)}"
                if rng.random() < 0.5:
                    cache.set(k, seed)
                else:
                    cache.get(k)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stats = cache.stats()
    assert stats.size == 50 == len(cache.store.list_keys())
    assert stats.hits + stats.misses == 8 * 300 - stats.sets


def _hammer(url, name, seed, max_size, n):
    cache = Cache(name, max_size=max_size, strategy="lfu", backend=url)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        k = f"k{rng.integers(500)}"
        if rng.random() < 0.6:
            cache.set(k, int(seed))
        else:
            cache.get(k)
        if rng.random() < 0.02:
            cache.invalidate(pattern=f"k{rng.integers(10)}*")


@pytest.mark.slow
def test_processes_writing_concurrently_never_exceed_max_size(redis_url, redis_client):
    name = unique_name()
    cache = Cache(name, max_size=40, strategy="lfu", backend=redis_url)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(redis_url, name, s, 40, 400)) for s in range(4)]
    for p in procs:
        p.start()
    observed = []
    idx = f"{cache.store.prefix}idx"
    while any(p.is_alive() for p in procs):
        observed.append(redis_client.zcard(idx))
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert max(observed) <= 40
    entries = list(redis_client.scan_iter(match=f"{cache.store.prefix}e:*", count=1000))
    stats = cache.stats()
    assert stats.size == len(entries) == redis_client.zcard(idx) <= 40
    assert stats.sets > 0 and stats.evictions > 0
