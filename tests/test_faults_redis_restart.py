"""Redis killed (``kill -9``) and restarted under running work: a sweep on real workers,
scripts that are gone after the restart, and a replica that answers LOADING."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue, Worker

from admf_perf import Cache, CacheManager, cached, configure
from admf_perf.config import reset_settings
from admf_perf.errors import BackendUnavailableError
from admf_perf.execution import CPUManager, RQBackend
from admf_perf.server import EmbeddedServer, free_port
from admf_perf.stores import RedisBackend
from admf_perf.testing import unique_name, wait_until, worker_processes
from tests import fault_tasks

pytestmark = pytest.mark.fault

ROOT = Path(__file__).resolve().parent.parent
WORKER_ARGS = ["--import", "tests.fault_tasks", "--path", str(ROOT), "--log-level", "WARNING"]


class Restartable:
    """A server on a fixed port that the test kills with SIGKILL and starts again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server = EmbeddedServer(self.port).start()
        self.url = self.server.url

    def kill(self) -> None:
        assert self.server.process is not None
        self.server.process.kill()  # kill -9: no shutdown, no save, connections reset
        self.server.process.wait()
        self.server.stop()  # removes its files; the process is already gone

    def restart(self) -> None:
        self.server = EmbeddedServer(self.port).start()

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def restartable() -> Iterator[Restartable]:
    box = Restartable()
    yield box
    box.stop()
    reset_settings()


def test_scripts_are_reloaded_after_a_restart_without_an_outage(restartable: Restartable) -> None:
    configure(redis_url=restartable.url, namespace=unique_name(), retry_after=30)
    cache = Cache(unique_name())
    cache.set("a", 1)
    assert cache.get("a") == 1
    restartable.kill()
    restartable.restart()
    fresh = redis.Redis.from_url(restartable.url)
    assert fresh.script_exists(cache.store._get.sha) == [False], "a new server knows no script"
    # the pooled connection is dead and the scripts are gone: the first call reconnects,
    # gets NOSCRIPT, loads the script and runs it again; no outage, no back-off
    cache.set("b", 2)
    assert cache.get("b") == 2
    assert not cache.store.backend.health.is_down
    stats = cache.stats()
    assert (stats.sets, stats.hits, stats.size) == (1, 1, 1), "the new server's own counts"
    fresh.close()


def test_fleet_switches_reach_the_server_when_another_one_this_process_used_is_gone(
    restartable: Restartable,
) -> None:
    gone = EmbeddedServer().start()
    Cache(unique_name(), backend=gone.url).get("x")  # this process now follows that server
    gone.stop()
    ns = unique_name("ns")
    configure(redis_url=restartable.url, namespace=ns)
    Cache(unique_name()).get("x")
    manager = CacheManager.get_instance()
    client = redis.Redis.from_url(restartable.url)
    try:
        manager.disable(fleet=True)  # raised here: the gone server's backend was tried too
        assert client.get(f"{ns}:enabled") == b"0"
        manager.enable(fleet=True)
        assert client.get(f"{ns}:enabled") == b"1"
    finally:
        manager.enable()
        client.close()


def _registered(url: str, queue: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(Worker.count(connection=client, queue=Queue(queue, connection=client)))
    finally:
        client.close()


@pytest.mark.slow
def test_a_sweep_outlives_redis_killed_and_restarted(
    restartable: Restartable, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, ns, queue = restartable.url, unique_name("ns"), unique_name("q")
    env = {
        "ADMF_REDIS_URL": url,
        "ADMF_NAMESPACE": ns,
        "ADMF_RETRY_AFTER": "0.5",
        "ADMF_SOCKET_TIMEOUT": "1",
    }
    configure(redis_url=url, namespace=ns, retry_after=0.3, socket_timeout=1, connect_timeout=0.5)
    caplog.set_level(logging.WARNING, logger="admf_perf")
    items = list(range(300))
    outcome: dict[str, Any] = {}
    log_path = tmp_path / "workers.log"
    with worker_processes(url, queue, 2, extra_args=WORKER_ARGS, env=env, log_path=log_path):
        wait_until(lambda: _registered(url, queue) == 2, what="2 workers")
        backend = RQBackend(url, queue, namespace=ns, lease_ttl=1.0, max_attempts=6)
        manager = CPUManager(backend=backend)
        run = manager.map_async(fault_tasks.cached_square, items, chunksize=10)

        def collect() -> None:
            try:
                outcome["results"] = run.result(timeout=60)
            except Exception as exc:  # judged below: only a clear error is acceptable
                outcome["error"] = exc

        collector = threading.Thread(target=collect)
        collector.start()
        wait_until(lambda: run.completed >= 30, what="the sweep under way")
        restartable.kill()
        killed_at = time.monotonic()

        # during the outage: the cached function computes, correctly, without waiting
        started = time.monotonic()
        assert [fault_tasks.cached_square(x) for x in range(40)] == [x * x for x in range(40)]
        assert time.monotonic() - started < 40 * 0.01 + 2.0, "calls waited on the dead server"

        restartable.restart()
        collector.join(timeout=90)
        assert not collector.is_alive(), "the map hung after the restart"
        outage = time.monotonic() - killed_at
        # the map rode out the outage: the chunks lost with the server ran again
        assert "error" not in outcome, f"the map failed: {outcome.get('error')!r}"
        assert outcome["results"] == [x * x for x in items], "wrong or lost results"
        assert any("is back after" in r.getMessage() for r in caplog.records)
        manager.shutdown()
    # nothing cached comes back wrong: every entry now in the cache holds its square
    cache = fault_tasks.cached_square.cache
    store = cache.store
    keys = store.list_keys()
    assert all(cache.get(k) == int(k) ** 2 for k in keys), "a wrong value was cached"
    assert fault_tasks.cached_square(7) == 49
    assert cache.stats().size == len(store.list_keys())
    print(f"\nsweep completed across the restart; outage+recovery {outage:.1f}s; "
          f"{len(keys)} entries checked")  # fmt: skip
    assert isinstance(store.backend, RedisBackend)


@pytest.mark.slow
def test_a_submitted_call_outlives_redis_killed_and_restarted(restartable: Restartable) -> None:
    """A call running on a worker when Redis dies: its future still resolves, once, with
    the right result (sent by the same run after the restart, or by a re-run when the
    server lost its lease and job)."""
    url, queue, marks = restartable.url, unique_name("q"), unique_name("marks")
    with worker_processes(url, queue, 1, extra_args=WORKER_ARGS):
        wait_until(lambda: _registered(url, queue) == 1, what="a worker")
        manager = CPUManager(backend=RQBackend(url, queue, lease_ttl=1.0, max_attempts=4))
        future = manager.submit_task(fault_tasks.marked_square, [url, marks, 7, 1.0])
        wait_until(lambda: redis.Redis.from_url(url).llen(marks) == 1, what="the call started")
        restartable.kill()
        restartable.restart()
        assert future.result(timeout=60) == 49
        manager.shutdown()


def test_a_map_whose_server_never_comes_back_fails_clearly_after_the_grace(
    restartable: Restartable,
) -> None:
    """No restart: the map waits ``outage_grace`` for the server, then fails in one line
    naming it; it neither hangs nor fails at the first refused connection."""
    queue = unique_name("q")
    with worker_processes(restartable.url, queue, 1, extra_args=WORKER_ARGS):
        wait_until(lambda: _registered(restartable.url, queue) == 1, what="a worker")
        backend = RQBackend(restartable.url, queue, lease_ttl=1.0, outage_grace=1.5)
        manager = CPUManager(backend=backend)
        run = manager.map_async(fault_tasks.slow_square, list(range(50)), chunksize=5)
        assert next(iter(run)) == 0  # the map under way: the first result is in
        restartable.kill()
        killed_at = time.monotonic()
        with pytest.raises(BackendUnavailableError, match="unavailable for the executor") as caught:
            run.result(timeout=30)
        took = time.monotonic() - killed_at
        assert "\n" not in str(caught.value)
        assert f":{restartable.port}" in str(caught.value)
        assert 1.5 <= took < 1.5 + 3.0, f"failed {took:.2f}s after the kill"
        manager.shutdown()
        restartable.restart()  # lets the worker stop cleanly


@pytest.mark.slow
def test_a_loading_server_is_backed_off_then_used_after_a_failover() -> None:
    """A replica in full sync answers LOADING (slowed by ``key-load-delay``); pointed at
    it, a cached function computes and tries the server once per ``retry_after``; once
    the replica is promoted (a failover), the entry synced from the primary is a hit."""
    ns, name = unique_name("ns"), unique_name("loading")
    primary = EmbeddedServer(extra_args=["--repl-diskless-sync-delay", "0"]).start()
    replica = EmbeddedServer(
        extra_args=["--key-load-delay", "100", "--loading-process-events-interval-bytes", "1024"]
    ).start()
    attempts: list[tuple[float, str]] = []
    client = redis.Redis.from_url(replica.url, socket_timeout=1)
    original = client.execute_command

    def counting(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except redis.RedisError as exc:
            attempts.append((time.monotonic(), type(exc).__name__))
            raise

    client.execute_command = counting  # type: ignore[method-assign]
    try:
        junk = primary.client()
        with junk.pipeline(transaction=False) as pipe:
            for i in range(8000):  # ~0.8 s of loading at 100 us a key
                pipe.set(f"junk:{i}", i)
            pipe.execute()
        Cache(name, backend=RedisBackend(primary.url, namespace=ns)).set("7", 49)
        configure(retry_after=0.25)
        calls = []

        @cached(name=name, version="", backend=RedisBackend(client=client, namespace=ns))
        def square(x: int) -> int:
            calls.append(x)
            return x * x

        watcher = replica.client()
        watcher.replicaof("127.0.0.1", str(primary.port))
        wait_until(lambda: watcher.info("persistence")["loading"], what="the replica loading")
        loading_from = time.monotonic()
        results = []
        while watcher.info("persistence")["loading"]:
            started = time.monotonic()
            results.append(square(7))
            assert time.monotonic() - started < 0.5, "a call waited on the loading server"
        loading = time.monotonic() - loading_from
        assert set(results) == {49}
        during = [a for a in attempts if a[0] >= loading_from]
        assert any(kind == "BusyLoadingError" for _, kind in during), "never saw LOADING"
        assert len(during) <= loading / 0.25 + 2, f"{len(during)} tries in {loading:.1f}s"
        assert len(results) > 3 * len(during), "the back-off did not spare the server"
        watcher.replicaof("NO", "ONE")  # the failover
        wait_until(lambda: square.cache.get("7") == 49, timeout=10, what="the synced entry")
        before = len(calls)
        assert square(7) == 49 and len(calls) == before, "a hit, not a computation"
        print(f"\nLOADING for {loading:.2f}s: {len(results)} calls, {len(during)} server tries")
    finally:
        reset_settings()
        primary.stop()
        replica.stop()
