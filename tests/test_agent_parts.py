"""The agent's parts in-process: policy loading, worker detection, sampling, reports,
the lease and the Prometheus text (the agent as a real process: test_agent_fleet.py)."""

from __future__ import annotations

import urllib.request

import pytest

from admf_perf import Cache
from admf_perf.agent import Agent, HostSampler, load_policy, read_history, read_hosts
from admf_perf.agent.exporter import Exposition, MetricsServer, agent_metrics
from admf_perf.agent.lease import Lease
from admf_perf.agent.metrics import is_worker_cmdline
from admf_perf.agent.policy import parse_bytes
from admf_perf.errors import ConfigurationError
from admf_perf.stores import RedisBackend
from admf_perf.testing import WorkerProcess, unique_name


@pytest.mark.parametrize(
    ("text", "expected"),
    [(1024, 1024), ("512MB", 512_000_000), ("2GiB", 2 * 1024**3), ("1.5G", 1_500_000_000)],
)
def test_budget_sizes_parse(text, expected):
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("bad", ["lots", "-5", 0, True, "12 parsecs"])
def test_bad_budgets_are_configuration_errors(bad):
    with pytest.raises(ConfigurationError, match="redis_budget"):
        parse_bytes(bad)


def test_policy_file_with_flags_on_top(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text(
        'interval = 2\nmemory_threshold = 0.8\nredis_budget = "1MB"\n'
        'patterns = ["a:*", "b:*"]\ncooldown = 5\n'
    )
    policy = load_policy(path, interval=None, patterns=["c:*"], memory_threshold="none")
    assert policy.interval == 2.0
    assert policy.memory_threshold is None, "'none' turns the trigger off"
    assert policy.redis_budget == 1_000_000
    assert policy.patterns == ("c:*",), "flags replace the file's list"
    assert policy.cooldown == 5.0
    assert policy.lease_ttl == 6.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("intervall = 5\n", "unknown agent setting 'intervall'"),
        ("memory_threshold = 1.5\n", "memory_threshold must be a fraction"),
        ('patterns = "a:*"\n', "patterns must be a list"),
        ("interval = [\n", "not valid TOML"),
    ],
)
def test_bad_policy_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "agent.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        load_policy(path)


@pytest.mark.parametrize(
    ("cmdline", "worker"),
    [
        (["/venv/bin/python", "/venv/bin/admf-perf", "worker", "--url", "x"], True),
        (["python", "-m", "admf_perf", "worker"], True),
        (["/usr/bin/python3", "/usr/local/bin/rq", "worker", "default"], True),
        (["python", "-m", "rq.cli", "worker"], True),
        (["rqworker", "high"], True),
        (["python", "-m", "admf_perf", "agent", "--pattern", "worker"], False),
        (["vim", "worker"], False),
        ([], False),
    ],
)
def test_worker_processes_are_recognised_by_command_line(cmdline, worker):
    assert is_worker_cmdline(cmdline) is worker


def test_sampler_sees_a_real_worker_process(redis_url, namespace):
    sampler = HostSampler("h")
    worker = WorkerProcess(redis_url, unique_name("q"))
    try:
        snapshot = sampler.sample()
    finally:
        worker.stop()
    pids = [p["pid"] for p in snapshot["workers"]["processes"]]
    assert worker.pid in pids
    assert snapshot["workers"]["rss"] > 0
    assert len(snapshot["cpu"]["per_core"]) == snapshot["cpu"]["count"] >= 1
    assert 0.0 < snapshot["memory"]["used_fraction"] < 1.0
    assert set(snapshot["disk"]) == {"read_bps", "write_bps"}


def test_reports_keep_a_capped_history_and_expire(redis_url, namespace, redis_client):
    backend = RedisBackend(redis_url)
    agent = Agent(backend, load_policy(interval=0.5, history=5, memory_threshold="none"), host="h")
    for _ in range(30):
        agent.step()
    [shown] = read_hosts(redis_client, namespace)
    assert shown["host"] == "h" and 0 <= shown["age"] < 1.5
    history = read_history(redis_client, namespace, "h", count=100)
    assert len(history) == 5, "capped at the policy's history"
    ttl = redis_client.pttl(f"{namespace}:host:h")
    assert 0 < ttl <= 1500, "the snapshot expires after three intervals"
    assert all(
        k.decode().startswith(f"{namespace}:") for k in redis_client.scan_iter(f"{namespace}:*")
    )


def test_lease_has_one_holder_and_only_the_holder_releases_it(redis_url, namespace, redis_client):
    a, b = (Lease(redis_client, namespace, ttl=5) for _ in range(2))
    assert a.acquire() and not b.acquire()
    assert a.acquire(), "the holder extends it"
    b.held = True  # a confused agent that thinks it holds it
    b.release()
    assert redis_client.get(a.key) == a.token.encode(), "a non-holder never deletes it"
    a.release()
    assert b.acquire()


def test_prometheus_text_has_host_cache_and_queue_gauges(redis_url, namespace):
    cache = Cache(unique_name("prom"), max_size=10)
    cache.set("AAPL:20", 1.0)
    cache.get("AAPL:20")
    agent = Agent(RedisBackend(redis_url), load_policy(interval=1), host='h"1')
    agent.step()
    server = MetricsServer(0, lambda: agent_metrics(agent), bind="127.0.0.1").start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
            text = r.read().decode()
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    finally:
        server.stop()
    assert "# TYPE admf_host_cpu_percent gauge" in text
    assert 'admf_host_cpu_percent{host="h\\"1"}' in text, "label values are escaped"
    assert f'admf_cache_size{{cache="{cache.name}"}} 1' in text
    assert f'admf_cache_hits_total{{cache="{cache.name}"}} 1' in text
    assert "admf_redis_up 1" in text


def test_exposition_groups_samples_under_one_header():
    out = Exposition()
    out.add("m", 1, "help", a="x")
    out.add("n", float("nan"), "other")
    out.add("m", 2.5, "help", a="y")
    assert out.render() == (
        '# HELP m help\n# TYPE m gauge\nm{a="x"} 1\nm{a="y"} 2.5\n'
        "# HELP n other\n# TYPE n gauge\nn NaN\n"
    )
