"""4 processes x 4 threads hammering one Redis cache with mixed get / set / invalidate
for a fixed number of operations: no error, no wrong value, the index never holds more
than ``max_size`` (sampled concurrently), ``stats().size`` equals the live entries at
the end, and the hits and misses add up to the gets done, exactly.

The throughput and latency of the same load are measured by ``benchmarks/load.py``."""

from __future__ import annotations

import multiprocessing as mp
import random
import threading
from typing import Any

import pytest
import redis

from admf_perf import Cache, configure
from admf_perf.testing import wait_until

pytestmark = pytest.mark.slow

FORK = mp.get_context("fork")
PROCESSES, THREADS, OPS = 4, 4, 800
MAX_SIZE, KEYS = 50, 150


def value_of(key: str) -> list[Any]:
    return [key, len(key), {"sq": int(key[1:]) ** 2}]


def hammer(url: str, ns: str, name: str, seed: int, out: Any) -> None:
    """One process: THREADS threads of OPS mixed operations; puts its counts on ``out``."""
    configure(redis_url=url, namespace=ns)
    cache = Cache(name, max_size=MAX_SIZE, strategy="lfu", ttl=0.25)
    totals = {"gets": 0, "hits": 0, "sets": 0, "invalidations": 0, "errors": 0, "wrong": 0}
    lock = threading.Lock()

    def work(thread: int) -> None:
        rng = random.Random(seed * 100 + thread)
        mine = dict.fromkeys(totals, 0)
        for _ in range(OPS):
            key = f"k{rng.randrange(KEYS)}"
            roll = rng.random()
            try:
                if roll < 0.6:
                    found = cache.get(key)
                    mine["gets"] += 1
                    if found is not None:
                        mine["hits"] += 1
                        mine["wrong"] += found != value_of(key)
                elif roll < 0.9:
                    cache.set(key, value_of(key))
                    mine["sets"] += 1
                elif roll < 0.98:
                    cache.invalidate(key=key)
                    mine["invalidations"] += 1
                else:
                    cache.invalidate(pattern=f"k{rng.randrange(10)}*")
                    mine["invalidations"] += 1
            except Exception:
                mine["errors"] += 1
        with lock:
            for k, v in mine.items():
                totals[k] += v

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(totals)


def test_processes_and_threads_keep_every_invariant(
    redis_url: str, namespace: str, redis_client: redis.Redis
) -> None:
    name = "load.lfu"
    cache = Cache(name, max_size=MAX_SIZE, strategy="lfu", ttl=0.25)
    idx = f"{cache.store.prefix}idx"
    out = FORK.Queue()
    procs = [
        FORK.Process(target=hammer, args=(redis_url, namespace, name, seed, out))
        for seed in range(PROCESSES)
    ]
    sizes: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            sizes.append(int(redis_client.zcard(idx)))

    sampler = threading.Thread(target=sample)
    sampler.start()
    for p in procs:
        p.start()
    try:
        counts = [out.get(timeout=120) for _ in procs]
    finally:
        done.set()
        sampler.join()
        for p in procs:
            p.join(timeout=30)
    assert all(p.exitcode == 0 for p in procs)
    total = {k: sum(c[k] for c in counts) for k in counts[0]}
    assert total["errors"] == 0 and total["wrong"] == 0, total
    assert total["gets"] + total["sets"] + total["invalidations"] == PROCESSES * THREADS * OPS
    assert len(sizes) > 100 and max(sizes) <= MAX_SIZE, f"index held {max(sizes)}"

    stats = cache.stats()  # purges what expired meanwhile, then counts
    entries = list(redis_client.scan_iter(match=f"{cache.store.prefix}e:*", count=1000))
    assert stats.size == len(entries) == redis_client.zcard(idx) <= MAX_SIZE
    assert stats.hits + stats.misses == total["gets"], (stats, total)
    assert stats.hits == total["hits"], "every hit the clients saw, and no other, was counted"
    assert stats.sets == total["sets"]
    assert stats.evictions > 0 and stats.hits > 0
    # and what is left expires, counted: the size follows expiry too
    wait_until(lambda: cache.stats().size == 0, timeout=10, what="the entries to expire")
    after = cache.stats()
    assert after.expirations - stats.expirations == stats.size
    assert redis_client.zcard(idx) == 0
    assert not list(redis_client.scan_iter(match=f"{cache.store.prefix}e:*", count=1000))
    print(
        f"\n{PROCESSES}x{THREADS} x {OPS} ops: {total}; index peak {max(sizes)}/{MAX_SIZE}; "
        f"evictions {stats.evictions}, then {stats.size} expired"
    )
