"""Redis killed and restarted under a running program: cached functions stay correct,
log once, don't wait on every call, and use the server again when it is back."""

from __future__ import annotations

import logging
import time

import pytest

from admf_perf import Cache, EmbeddedServer, cached, configure
from admf_perf.config import reset_settings
from admf_perf.testing import unique_name

pytestmark = pytest.mark.fault


@pytest.fixture
def own_server():
    server = EmbeddedServer().start()
    configure(redis_url=server.url, retry_after=0.3, socket_timeout=0.5, connect_timeout=0.2)
    yield server
    server.stop()
    reset_settings()


def test_cached_function_survives_server_kill_and_restart(own_server, caplog):
    calls = []

    @cached(name=unique_name("outage"))
    def price(x):
        calls.append(x)
        return x * 2

    assert price(1) == 2 and price(1) == 2
    assert calls == [1]
    port = own_server.port
    assert own_server.process is not None
    own_server.process.kill()
    own_server.process.wait()

    caplog.set_level(logging.WARNING, logger="admf_perf")
    start = time.monotonic()
    results = [price(i % 5) for i in range(100)]
    elapsed = time.monotonic() - start
    assert results == [(i % 5) * 2 for i in range(100)]
    assert elapsed < 5, f"100 calls took {elapsed:.1f}s: the back-off is not working"
    warnings = [r for r in caplog.records if "unavailable" in r.message]
    assert len(warnings) == 1, [r.message for r in warnings]
    assert "\n" not in warnings[0].getMessage()

    own_server.stop()
    restarted = EmbeddedServer(port).start()
    try:
        deadline = time.monotonic() + 10
        while price.cache.stats().sets == 0:  # new server: empty until a write gets through
            assert time.monotonic() < deadline, "the cache never used the restarted server"
            price(7)
        assert price(7) == 14
        assert price.cache.stats().hits >= 1
        assert any("back after" in r.message for r in caplog.records)
    finally:
        restarted.stop()


def test_cache_api_returns_default_and_drops_writes_while_down(own_server):
    cache = Cache(unique_name())
    cache.set("k", 1)
    assert own_server.process is not None
    own_server.process.kill()
    own_server.process.wait()
    assert cache.get("k", "fallback") == "fallback"
    cache.set("k2", 2)  # dropped, no exception
    assert cache.get("k2") is None


def test_a_server_that_stops_answering_costs_one_timeout_not_one_per_call():
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # connections are accepted by the kernel, but nothing ever answers
    port = silent.getsockname()[1]
    configure(
        redis_url=f"redis://127.0.0.1:{port}/0",
        socket_timeout=0.3,
        connect_timeout=0.3,
        retry_after=60,
    )
    try:

        @cached(name=unique_name("silent"))
        def value(x):
            return x + 1

        start = time.monotonic()
        results = [value(i % 7) for i in range(200)]
        elapsed = time.monotonic() - start
        assert results == [i % 7 + 1 for i in range(200)]
        # one timed-out attempt (a read, maybe a retry of it), then the breaker is open
        assert elapsed < 2.0, f"200 calls took {elapsed:.1f}s against a silent server"
    finally:
        reset_settings()
        silent.close()
