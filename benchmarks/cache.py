"""Cache core benchmarks, each against its anchor in the same run:

- memory hit through ``@cached`` vs ``cachetools.cached(LRUCache)`` (and functools.lru_cache)
- Redis hit through ``@cached`` vs one raw redis-py GET of the same payload size
- ``CacheKey`` of a 1,000,000-element float64 array, in GB/s (vs hashing the bytes with sha1)
- pattern invalidation of 100,000 of 200,000 entries, entries removed per second
"""

from __future__ import annotations

import functools
import hashlib

import cachetools
import numpy as np
import redis

from admf_perf import Cache, CacheKey, cached
from admf_perf.server import EmbeddedServer
from benchmarks.harness import Suite


def _memory_suite(n: int) -> Suite:
    suite = Suite("cache_memory_hit", anchor="cachetools.cached(LRUCache)")

    @cachetools.cached(cachetools.LRUCache(128))
    def anchor(a: int, b: int) -> int:
        return a + b

    @functools.lru_cache(128)
    def stdlib(a: int, b: int) -> int:
        return a + b

    @cached(max_size=128, backend="memory", name="bench.memory_hit")
    def ours(a: int, b: int) -> int:
        return a + b

    def loop(fn):  # type: ignore[no-untyped-def]
        def run() -> None:
            for _ in range(n):
                fn(1, 2)

        return run

    suite.add("cachetools.cached(LRUCache)", loop(anchor), ops=n)
    suite.add("functools.lru_cache", loop(stdlib), ops=n)
    suite.add("admf @cached memory", loop(ours), ops=n, goal="<= 1.0")
    return suite


def _redis_suite(n: int, server: EmbeddedServer) -> Suite:
    state: dict = {}
    payload = np.arange(16, dtype=np.float64)  # ~200-byte encoded value

    def setup() -> None:
        server.start()
        client = redis.Redis.from_url(server.url)
        state["client"] = client

        @cached(max_size=128, backend=server.url, name="bench.redis_hit")
        def ours(a: int, b: int) -> np.ndarray:
            return payload

        ours(1, 2)
        state["ours"] = ours
        from admf_perf import codec

        client.set("bench:raw", codec.encode(payload))

    suite = Suite("cache_redis_hit", anchor="redis-py GET", setup=setup, teardown=server.stop)

    def raw() -> None:
        get = state["client"].get
        for _ in range(n):
            get("bench:raw")

    def ours_loop() -> None:
        fn = state["ours"]
        for _ in range(n):
            fn(1, 2)

    suite.add("redis-py GET", raw, ops=n)
    suite.add("admf @cached redis hit", ours_loop, ops=n, goal="<= 1.3")
    return suite


def _key_suite(size: int) -> Suite:
    data = np.random.default_rng(0).random(size)
    suite = Suite("cache_key_array", anchor="sha1 of the bytes", repeat=9)
    suite.add("sha1 of the bytes", lambda: hashlib.sha1(data.tobytes()).digest(), ops=1)
    suite.add("CacheKey.generate_key", lambda: CacheKey.generate_key((data,), {}), ops=1)
    suite.notes.append(
        f"array: {size:,} float64 = {data.nbytes / 1e6:.0f} MB; GB/s = MB / median ms / 1000"
    )
    return suite


def _invalidate_suite(total: int, server: EmbeddedServer) -> Suite:
    state: dict = {}

    def fill() -> None:
        cache = Cache("bench.invalidate", max_size=total, strategy="fifo", backend=server.url)
        cache.clear()
        client = redis.Redis.from_url(server.url)
        pipe = client.pipeline(transaction=False)
        store = cache.store
        set_script = __import__("admf_perf.stores.scripts", fromlist=["script"]).script("set")
        value = __import__("admf_perf.codec", fromlist=["encode"]).encode(1)
        keys = store._keys  # benchmark-only: bulk load through the real script, pipelined
        for i in range(total):
            k = f"{'even' if i % 2 == 0 else 'odd'}:{i}"
            pipe.evalsha(
                set_script.sha,
                5,
                *keys,
                store._entry_prefix + k,
                store._entry_prefix,
                "0",
                k,
                value,
                0,  # ttl_ms
                total,  # max_size
                0,  # compute_ms
                "",  # version
            )
            if i % 5000 == 4999:
                pipe.execute()
        pipe.execute()
        state["cache"] = cache

    def setup() -> None:
        server.start()
        client = redis.Redis.from_url(server.url)
        from admf_perf.stores.scripts import script

        client.script_load(script("set").source)

    def run() -> None:
        fill()
        removed = state["cache"].invalidate(pattern="even:*")
        assert removed == total // 2, removed

    suite = Suite(
        "cache_invalidate_pattern", anchor="fill only", repeat=3, setup=setup, teardown=server.stop
    )
    suite.add("fill only", fill, ops=total // 2)
    suite.add("fill + invalidate half", run, ops=total // 2)
    suite.notes.append(
        "entries removed per second = 1 / (fill+invalidate - fill) per-entry time; see RESULTS.md"
    )
    return suite


def build(quick: bool) -> list[Suite]:
    n = 20_000 if quick else 200_000
    return [
        _memory_suite(n),
        _redis_suite(n // 20, EmbeddedServer()),
        _key_suite(100_000 if quick else 1_000_000),
        _invalidate_suite(20_000 if quick else 200_000, EmbeddedServer()),
    ]
