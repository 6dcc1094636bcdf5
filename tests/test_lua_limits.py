"""The Lua scripts' limits, measured on a real server: no script's cost grows with the
cache's size, pattern removals run in bounded batches, and every script declares its
flags (the write script without ``allow-oom``, so a full server refuses it unrun)."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from importlib import resources

import pytest
import redis

from admf_perf import Cache
from admf_perf.server import EmbeddedServer
from admf_perf.stores.redis_store import BATCH
from admf_perf.stores.scripts import script
from admf_perf.testing import unique_name

LUA = resources.files("admf_perf.stores.lua")


def flags_of(name: str) -> set[str]:
    first = LUA.joinpath(f"{name}.lua").read_text().partition("\n")[0]
    assert first.startswith("#!lua"), f"{name}.lua declares no flags"
    found = re.search(r"flags=(\S*)", first)
    return set(found.group(1).split(",")) - {""} if found else set()


def test_every_script_declares_its_flags_and_only_reads_and_removals_allow_oom() -> None:
    names = sorted(p.name[:-4] for p in LUA.iterdir() if p.name.endswith(".lua"))
    names.remove("_lib")  # inserted after each cache script's own shebang
    assert {"get", "set", "delete", "stats", "reject"} <= set(names)
    for name in names:
        assert script(name).source.startswith("#!lua"), name
        expected = set() if name == "set" else {"allow-oom"}
        assert flags_of(name) == expected, f"{name}.lua: {flags_of(name)}"


@pytest.fixture
def own_server() -> Iterator[redis.Redis]:
    server = EmbeddedServer(extra_args=["--slowlog-max-len", "100000"]).start()
    client = server.client()
    yield client
    client.close()
    server.stop()


def fill(cache: Cache, count: int, prefix: str = "k") -> None:
    """``count`` entries through the cache's own set script, pipelined."""
    cache.set(f"{prefix}0", 0)
    store = cache.store
    set_sha = script("set").sha
    limit = cache.max_size
    with store.client.pipeline(transaction=False) as pipe:
        for i in range(1, count):
            key = f"{prefix}{i}"
            payload = store.payloads.dumps(key, i)
            pipe.evalsha(
                set_sha, 5, *store._keys, store._entry_prefix + key, *store._args,
                key, payload, 0, limit, 0, cache.version,
            )  # fmt: skip
            if i % 10_000 == 0:
                pipe.execute()
        pipe.execute()


def usec_per_call(client: redis.Redis, run: object) -> float:
    """Server-side microseconds per EVALSHA while ``run()`` runs (INFO commandstats)."""
    client.config_resetstat()
    run()  # type: ignore[operator]
    return float(client.info("commandstats")["cmdstat_evalsha"]["usec_per_call"])


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["lru", "lfu"])
def test_get_and_set_cost_the_same_on_1000_and_100000_entries(
    own_server: redis.Redis, strategy: str
) -> None:
    url = "redis://127.0.0.1:{}/0".format(own_server.connection_pool.connection_kwargs["port"])
    costs = {}
    for size in (1_000, 100_000):
        cache = Cache(unique_name(f"s{size}"), max_size=size, strategy=strategy, backend=url)
        fill(cache, size)
        assert len(cache) == size
        rng = random.Random(size)
        keys = [f"k{rng.randrange(size)}" for _ in range(2000)]

        def gets(cache: Cache = cache, keys: list[str] = keys) -> None:
            for key in keys:
                assert cache.get(key) is not None

        def sets(cache: Cache = cache, size: int = size) -> None:
            for i in range(2000):  # new keys into a full cache: each set evicts one
                cache.set(f"new{i}", i)

        costs[size] = (usec_per_call(own_server, gets), usec_per_call(own_server, sets))
        assert len(cache) == size
    (small_get, small_set), (big_get, big_set) = costs[1_000], costs[100_000]
    print(
        f"\n{strategy}: get {small_get:.1f} -> {big_get:.1f} us, "
        f"set+evict {small_set:.1f} -> {big_set:.1f} us (1,000 -> 100,000 entries)"
    )
    # O(log n) sorted-set work is allowed; O(n) would be ~100x
    assert big_get < 3 * small_get + 5, costs
    assert big_set < 3 * small_set + 5, costs


def test_pattern_removal_runs_in_bounded_batches(own_server: redis.Redis) -> None:
    url = "redis://127.0.0.1:{}/0".format(own_server.connection_pool.connection_kwargs["port"])
    count = 3 * BATCH + 17
    cache = Cache(unique_name("batch"), max_size=10 * BATCH, strategy="fifo", backend=url)
    fill(cache, count)
    own_server.config_set("slowlog-log-slower-than", 0)  # log every command from now on
    own_server.slowlog_reset()
    assert cache.invalidate(pattern="k*") == count
    own_server.config_set("slowlog-log-slower-than", 10_000)
    delete_sha = script("delete").sha.encode()
    calls = [e for e in own_server.slowlog_get(100_000) if e["command"].startswith(b"EVALSHA")]
    deletes = [e for e in calls if e["command"].split()[1] == delete_sha]
    assert len(deletes) >= math.ceil(count / BATCH)
    numkeys = [int(e["command"].split()[2]) for e in deletes]
    assert max(numkeys) <= 4 + BATCH, "a delete script call got more than BATCH entries"
    longest = max(e["duration"] for e in calls)
    print(f"\n{count} entries removed in {len(deletes)} calls; longest script {longest} us")
    assert longest < 100_000, f"a script ran {longest} us: scripts block the server"
    assert cache.stats().size == 0
