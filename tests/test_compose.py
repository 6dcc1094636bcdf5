"""docker-compose.yml, checked without Docker: every service built from the project's
image runs a real ``admf-perf`` command whose options parse, and the agent's mounted
policy file loads."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import yaml

from admf_perf.agent import load_policy
from admf_perf.cli import cli
from admf_perf.config import reset_settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
OURS = sorted(
    name
    for name, s in SERVICES.items()
    if "build" in s or s.get("image", "").startswith("admf-perf")
)


@pytest.fixture(autouse=True)
def _forget_settings():
    yield
    reset_settings()  # --url and --namespace callbacks configure this process


def container_to_host(service: dict) -> dict[str, str]:
    """Container paths of the service's bind mounts -> the files in this repository."""
    mapping = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            mapping[target] = str(ROOT / source)
    return mapping


def test_the_fleet_has_redis_workers_an_agent_and_a_dashboard():
    assert {"redis", "worker", "agent", "rq-dashboard"} <= set(SERVICES)
    assert {"worker", "agent"} <= set(OURS)


@pytest.mark.parametrize("name", OURS)
def test_service_commands_are_real_admf_perf_commands(name):
    service = SERVICES[name]
    assert service["build"]["dockerfile"] == "workers/Dockerfile"
    assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).exists()
    program, subcommand, *args = service["command"]
    assert program == "admf-perf"
    assert subcommand in cli.commands, f"{name}: no such command {subcommand!r}"
    paths = container_to_host(service)
    args = [paths.get(arg, arg) for arg in args]
    command = cli.commands[subcommand]
    with command.make_context(subcommand, list(args)) as ctx:  # raises on a bad option
        assert isinstance(ctx, click.Context)
    assert "redis://redis:6379/0" in args, "point the service at the compose Redis"


def test_workers_scale_and_stop_gracefully():
    worker = SERVICES["worker"]
    assert worker["deploy"]["replicas"] >= 1
    assert worker["stop_signal"] == "SIGTERM"
    assert worker["hostname"] == SERVICES["agent"]["hostname"], "release is addressed by host"


def test_agent_policy_file_loads_and_watches_redis_below_its_maxmemory():
    agent = SERVICES["agent"]
    paths = container_to_host(agent)
    config = paths[agent["command"][agent["command"].index("--config") + 1]]
    policy = load_policy(config)
    assert policy.patterns, "an ordered list of patterns to invalidate"
    assert policy.redis_memory_threshold is not None and policy.redis_memory_threshold < 1.0
    assert agent["pid"] == "host", "the agent sees the workers of the other containers"


def test_redis_memory_limit_and_policy_are_deliberate():
    command = SERVICES["redis"]["command"]
    flags = dict(zip(command[1::2], command[2::2], strict=False))
    assert flags["--maxmemory"] == "2gb"
    assert flags["--maxmemory-policy"] == "noeviction"
