"""Redis Sentinel: a real master, its replica and a Sentinel, all embedded servers. A
``redis+sentinel://`` URL reaches the master the Sentinel names; when the master is
killed and the Sentinel promotes the replica, caches and cached functions go on with
it (what was replicated is still a hit)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from admf_perf import Cache, cached, configure
from admf_perf.config import ConfigurationError, parse_sentinel_url, reset_settings
from admf_perf.execution import CPUManager, RQBackend
from admf_perf.server import EmbeddedServer
from admf_perf.stores import RedisBackend
from admf_perf.testing import unique_name, wait_until, worker_processes
from tests import tasks

ROOT = Path(__file__).resolve().parent.parent
WORKER_ARGS = ["--import", "tests.tasks", "--path", str(ROOT), "--log-level", "WARNING"]
PASSWORD = "sentinel-test-password"


class Replicated:
    """A master with one replica, watched by one Sentinel (quorum 1), as service ``svc``."""

    def __init__(self) -> None:
        auth = ["--requirepass", PASSWORD, "--masterauth", PASSWORD]
        self.master = EmbeddedServer(extra_args=[*auth, "--repl-diskless-sync-delay", "0"]).start()
        self.replica = EmbeddedServer(
            extra_args=[*auth, "--replicaof", "127.0.0.1", str(self.master.port)]
        ).start()
        wait_until(self._replica_synced, what="the replica's first full sync")
        self.sentinel = EmbeddedServer(
            config=(
                f"sentinel monitor svc 127.0.0.1 {self.master.port} 1\n"
                f"sentinel auth-pass svc {PASSWORD}\n"
                "sentinel down-after-milliseconds svc 500\n"
                "sentinel failover-timeout svc 5000\n"
            ),
            extra_args=["--sentinel"],
        ).start()
        self.url = f"redis+sentinel://:{PASSWORD}@127.0.0.1:{self.sentinel.port}/svc/0"
        wait_until(self._replica_known, what="the Sentinel to discover the replica")

    def master_port(self) -> int:
        return int(self.sentinel.client().sentinel_get_master_addr_by_name("svc")[1])

    def _replica_synced(self) -> bool:
        replica = self.server(self.replica.port)
        link = replica.info("replication").get("master_link_status")
        return link == "up" and not int(replica.info("persistence")["loading"])

    def _replica_known(self) -> bool:
        return bool(self.sentinel.client().sentinel_slaves("svc"))

    def server(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, password=PASSWORD)

    def fail_master(self) -> None:
        """Kill the master (``kill -9``); return once the Sentinel has promoted the replica."""
        old = self.master_port()
        assert self.master.process is not None
        self.master.process.kill()
        wait_until(lambda: self.master_port() != old, what="the Sentinel to switch masters")
        new = self.server(self.master_port())
        wait_until(lambda: new.info("replication")["role"] == "master", what="the promotion")

    def stop(self) -> None:
        for server in (self.sentinel, self.replica, self.master):
            server.stop()


@pytest.fixture
def replicated() -> Iterator[Replicated]:
    box = Replicated()
    yield box
    box.stop()
    reset_settings()


def test_caches_follow_the_master_through_a_failover(replicated: Replicated) -> None:
    ns = unique_name("ns")
    configure(redis_url=replicated.url, namespace=ns, retry_after=0.1)
    cache = Cache(unique_name("prices"), max_size=100)
    for i in range(20):
        cache.set(f"SPY:{i}", {"close": i})
    calls = []

    @cached(name=unique_name("signal"))
    def signal(x: int) -> int:
        calls.append(x)
        return x * 3

    assert signal(7) == 21
    first = replicated.master_port()
    assert replicated.server(first).wait(1, 5000) == 1  # every write so far is on the replica
    replicated.fail_master()
    assert replicated.master_port() == replicated.replica.port

    # the entries written before came over with the replica: hits on the new master
    wait_until(lambda: cache.get("SPY:3") == {"close": 3}, timeout=20, what="the new master")
    assert signal(7) == 21 and calls == [7], "a hit on the promoted replica"
    cache.set("SPY:new", {"close": 99})
    assert cache.get("SPY:new") == {"close": 99}
    new_master = replicated.server(replicated.master_port())
    assert new_master.exists(f"{cache.store.prefix}e:SPY:new") == 1
    stats = cache.stats()
    assert stats.size == 21, stats


def test_the_executor_and_its_workers_go_through_the_sentinel(replicated: Replicated) -> None:
    queue = unique_name("q")
    with worker_processes(replicated.url, queue, 1, extra_args=WORKER_ARGS):
        manager = CPUManager(backend=RQBackend(replicated.url, queue))
        try:
            assert manager.map_tasks(tasks.square, list(range(20))) == [x * x for x in range(20)]
        finally:
            manager.shutdown()


def test_sentinel_urls_are_parsed_validated_and_redacted() -> None:
    url = "redis+sentinel://app:s%40cret@10.0.0.1:26380,[::1],sent-b/svc/3?sentinel_password=sp"
    parsed = parse_sentinel_url(url)
    assert parsed.sentinels == (("10.0.0.1", 26380), ("::1", 26379), ("sent-b", 26379))
    assert (parsed.service, parsed.db, parsed.username, parsed.password) == (
        "svc", 3, "app", "s@cret"
    )  # fmt: skip
    assert parsed.sentinel_password == "sp"
    for bad in (
        "redis+sentinel://10.0.0.1",  # no service
        "redis+sentinel://10.0.0.1/svc/db",
        "redis+sentinel://10.0.0.1:port/svc",
        "redis+sentinel://:pw@/svc",
        "redis+sentinel://h/svc?db=1",
    ):
        with pytest.raises(ConfigurationError) as caught:
            configure(redis_url=bad)
        assert "\n" not in str(caught.value) and "pw" not in str(caught.value)
    backend = RedisBackend("redis+sentinel://:pw@127.0.0.1:1/svc", namespace="x")
    assert "pw" not in repr(backend.health.url)
    reset_settings()
