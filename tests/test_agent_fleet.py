"""The agent as real processes against the real server: pressure handled in the
configured order, one agent per lease, kill -9 and take-over, hosts that stop reporting,
outages survived, and the hosts/events/top commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack
import pytest
import redis

from admf_perf import Cache
from admf_perf.agent import read_events, read_hosts
from admf_perf.server import EmbeddedServer
from admf_perf.testing import cli_command, run_cli, unique_name, wait_until

MB = 1_000_000


class AgentProcess:
    """``admf-perf agent ARGS`` as a real process, its log in a file."""

    def __init__(self, url: str, namespace: str, log: Path, *args: str) -> None:
        self.log = log
        self._fh = log.open("ab")
        self.process = subprocess.Popen(
            [*cli_command(), "agent", "--url", url, "--namespace", namespace, *args],
            stdin=subprocess.DEVNULL,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._fh.close()
        return self.process.returncode


@pytest.fixture
def agents(redis_url, namespace, tmp_path) -> Iterator[Callable[..., AgentProcess]]:
    started: list[AgentProcess] = []

    def start(*args: str, url: str = redis_url) -> AgentProcess:
        agent = AgentProcess(url, namespace, tmp_path / f"agent{len(started)}.log", *args)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()


@pytest.fixture
def env(redis_url, namespace):
    return {"ADMF_REDIS_URL": redis_url, "ADMF_NAMESPACE": namespace}


def fill(name: str, count: int, size: int) -> Cache:
    """``count`` incompressible entries of ``size`` bytes: ``count * size`` of used_memory."""
    cache = Cache(name, max_size=count * 2)
    for i in range(count):
        cache.set(f"AAPL:1m:{i}", os.urandom(size))
    return cache


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def run_once(env: dict[str, str], *args: str) -> list[dict]:
    result = run_cli("agent", "--once", "--json", "--memory-threshold", "none", *args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["events"]


# -- the policy: patterns in order, stopping once below ------------------------------------


def test_redis_pressure_applies_the_first_pattern_and_stops_when_below(env, redis_client):
    first, second = fill(unique_name("ind"), 200, 50_000), fill(unique_name("sig"), 200, 50_000)
    budget = used_memory(redis_client) - 5 * MB  # 5 MB over; the first pattern frees 10 MB
    events = run_once(
        env, "--redis-budget", str(budget), "--redis-memory-threshold", "1.0",
        "--pattern", f"{first.name}:*", "--pattern", f"{second.name}:*",
    )  # fmt: skip
    assert [(e["action"], e["pattern"], e["removed"]) for e in events] == [
        ("invalidate", f"{first.name}:*", 200)
    ]
    [event] = events
    assert event["trigger"] == "redis-memory"
    assert event["used_before"] > budget >= event["used_after"]
    assert (len(first), len(second)) == (0, 200), "the second pattern was never applied"

    shown = run_cli("events", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    [recorded] = json.loads(shown.stdout)["events"]
    assert (recorded["pattern"], recorded["removed"]) == (f"{first.name}:*", 200)
    table = run_cli("events", env=env)
    assert f"{first.name}:*" in table.stdout and "redis-memory" in table.stdout


def test_redis_pressure_goes_on_to_the_next_pattern_while_still_over(env, redis_client):
    first, second = fill(unique_name("ind"), 200, 50_000), fill(unique_name("sig"), 200, 50_000)
    third = fill(unique_name("keep"), 10, 1000)
    budget = used_memory(redis_client) - 15 * MB  # needs both 10 MB patterns
    events = run_once(
        env, "--redis-budget", str(budget), "--redis-memory-threshold", "1.0",
        "--pattern", f"{first.name}:*", "--pattern", f"{second.name}:*",
        "--pattern", f"{third.name}:*",
    )  # fmt: skip
    assert [(e["pattern"], e["removed"]) for e in events] == [
        (f"{first.name}:*", 200),
        (f"{second.name}:*", 200),
    ]
    assert events[0]["used_after"] > budget >= events[1]["used_after"]
    assert len(third) == 10


def test_host_pressure_releases_this_host_first_then_invalidates(env, redis_client, tmp_path):
    cache = fill(unique_name("ind"), 20, 100)
    config = tmp_path / "agent.toml"
    config.write_text(
        f'memory_threshold = 0.0\nrelease_wait = 0.1\npatterns = ["{cache.name}:*"]\n'
        'redis_memory_threshold = "none"\n'
    )
    listener = redis_client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(f"{env['ADMF_NAMESPACE']}:control")
    result = run_cli("agent", "--once", "--json", "--config", str(config), "--host", "hx", env=env)
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)["events"]
    assert [e["action"] for e in events] == ["release", "invalidate", "exhausted"]
    assert all(e["trigger"] == "host-memory" for e in events)
    assert events[1]["removed"] == 20
    message = wait_until(lambda: listener.get_message(timeout=0.1), 5, "the release command")
    command = msgpack.unpackb(message["data"])
    assert (command["op"], command["host"]) == ("release", "hx")
    listener.close()


# -- the lease: one agent acts, a dead one is taken over -----------------------------------


def test_two_agents_one_lease_only_one_acts(agents, redis_client, namespace):
    cache = fill(unique_name("ind"), 50, 100)
    policy = ("--interval", "0.3", "--redis-budget", "1", "--pattern", f"{cache.name}:*")
    a, b = agents(*policy, "--host", "a"), agents(*policy, "--host", "b")

    def both_reported_a_while() -> bool:
        lengths = [redis_client.xlen(f"{namespace}:hoststream:{h}") for h in "ab"]
        return min(lengths) >= 8

    wait_until(both_reported_a_while, 20, "both agents to report 8 times")
    events = read_events(redis_client, namespace, 100)
    assert events, "the pressure (a 1-byte budget) was acted on"
    assert len({e["pid"] for e in events}) == 1, f"two agents acted: {events}"
    [actor] = {e["pid"] for e in events}
    assert actor in (a.pid, b.pid)
    assert [e["action"] for e in reversed(events)] == ["invalidate", "exhausted"]
    assert len(cache) == 0


@pytest.mark.fault
def test_a_killed_agent_s_lease_expires_and_a_restarted_agent_takes_over(
    agents, redis_client, namespace
):
    fill(unique_name("ind"), 10, 100)
    policy = ("--interval", "0.3", "--redis-budget", "1", "--pattern", "*")
    first = agents(*policy, "--host", "h")
    lease = f"{namespace}:agent:lease"
    wait_until(lambda: read_events(redis_client, namespace), 15, "the first agent to act")
    token = redis_client.get(lease)
    assert token is not None

    first.process.kill()  # kill -9: no chance to give the lease back
    first.process.wait()
    killed_at = time.time()
    remaining = redis_client.pttl(lease) / 1000
    assert remaining > 0, "the dead agent's lease is still there"
    second = agents(*policy, "--host", "h")

    def second_acted() -> list:
        return [e for e in read_events(redis_client, namespace) if e["pid"] == second.pid]

    taken_over = wait_until(second_acted, 15, "the restarted agent to act")
    assert min(e["time"] for e in taken_over) >= killed_at + remaining - 0.3, (
        "it waited for the lease to expire"
    )
    assert redis_client.get(lease) not in (None, token)
    [host] = wait_until(lambda: read_hosts(redis_client, namespace), 5, "reports to resume")
    assert host["agent"]["pid"] == second.pid


def test_ctrl_c_stops_the_agent_cleanly_and_gives_the_lease_back(agents, redis_client, namespace):
    agent = agents("--interval", "0.3", "--redis-budget", "1", "--host", "h")
    lease = f"{namespace}:agent:lease"
    wait_until(lambda: redis_client.exists(lease), 15, "the agent to take the lease")
    agent.process.send_signal(signal.SIGINT)
    assert agent.process.wait(timeout=10) == 0, agent.output()
    assert not redis_client.exists(lease), "released at once, not left to expire"
    assert "Traceback" not in agent.output()


# -- reports: hosts come and go, outages are survived --------------------------------------


def test_hosts_shows_a_host_until_it_stops_reporting(agents, env, redis_client, namespace):
    agent = agents("--interval", "0.3", "--host", "fleeting", "--memory-threshold", "none")
    wait_until(lambda: read_hosts(redis_client, namespace), 15, "the first report")
    listed = run_cli("hosts", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    [host] = json.loads(listed.stdout)["hosts"]
    assert host["host"] == "fleeting" and host["age"] < 2
    table = run_cli("hosts", env=env)
    assert "fleeting" in table.stdout
    frame = run_cli("top", "--once", env=env)
    assert frame.returncode == 0, frame.stderr
    assert "fleeting" in frame.stdout and "caches" in frame.stdout

    assert agent.stop() == 0, agent.output()  # SIGTERM: a clean stop
    wait_until(lambda: not read_hosts(redis_client, namespace), 5, "the host to drop out")
    after = run_cli("hosts", "--json", env=env)
    assert json.loads(after.stdout)["hosts"] == []
    assert "stopped" in agent.output()


@pytest.mark.fault
def test_an_outage_is_logged_once_and_reports_resume(agents, namespace):
    server = EmbeddedServer().start()
    port = server.port
    agent = agents("--interval", "0.2", "--host", "h", url=server.url)
    try:
        client = server.client()
        wait_until(lambda: read_hosts(client, namespace), 15, "the first report")
        server.stop()
        wait_until(lambda: "is unavailable" in agent.output(), 10, "the outage to be logged")
        time.sleep(1.0)  # several more intervals without a server: still logged once
        restarted = EmbeddedServer(port).start()
        try:
            client = restarted.client()
            wait_until(lambda: read_hosts(client, namespace), 15, "reports after the outage")
            assert agent.process.poll() is None
            log = agent.output()
            assert log.count("is unavailable") == 1, log
            assert "is back" in log
        finally:
            agent.stop()
            restarted.stop()
    finally:
        server.stop()


def test_agent_with_a_bad_url_or_threshold_fails_in_one_line(env):
    bad = run_cli("agent", "--once", "--url", "redis://127.0.0.1:1/0", env=env)
    assert bad.returncode == 1
    assert len(bad.stderr.strip().splitlines()) == 1 and "unavailable" in bad.stderr
    threshold = run_cli("agent", "--once", "--memory-threshold", "lots", env=env)
    assert threshold.returncode == 2
    out_of_range = run_cli("agent", "--once", "--memory-threshold", "1.5", env=env)
    assert out_of_range.returncode == 1
    assert "memory_threshold must be a fraction" in out_of_range.stderr
