"""admf-perf under a least-privilege Redis ACL user: the cache features work with keys
``~<ns>:*``, channels ``&<ns>:*`` and the commands below, and nothing is refused (the
server's ACL LOG stays empty: nothing touched a key or channel outside the namespace,
no command outside the list ran).

The executor needs more, because RQ keeps its own keys under ``rq:`` (RQ reads
``RQ_KEY_PREFIX`` once, at import): ``~rq:*`` and ``&rq:*``, MULTI/EXEC, and CLIENT
SETNAME, unless clients and workers all run with ``RQ_KEY_PREFIX=<ns>:rq``, which puts
RQ's keys inside the namespace too; both are proven here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from admf_perf import Cache, CacheManager, cached, configure
from admf_perf.caching import fleet
from admf_perf.config import reset_settings
from admf_perf.execution import CPUManager, RQBackend
from admf_perf.server import EmbeddedServer
from admf_perf.stores import RedisBackend
from admf_perf.testing import WorkerProcess, run_cli, unique_name, wait_until
from tests import tasks

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "acl-test-password-0123"

CACHE_COMMANDS = [
    "+evalsha", "+script|load", "+get", "+set", "+exists", "+pttl", "+del", "+hget", "+hset",
    "+hmget", "+hgetall", "+hincrby", "+hdel", "+zadd", "+zrem", "+zscore", "+zcard", "+zcount",
    "+zrange", "+zrangebyscore", "+zscan", "+persist", "+pexpire", "+pexpireat", "+time",
    "+publish", "+psubscribe", "+punsubscribe", "+ping", "+info", "+client|setinfo",
]  # fmt: skip
"""Every command the cache features send (scripts' own calls included): the minimal set."""
CACHE_CATEGORIES = [
    "-@all", "+@read", "+@write", "+@scripting", "+@pubsub", "-@dangerous",
    "+info", "+ping", "+time", "+client|setinfo",
]  # fmt: skip
"""The same by category, as an operator would write it."""
EXECUTOR_EXTRA = ["+@transaction", "+client|setname", "+client|info"]
"""MULTI/EXEC for the executor; RQ names its connections and reads their address."""


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as box:
        yield box


def make_user(admin: redis.Redis, ns: str, rules: list[str]) -> str:
    user = unique_name("user")
    admin.execute_command(
        "ACL", "SETUSER", user, "reset", "on", f">{PASSWORD}", f"~{ns}:*", f"&{ns}:*", *rules
    )
    return user


def denials(admin: redis.Redis, user: str) -> list[str]:
    return [
        f"{e['reason']} {e['object']} ({e['context']})"
        for e in admin.acl_log(1000)
        if e.get("username") == user
    ]


@pytest.mark.parametrize(
    "rules", [["-@all", *CACHE_COMMANDS], CACHE_CATEGORIES], ids=["commands", "categories"]
)
def test_every_cache_feature_works_for_a_user_confined_to_the_namespace(
    server: EmbeddedServer, rules: list[str]
) -> None:
    admin = server.client()
    ns = unique_name("ns")
    user = make_user(admin, ns, rules)
    admin.set("outside:canary", "untouched")
    url = f"redis://{user}:{PASSWORD}@127.0.0.1:{server.port}/0"
    configure(redis_url=url, namespace=ns, signing_key="acl-test-signing-key-0123")
    manager = CacheManager.get_instance()
    manager.enable()
    try:
        calls: list[int] = []

        @cached(name="acl.sma", local_size=8, lease=2.0)
        def sma(window: int) -> float:
            calls.append(window)
            time.sleep(0.05)
            return window / 2

        threads = [threading.Thread(target=sma, args=(20,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert calls == [20], "single flight: one computation for four callers"
        assert [sma(20) for _ in range(5)] == [10.0] * 5
        assert sma.cache.stats().local_hits > 0, "near-cache hits"

        cache = Cache("acl.prices", max_size=3, strategy="lfu", ttl=60, local_size=4)
        for i in range(6):
            cache.set(f"AAPL:{i}", {"close": i})
            assert cache.get(f"AAPL:{i}") == {"close": i}
        assert cache.invalidate(key="AAPL:5") == 1
        assert cache.invalidate(pattern="AAPL:*") == 2
        cache.set("MSFT:1", 1)
        assert cache.clear() == 1
        stats = cache.stats()
        assert (stats.size, stats.evictions, stats.invalidations) == (0, 3, 4)

        backend = cache.store.backend
        assert isinstance(backend, RedisBackend)
        assert set(fleet.known_caches(backend)) == {"acl.sma", "acl.prices"}
        assert fleet.invalidate(backend, "acl.sma:*") == {"acl.sma": 1}
        assert fleet.stats(backend)["acl.sma"].size == 0
        manager.disable(fleet=True)
        manager.enable(fleet=True)
        assert backend._checked, "the start-up checks ran (INFO is allowed)"
    finally:
        manager.enable()
        reset_settings()
    assert admin.get("outside:canary") == b"untouched"
    assert denials(admin, user) == [], "the library reached outside its namespace or command set"
    admin.execute_command("ACL", "DELUSER", user)


def test_the_agent_and_the_cli_work_for_a_user_confined_to_the_namespace(
    server: EmbeddedServer,
) -> None:
    """The agent's report, lease, pressure pass and events, and the CLI's stats, hosts,
    events and flush, all as the confined user (categories, no @dangerous)."""
    admin = server.client()
    ns = unique_name("ns")
    user = make_user(admin, ns, CACHE_CATEGORIES)
    admin.set("outside:canary", "untouched")
    url = f"redis://{user}:{PASSWORD}@127.0.0.1:{server.port}/0"
    cache = Cache("acl.ind", backend=RedisBackend(url, namespace=ns))
    for i in range(30):
        cache.set(f"SPY:{i}", list(range(100)))
    keep = Cache("acl.keep", backend=RedisBackend(url, namespace=ns))
    keep.set("k", 1)
    env = {"ADMF_REDIS_URL": url, "ADMF_NAMESPACE": ns}
    budget = int(admin.info("memory")["used_memory"]) // 2  # Redis "over budget": act
    agent = run_cli(
        "agent", "--once", "--json", "--host", "acl-host", "--memory-threshold", "none",
        "--redis-budget", str(budget), "--redis-memory-threshold", "1.0",
        "--pattern", "acl.ind:*", env=env,
    )  # fmt: skip
    assert agent.returncode == 0, agent.stderr
    events = json.loads(agent.stdout)["events"]
    acted = [(e["pattern"], e["removed"]) for e in events if e["action"] == "invalidate"]
    assert acted == [("acl.ind:*", 30)], events
    assert cache.stats().size == 0 and keep.get("k") == 1
    for command in (["stats", "--json"], ["hosts", "--json"], ["events", "--json"]):
        shown = run_cli(*command, env=env)
        assert shown.returncode == 0, (command, shown.stderr)
        assert PASSWORD not in shown.stdout + shown.stderr
    assert "acl-host" in run_cli("hosts", env=env).stdout
    flushed = run_cli("flush", "--all", "--yes", "--json", env=env)
    assert flushed.returncode == 0, flushed.stderr
    assert keep.stats().size == 0
    assert admin.get("outside:canary") == b"untouched"
    assert denials(admin, user) == [], "the agent or the CLI went outside the namespace"
    admin.execute_command("ACL", "DELUSER", user)


def test_without_info_the_start_up_checks_are_skipped_quietly(server: EmbeddedServer) -> None:
    admin = server.client()
    ns = unique_name("ns")
    user = make_user(admin, ns, ["-@all", *(c for c in CACHE_COMMANDS if c != "+info")])
    backend = RedisBackend(f"redis://{user}:{PASSWORD}@127.0.0.1:{server.port}/0", namespace=ns)
    cache = Cache(unique_name(), backend=backend)
    cache.set("k", 1)
    assert cache.get("k") == 1
    assert backend._checked and not backend.health.is_down
    assert denials(admin, user) == ["command info (toplevel)"]
    admin.execute_command("ACL", "DELUSER", user)


def test_the_executor_needs_rq_keys_when_rq_keeps_its_own_prefix(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    admin = server.client()
    ns, queue = unique_name("ns"), unique_name("q")
    confined = make_user(admin, ns, [*CACHE_CATEGORIES, *EXECUTOR_EXTRA])
    widened = make_user(admin, ns, ["~rq:*", "&rq:*", *CACHE_CATEGORIES, *EXECUTOR_EXTRA])

    def url(user: str) -> str:
        return f"redis://{user}:{PASSWORD}@127.0.0.1:{server.port}/0"

    configure(namespace=ns)
    try:
        with pytest.raises(Exception, match=r"(?i)no permissions"):
            CPUManager(backend=RQBackend(url(confined), queue)).map_tasks(tasks.square, [1])
        assert any("rq:" in d for d in denials(admin, confined)), "refused for RQ's keys"

        args = ["--import", "tests.tasks", "--path", str(ROOT), "--log-level", "WARNING"]
        worker = WorkerProcess(url(widened), queue, extra_args=args, log_path=tmp_path / "w.log")
        manager = CPUManager(backend=RQBackend(url(widened), queue, namespace=ns))
        try:
            assert manager.map_tasks(tasks.square, range(40), chunksize=8) == [
                x * x for x in range(40)
            ]
            assert manager.submit_task(tasks.add, 2, b=40).result(timeout=30) == 42
        finally:
            manager.shutdown()
            worker.stop()
    finally:
        reset_settings()
    assert denials(admin, widened) == []
    for user in (confined, widened):
        admin.execute_command("ACL", "DELUSER", user)


CLIENT = """
import sys
from admf_perf import configure
from admf_perf.execution import CPUManager, RQBackend
from tests import tasks
url, ns, queue = sys.argv[1:4]
configure(namespace=ns)
manager = CPUManager(backend=RQBackend(url, queue, namespace=ns))
print(manager.map_tasks(tasks.square, range(30), chunksize=6) == [x * x for x in range(30)])
manager.shutdown()
"""


@pytest.mark.slow
def test_with_rq_key_prefix_in_the_namespace_the_executor_needs_no_rq_keys(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    admin = server.client()
    ns, queue = unique_name("ns"), unique_name("q")
    user = make_user(admin, ns, [*CACHE_CATEGORIES, *EXECUTOR_EXTRA])
    url = f"redis://{user}:{PASSWORD}@127.0.0.1:{server.port}/0"
    env = {"RQ_KEY_PREFIX": f"{ns}:rq", "ADMF_NAMESPACE": ns}
    args = ["--import", "tests.tasks", "--path", str(ROOT), "--log-level", "WARNING"]
    before = set(admin.scan_iter(match="rq:*"))
    worker = WorkerProcess(url, queue, extra_args=args, env=env, log_path=tmp_path / "w.log")
    try:
        wait_until(lambda: admin.exists(f"{ns}:rq:workers"), what="the worker's registration")
        client = subprocess.run(
            [sys.executable, "-c", CLIENT, url, ns, queue],
            env={**os.environ, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert client.stdout.strip() == "True", client.stderr
    finally:
        worker.stop()
    assert denials(admin, user) == []
    assert set(admin.scan_iter(match="rq:*")) == before, "RQ wrote outside the namespace"
    assert list(admin.scan_iter(match=f"{ns}:rq:*")), "RQ's keys are in the namespace"
    admin.execute_command("ACL", "DELUSER", user)
