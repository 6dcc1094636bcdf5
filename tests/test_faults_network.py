"""Network trouble between a cache and its server, made by a loopback TCP proxy:
latency, a black hole, connections cut mid-traffic. Calls stay bounded by the socket
timeout, the circuit breaker spares a sick server, and the cache's invariants hold."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from functools import partial

import pytest
import redis

from admf_perf import Cache, cached, configure
from admf_perf.config import reset_settings
from admf_perf.errors import BackendUnavailableError
from admf_perf.testing import unique_name
from tests.faultkit import TcpProxy, wait_until

pytestmark = pytest.mark.fault

TIMEOUT = 0.3


@pytest.fixture
def proxy(redis_url: str, namespace: str) -> Iterator[TcpProxy]:
    """A proxy in front of the session's server; caches of this test go through it."""
    parts = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs
    with TcpProxy((parts["host"], parts["port"])) as box:
        configure(
            redis_url=box.url(),
            namespace=namespace,
            socket_timeout=TIMEOUT,
            connect_timeout=TIMEOUT,
            retry_after=1.0,
        )
        yield box
    reset_settings()


def value_of(key: str) -> list[str]:
    return [key, key[::-1]]


def test_latency_below_the_timeout_only_slows_calls(proxy: TcpProxy) -> None:
    cache = Cache(unique_name())
    cache.set("k", value_of("k"))
    proxy.delay = 0.05  # each way
    started = time.monotonic()
    assert cache.get("k") == value_of("k")
    took = time.monotonic() - started
    assert 0.1 <= took < TIMEOUT + 0.5, took
    assert not cache.store.backend.health.is_down


def test_a_black_hole_costs_one_timeout_then_the_breaker_backs_off(proxy: TcpProxy) -> None:
    cache = Cache(unique_name())
    cache.set("k", value_of("k"))
    proxy.blackhole = True  # the server "stops answering": bytes vanish, sockets stay open
    started = time.monotonic()
    assert cache.get("k", "computed") == "computed"
    first = time.monotonic() - started
    assert TIMEOUT * 0.9 <= first < TIMEOUT + 0.4, f"a get took {first:.2f}s"

    slow, calls, window = 0, 0, 2.5
    until = time.monotonic() + window
    while time.monotonic() < until:
        started = time.monotonic()
        assert cache.get("k", "computed") == "computed"
        cache.set("k2", 1)  # dropped, silently
        took = time.monotonic() - started
        assert took < 2 * TIMEOUT + 0.4, f"a call took {took:.2f}s"
        slow += took > TIMEOUT / 2
        calls += 1
    # retry_after=1.0: one try of the server per second, not one per call
    assert slow <= window / 1.0 + 1, f"{slow} slow calls in {window}s"
    assert calls > 20 * slow

    proxy.blackhole = False
    wait_until(lambda: cache.get("k") == value_of("k"), timeout=5, what="the cache back")
    assert "k2" not in cache


def test_cut_connections_keep_size_and_stats_exact(
    proxy: TcpProxy, redis_url: str, redis_client: redis.Redis
) -> None:
    configure(retry_after=0.05)  # keep trying the server: every cut hits live traffic
    max_size, keys = 20, [f"k{i}" for i in range(60)]
    name = unique_name("cut")
    cache = Cache(name, max_size=max_size, strategy="lru")
    computed: list[str] = []

    @cached(name=unique_name("cutfn"), lease=1.0)
    def compute(key: str) -> list[str]:
        computed.append(key)
        return value_of(key)

    idx = f"{cache.store.prefix}idx"
    errors: list[BaseException] = []
    wrong: list[object] = []
    worst = {"get": 0.0, "any": 0.0}
    refused = [0]
    done = [0]
    sizes: list[int] = []
    stop = threading.Event()

    def traffic(seed: int) -> None:
        i = seed
        try:
            while not stop.is_set():
                key = keys[(i * 7919) % len(keys)]
                started = time.monotonic()
                op = i % 5
                if op in (0, 1):
                    cache.set(key, value_of(key))
                elif op == 2:
                    found = cache.get(key)
                    if found is not None and found != value_of(key):
                        wrong.append(found)
                elif op == 3:
                    if compute(key) != value_of(key):
                        wrong.append(key)
                else:
                    try:  # invalidation is never silently skipped: it raises when cut off
                        cache.invalidate(key=key) if i % 10 else cache.invalidate(pattern="k1*")
                    except BackendUnavailableError:
                        refused[0] += 1
                took = time.monotonic() - started
                worst["any"] = max(worst["any"], took)
                if op == 2:
                    worst["get"] = max(worst["get"], took)
                done[0] += 1
                i += 4
        except BaseException as exc:
            errors.append(exc)

    def sample() -> None:  # straight to the server, past the proxy
        while not stop.is_set():
            sizes.append(int(redis_client.zcard(idx)))

    threads = [threading.Thread(target=traffic, args=(s,)) for s in range(4)]
    threads.append(threading.Thread(target=sample))
    for t in threads:
        t.start()
    cuts = 0

    def calls_since(mark: int, more: int) -> bool:
        return done[0] >= mark + more and proxy.connections > 0

    while cuts < 30:  # a cut every 30 operations, and every 5th cut a silent spell
        wait_until(partial(calls_since, done[0], 30), what="traffic")
        cuts += proxy.cut() > 0
        if cuts % 5 == 0:
            proxy.blackhole = True
            wait_until(partial(calls_since, done[0], 8), what="calls through the silence")
            proxy.blackhole = False
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert not wrong, wrong[:3]
    # a get is one round trip: at most one reconnect and one timeout; a set or a cached
    # call is at most three (registry, write; lock, read, write)
    assert worst["get"] < TIMEOUT + 0.4, f"a get took {worst['get']:.2f}s"
    assert worst["any"] < 3 * TIMEOUT + 0.5, f"a call took {worst['any']:.2f}s"

    wait_until(lambda: cache.get("probe") is None and not cache.store.backend.health.is_down)
    assert max(sizes) <= max_size, f"the index held {max(sizes)} > {max_size}"
    assert max(sizes) >= max_size // 2, "hardly any write got through: a weak test"
    entries = list(redis_client.scan_iter(match=f"{cache.store.prefix}e:*", count=1000))
    stats = cache.stats()
    assert stats.size == len(entries) == redis_client.zcard(idx) <= max_size
    for raw in entries:
        key = raw.decode().rsplit(":e:", 1)[1]
        assert cache.get(key) == value_of(key)
    print(
        f"\n{cuts} cuts, {done[0]} calls, worst get {worst['get']:.2f}s, worst call "
        f"{worst['any']:.2f}s, index at most {max(sizes)}/{max_size}, "
        f"{refused[0]} invalidations refused while cut off"
    )
