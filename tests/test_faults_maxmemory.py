"""A server full at ``maxmemory`` with ``noeviction``: writes are refused before they run,
cached functions degrade to computing (correctly), the host agent's policy frees room
by pattern, and writes resume."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from admf_perf import Cache, cached, configure
from admf_perf.config import reset_settings
from admf_perf.server import EmbeddedServer
from admf_perf.testing import run_cli, unique_name, wait_until

pytestmark = pytest.mark.fault

BLOB = b"x" * 10_000


@pytest.fixture
def full_server() -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(
        extra_args=["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"]
    ).start()
    yield server
    server.stop()
    reset_settings()


def test_a_full_server_refuses_writes_and_invalidation_makes_room(
    full_server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    ns = unique_name("ns")
    configure(redis_url=full_server.url, namespace=ns, retry_after=0.05)
    caplog.set_level(logging.WARNING, logger="admf_perf")
    admin = full_server.client()
    cache = Cache("indicator.blob", max_size=100_000)
    idx = f"{cache.store.prefix}idx"
    written = 0
    while int(admin.zcard(idx)) == written:  # fill until the server refuses a write
        cache.set(f"k{written}", BLOB)
        written += 1
        assert written < 2000, "the server never filled up"
    full = int(admin.zcard(idx))
    assert full >= 100
    assert any("maxmemory" in r.getMessage() for r in caplog.records), "the refusal was not logged"
    assert not [r for r in caplog.records if "maxmemory-policy" in r.getMessage()], (
        "noeviction needs no start-up warning"
    )

    # set.lua has no allow-oom flag: the server refuses it before it runs whenever it is
    # over the limit, so memory never runs away past maxmemory (one entry's worth at most)
    limit = int(admin.config_get("maxmemory")["maxmemory"])
    peak = 0
    for i in range(20):
        wait_until(cache.store.backend.health.available, what="the breaker to close")
        cache.set(f"more{i}", BLOB)
        peak = max(peak, int(admin.info("memory")["used_memory"]))
    landed = int(admin.zcard(idx)) - full
    print(f"\nfull at {full} entries; 20 more writes: {landed} landed, peak {peak - limit:+} B")
    assert peak <= limit + 2 * len(BLOB), f"{peak - limit} bytes past maxmemory"
    assert landed <= 5, f"{landed} of 20 writes went through at maxmemory"

    calls = []

    @cached(name=unique_name("signal"))
    def signal(x: int) -> int:
        calls.append(x)
        return x * 3

    assert [signal(i % 10) for i in range(100)] == [(i % 10) * 3 for i in range(100)]
    assert len(calls) >= 10, "nothing can be cached, so everything is computed"

    before = int(admin.zcard(idx))
    agent = run_cli(  # the host agent's policy, one pass, as on a real host
        "agent", "--once", "--json", "--memory-threshold", "none",
        "--redis-memory-threshold", "0.9", "--pattern", "indicator.blob:k1*",
        env={"ADMF_REDIS_URL": full_server.url, "ADMF_NAMESPACE": ns},
    )  # fmt: skip
    assert agent.returncode == 0, agent.stderr
    [event] = json.loads(agent.stdout)["events"]
    assert (event["action"], event["trigger"]) == ("invalidate", "redis-memory")
    assert event["used_before"] > 0.9 * event["limit"] > event["used_after"]
    removed = event["removed"]
    assert removed >= 10
    stats = cache.stats()
    entries = list(admin.scan_iter(match=f"{cache.store.prefix}e:*", count=1000))
    assert stats.size == len(entries) == admin.zcard(idx) == before - removed
    assert stats.invalidations == removed

    def write_lands() -> bool:
        cache.set("fresh", BLOB)
        return "fresh" in cache

    wait_until(write_lands, timeout=5, what="writes to resume")
    assert signal(42) == 126
    assert signal(42) == 126 and calls.count(42) == 1, "cached again"
    assert cache.stats().size == int(admin.zcard(idx)) == before - removed + 1
