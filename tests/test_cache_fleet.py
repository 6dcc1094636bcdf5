"""The shared cache at fleet scale, with real processes: single flight, takeover after
a crash, near-cache invalidation across processes, code versions."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import pytest
import redis

from admf_perf import Cache, CacheManager, cached, configure
from admf_perf.testing import unique_name

FORK = mp.get_context("fork")


def _slow_double(url, ns, name, counter, x, barrier, lease, hang):
    configure(redis_url=url, namespace=ns)
    client = redis.Redis.from_url(url)

    @cached(name=name, version="v1", lease=lease)
    def slow(value):
        client.incr(counter)
        if hang:
            time.sleep(600)  # a computation that never ends: the test kills this process
        time.sleep(0.2)  # the 200 ms computation every caller would otherwise repeat
        return value * 2

    if barrier is not None:
        barrier.wait()
    return slow(x)


def _call_in(queue, *args):
    queue.put(_slow_double(*args))


@pytest.mark.slow
def test_twenty_processes_missing_one_key_compute_it_once(redis_url, namespace, redis_client):
    name, counter = unique_name("stampede"), unique_name("counter")
    barrier = FORK.Barrier(20)
    queue = FORK.Queue()
    procs = [
        FORK.Process(
            target=_call_in,
            args=(queue, redis_url, namespace, name, counter, 21, barrier, 30, False),
        )
        for _ in range(20)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert results == [42] * 20
    assert int(redis_client.get(counter)) == 1, "the computation ran more than once"


@pytest.mark.slow
def test_a_waiter_takes_over_when_the_computer_dies(redis_url, namespace, redis_client):
    name, counter = unique_name("takeover"), unique_name("counter")
    lease = 1.0
    args = (redis_url, namespace, name, counter, 5, None, lease)
    computer = FORK.Process(target=_slow_double, args=(*args, True))
    computer.start()
    deadline = time.monotonic() + 30
    while redis_client.get(counter) is None:  # wait until it holds the lock and computes
        assert time.monotonic() < deadline
        time.sleep(0.01)
    queue = FORK.Queue()
    waiter = FORK.Process(target=_call_in, args=(queue, *args, False))
    waiter.start()
    os.kill(computer.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    assert queue.get(timeout=30) == 10
    took = time.monotonic() - killed_at
    waiter.join(timeout=10)
    computer.join(timeout=10)
    assert int(redis_client.get(counter)) == 2
    assert took < lease + 2, f"takeover took {took:.1f}s with a {lease}s lease"


def test_single_flight_can_be_switched_off(redis_url, namespace, redis_client):
    calls = []

    @cached(name=unique_name(), single_flight=False)
    def f(x):
        calls.append(x)
        return x

    assert f(1) == 1 and f(1) == 1
    assert calls == [1]
    assert not list(redis_client.scan_iter(match=f"{namespace}:*lock*"))


def test_a_failed_computation_releases_the_lock(redis_url, namespace, redis_client):
    attempts = []

    @cached(name=unique_name())
    def flaky(x):
        attempts.append(x)
        if len(attempts) == 1:
            raise RuntimeError("data vendor timeout")
        return x

    with pytest.raises(RuntimeError, match="vendor"):
        flaky(3)
    assert flaky(3) == 3
    assert not list(redis_client.scan_iter(match=f"{namespace}:*lock*"))


def _write_elsewhere(url, ns, name, key, value):
    configure(redis_url=url, namespace=ns)
    Cache(name).set(key, value)


def test_near_cache_hits_stay_in_process_and_are_dropped_on_remote_writes(redis_url, namespace):
    name = unique_name("near")
    cache = Cache(name, local_size=10)
    cache.set("AAPL", 1)
    for _ in range(20):
        assert cache.get("AAPL") == 1
    stats = cache.stats()
    # the first read goes to Redis; our own write's change message may arrive after it
    # and drop that first copy once, costing one more Redis read; all others are local
    assert stats.hits + stats.local_hits == 20
    assert stats.hits <= 2, "L1 hits must not go to Redis"

    writer = FORK.Process(target=_write_elsewhere, args=(redis_url, namespace, name, "AAPL", 2))
    writer.start()
    writer.join(timeout=30)
    assert writer.exitcode == 0
    deadline = time.monotonic() + 1.0
    while cache.get("AAPL") != 2:
        assert time.monotonic() < deadline, "stale L1 copy survived a remote write for 1 s"


def test_near_cache_follows_invalidations_and_clear_from_other_clients(redis_url, namespace):
    name = unique_name("near")
    near = Cache(name, local_size=10)
    other = Cache(name, backend=redis_url)  # same cache, no L1: stands in for another host
    for k in ("a", "b"):
        near.set(k, k)
        near.get(k)
    assert other.invalidate(key="a") == 1
    assert other.clear() == 1
    deadline = time.monotonic() + 1.0
    while near.get("a") is not None or near.get("b") is not None:
        assert time.monotonic() < deadline


def test_an_edited_function_does_not_reuse_old_results(redis_url, namespace):
    name = unique_name()

    @cached(name=name, version="v1")
    def model(x):
        return "old"

    assert model(1) == "old"

    @cached(name=name, version="v2")
    def model_v2(x):
        return "new"

    assert model_v2(1) == "new"
    assert model_v2.cache.stats().misses == 2


def test_default_version_is_a_fingerprint_of_the_source():
    @cached
    def one(x):
        return x + 1

    @cached
    def two(x):
        return x + 2

    @cached(version="pinned")
    def three(x):
        return x

    assert one.cache.version and two.cache.version
    assert one.cache.version != two.cache.version
    assert three.cache.version == "pinned"


def _switch(url, ns, op, pattern=None):
    configure(redis_url=url, namespace=ns)
    manager = CacheManager.get_instance()
    if op == "invalidate":
        manager.invalidate_by_pattern(pattern, fleet=True)
    else:
        getattr(manager, op)(fleet=True)


def _report_enabled(url, ns, queue):
    configure(redis_url=url, namespace=ns)
    Cache(unique_name()).get("x")  # first use of the server attaches to the fleet switches
    queue.put(CacheManager.get_instance().enabled)


def test_fleet_wide_switches_reach_running_and_later_processes(redis_url, namespace):
    manager = CacheManager.get_instance()
    Cache(unique_name()).get("warm-up")  # this process now follows the namespace's switches
    local = Cache(unique_name("mem"), backend="memory")
    local.set("AAPL:1", 1)
    local.set("MSFT:1", 1)
    try:
        p = FORK.Process(target=_switch, args=(redis_url, namespace, "disable"))
        p.start()
        p.join(timeout=30)
        deadline = time.monotonic() + 1.0
        while manager.enabled:
            assert time.monotonic() < deadline, "a fleet-wide disable took more than 1 s"
        queue = FORK.Queue()
        later = FORK.Process(target=_report_enabled, args=(redis_url, namespace, queue))
        later.start()
        assert queue.get(timeout=30) is False, "a process started later must follow the switch"
        later.join(timeout=30)

        p = FORK.Process(target=_switch, args=(redis_url, namespace, "enable"))
        p.start()
        p.join(timeout=30)
        deadline = time.monotonic() + 1.0
        while not manager.enabled:
            assert time.monotonic() < deadline

        p = FORK.Process(
            target=_switch, args=(redis_url, namespace, "invalidate", f"{local.name}:AAPL*")
        )
        p.start()
        p.join(timeout=30)
        deadline = time.monotonic() + 1.0
        while "AAPL:1" in local:
            assert time.monotonic() < deadline, "in-process caches were not invalidated fleet-wide"
        assert "MSFT:1" in local
    finally:
        manager.enable()
