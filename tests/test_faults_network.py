"""Network trouble between a cache and its server, made by a loopback TCP proxy:
latency, a black hole, connections cut mid-traffic. Calls stay bounded by the socket
timeout, the circuit breaker spares a sick server, and the cache's invariants hold."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import redis
from redis.connection import AbstractConnection
from rq import Queue
from rq.utils import get_version

from admf_perf import Cache, cached, configure
from admf_perf.config import reset_settings
from admf_perf.errors import BackendUnavailableError
from admf_perf.execution import CPUManager, RQBackend
from admf_perf.stores import RedisBackend
from admf_perf.testing import unique_name, wait_until
from tests import tasks
from tests.faultkit import TcpProxy

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


@pytest.fixture
def sent(proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every packed command a client sends through the proxy, recorded as it is sent
    (the real send still happens): a replay shows up as a second copy."""
    commands: list[bytes] = []
    original = AbstractConnection.send_packed_command

    def recording(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        if getattr(self, "port", None) == proxy.port:
            parts = [command] if isinstance(command, (bytes, str)) else command
            commands.append(b"".join(p if isinstance(p, bytes) else p.encode() for p in parts))
        original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", recording)
    return commands


def test_a_timed_out_counter_is_never_replayed(
    proxy: TcpProxy, sent: list[bytes], redis_url: str, namespace: str
) -> None:
    """The get script counts a hit. The server runs it, its reply is lost: the caller
    gets a miss after one timeout, and the hit is counted once, not once per retry."""
    name = unique_name("counted")
    cache = Cache(name)
    cache.set("k", value_of("k"))
    assert cache.get("k") == value_of("k")  # the get script is loaded on the server
    direct = Cache(name, backend=RedisBackend(redis_url, namespace=namespace))
    hits = direct.stats().hits
    sent.clear()
    proxy.mute_replies = True
    started = time.monotonic()
    assert cache.get("k") is None  # a miss: the reply never came
    assert time.monotonic() - started < 2 * TIMEOUT + 0.3
    assert len(sent) == 1, f"{len(sent)} sends of one get: a timed-out call was replayed"
    wait_until(lambda: direct.stats().hits == hits + 1, what="the server to count the hit")
    assert direct.stats().hits == hits + 1


def test_a_timed_out_job_push_is_never_replayed(
    proxy: TcpProxy, sent: list[bytes], redis_client: redis.Redis, request: pytest.FixtureRequest
) -> None:
    """RQ's push of the chunk jobs runs on the server, its reply is lost: the map fails
    in one line after a bounded time, and the push went out and ran once: each chunk is
    queued once. (The clean-up can't reach the server either, so those jobs stay: a
    worker runs them and their records expire unread; the map's caller was told.)"""
    queue = unique_name("q")
    backend = RQBackend(queue=queue)
    manager = CPUManager(backend=backend)
    request.addfinalizer(manager.shutdown)
    assert backend.worker_count() == 0  # connected before the replies stop, and RQ
    assert get_version(backend.connection) >= (7, 0, 0)  # asks for the version only once
    pushed = rpush_calls(redis_client)
    proxy.mute_replies = True
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="unavailable for the executor") as caught:
        manager.map_tasks(tasks.square, list(range(40)), chunksize=10)
    took = time.monotonic() - started
    assert "\n" not in str(caught.value)
    pushes = [c for c in sent if b"RPUSH" in c]
    assert len(pushes) == 1, f"the job push was sent {len(pushes)} times"
    assert pushes[0].count(b"RPUSH") == 4  # one pipeline holding the 4 chunks
    assert took < 3 * TIMEOUT + 0.5, f"the failed map took {took:.2f}s"
    proxy.mute_replies = False
    wait_until(lambda: rpush_calls(redis_client) >= pushed + 4, what="the pushes to land")
    assert rpush_calls(redis_client) == pushed + 4, "the server ran a push twice"
    job_ids = Queue(queue, connection=redis_client).job_ids
    assert len(job_ids) == len(set(job_ids)) == 4, job_ids


def rpush_calls(client: redis.Redis) -> int:
    return int(client.info("commandstats").get("cmdstat_rpush", {}).get("calls", 0))
