"""Load held by one Redis cache: N processes x M threads of mixed operations (60% get,
30% set, 8% invalidate by key, 2% by pattern) on an LFU cache of 50 entries with a TTL,
keys drawn from 150. The anchor is the same mix from one thread of one process.

Per case: time per operation (so ops/s = 1 / median), and in the notes the latency
percentiles of single operations (p50, p99, max) and what the server saw. The
correctness of the same load (max_size, exact stats) is proven by tests/test_load.py.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import statistics
import threading
import time
from typing import Any

from admf_perf import Cache, configure
from admf_perf.server import EmbeddedServer
from admf_perf.stores import RedisBackend
from benchmarks.harness import Suite

FORK = mp.get_context("fork")
MAX_SIZE, KEYS = 50, 150
NAMESPACE = "bench-load"


def _value(key: str) -> list[Any]:
    return [key, len(key), {"sq": int(key[1:]) ** 2}]


def _process(url: str, name: str, seed: int, threads: int, ops: int, out: Any) -> None:
    configure(redis_url=url, namespace=NAMESPACE)
    cache = Cache(name, max_size=MAX_SIZE, strategy="lfu", ttl=1.0)
    cache.get("warm-up")  # connect and load the scripts before the clock runs
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def work(thread: int) -> None:
        rng = random.Random(seed * 1000 + thread)
        mine: list[float] = []
        barrier.wait()
        for _ in range(ops):
            key = f"k{rng.randrange(KEYS)}"
            roll = rng.random()
            started = time.perf_counter()
            try:
                if roll < 0.6:
                    found = cache.get(key)
                    if found is not None and found != _value(key):
                        raise AssertionError(f"wrong value for {key}")
                elif roll < 0.9:
                    cache.set(key, _value(key))
                elif roll < 0.98:
                    cache.invalidate(key=key)
                else:
                    cache.invalidate(pattern=f"k{rng.randrange(10)}*")
            except Exception:
                errors[0] += 1
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((latencies, errors[0]))


def _load(url: str, processes: int, threads: int, ops: int, record: dict[str, Any]) -> None:
    name = f"bench.load.{processes}x{threads}"
    out = FORK.Queue()
    procs = [
        FORK.Process(target=_process, args=(url, name, seed, threads, ops, out))
        for seed in range(processes)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    backend = RedisBackend(url, namespace=NAMESPACE)
    stats = Cache(name, max_size=MAX_SIZE, strategy="lfu", ttl=1.0, backend=backend).stats()
    record.update(
        latencies=latencies,
        errors=sum(e for _, e in results),
        size=stats.size,
        evictions=stats.evictions,
    )


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def build(quick: bool) -> list[Suite]:
    ops = 250 if quick else 1500
    server = EmbeddedServer()
    shapes = [(1, 1), (1, 4), (4, 1), (4, 4)]
    records: dict[str, dict[str, Any]] = {}

    def teardown() -> None:
        server.stop()
        for label, rec in records.items():
            lat = rec["latencies"]
            suite.notes.append(
                f"{label}: p50 {_percentile(lat, 0.50) * 1e6:.0f} us, "
                f"p99 {_percentile(lat, 0.99) * 1e6:.0f} us, max {lat[-1] * 1e3:.1f} ms, "
                f"mean {statistics.fmean(lat) * 1e6:.0f} us per op; errors {rec['errors']}; "
                f"cache size {rec['size']}/{MAX_SIZE}, evictions {rec['evictions']}"
            )

    def setup() -> None:
        server.start()

    suite = Suite(
        "load_mixed_ops", anchor="1 process x 1 thread", repeat=3, setup=setup, teardown=teardown
    )
    for processes, threads in shapes:
        label = f"{processes} process{'es' if processes > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}"
        record = records.setdefault(label, {})

        def case(p: int = processes, t: int = threads, rec: dict[str, Any] = record) -> None:
            _load(server.url, p, t, ops, rec)

        suite.add(label, case, ops=processes * threads * ops)
    suite.notes.append(
        f"{ops} ops per thread; ops/s of a case = 1 / its median time per op (the time "
        "includes forking the processes); the percentiles below are of the last repeat"
    )
    return [suite]
