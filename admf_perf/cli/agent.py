"""``admf-perf agent``: this host's agent, in the foreground."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

import click

from admf_perf.cli.common import emit_json, redis_backend, server_options
from admf_perf.config import get_settings
from admf_perf.errors import ConfigurationError


def _threshold(value: str | None) -> float | str | None:
    """A flag's fraction, or ``"none"`` to turn the trigger off (``None``: not given)."""
    if value is None:
        return None
    if value.strip().lower() in ("none", "off"):
        return "none"
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a fraction from 0 to 1 or 'none'") from None


@click.command()
@server_options
@click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False),
    help="TOML file with the policy (flags given here win over it).",
)  # fmt: skip
@click.option("--interval", type=float, help="Seconds between samples [default 5].")
@click.option(
    "--memory-threshold", metavar="FRACTION",
    help="Act when host memory used (1 - available/total) is above this [default 0.9; 'none': off].",
)  # fmt: skip
@click.option(
    "--redis-memory-threshold", metavar="FRACTION",
    help="Act when Redis used_memory is above this fraction of its limit [default 0.9; 'none': off].",
)  # fmt: skip
@click.option(
    "--redis-budget", metavar="SIZE",
    help="Redis memory limit, e.g. 2GB (default: the server's maxmemory; neither: not watched).",
)  # fmt: skip
@click.option(
    "--pattern", "patterns", multiple=True, metavar="GLOB",
    help="Pattern over '<cache name>:<key>' to invalidate under pressure (repeatable, in order).",
)  # fmt: skip
@click.option(
    "--host",
    help="Name this host reports under, and whose processes 'release' addresses [default: hostname].",
)
@click.option("--once", is_flag=True, help="One sample and one policy pass, then exit.")
@click.option(
    "--metrics-port", type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics on this port (0: a free one, printed).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="With --once: the result as JSON.")
def agent(
    config_path: str | None,
    interval: float | None,
    memory_threshold: str | None,
    redis_memory_threshold: str | None,
    redis_budget: str | None,
    patterns: tuple[str, ...],
    host: str | None,
    once: bool,
    metrics_port: int | None,
    as_json: bool,
) -> None:
    """Report this host's metrics into Redis every interval and act on memory pressure.

    Under pressure (host memory, or Redis memory against its limit) it asks this host's
    processes to release memory, then invalidates the patterns in order until memory is
    back under the threshold; one agent of the namespace at a time (a lease), every
    action recorded (admf-perf events). SIGTERM or Ctrl-C stops it cleanly.
    """
    from admf_perf.agent import Agent, load_policy

    policy = load_policy(
        config_path,
        interval=interval,
        memory_threshold=_threshold(memory_threshold),
        redis_memory_threshold=_threshold(redis_memory_threshold),
        redis_budget=redis_budget,
        patterns=list(patterns) or None,
        metrics_port=metrics_port,
    )
    if get_settings().cluster:
        raise ConfigurationError("the agent needs a single Redis server (or a Sentinel master)")
    backend = redis_backend()  # a wrong URL ends here, with one line
    logger = logging.getLogger("admf_perf")
    if logger.level > logging.INFO:  # a foreground agent says what it does
        logger.setLevel(logging.WARNING if once else logging.INFO)
    runner = Agent(backend, policy, host=host)
    if once:
        try:
            events = runner.step()
        finally:
            runner.close()
        _report_once(runner.latest or {}, events, as_json)
        return
    _run(runner)


def _run(runner: Any) -> None:
    from admf_perf.agent.exporter import MetricsServer, agent_metrics

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if runner.stopping:  # a second signal: don't wait for the step
            raise SystemExit(128 + signum)
        runner.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    exporter = None
    port = runner.policy.metrics_port
    if port is not None:
        exporter = MetricsServer(port, lambda: agent_metrics(runner)).start()
        click.echo(f"metrics on http://0.0.0.0:{exporter.port}/metrics", err=True)
    log = logging.getLogger("admf_perf.agent")
    log.info(
        "agent for host %s on %s, every %gs", runner.host, runner.backend.describe(),
        runner.policy.interval,
    )  # fmt: skip
    try:
        runner.run()
    finally:
        if exporter is not None:
            exporter.stop()
        runner.close()
        log.info("agent for host %s stopped", runner.host)


def _report_once(snapshot: dict[str, Any], events: list[dict[str, Any]], as_json: bool) -> None:
    from admf_perf.agent.pressure import describe

    if as_json:
        emit_json({"snapshot": snapshot, "events": events})
        return
    if snapshot:
        click.echo(
            f"{snapshot['host']}: cpu {snapshot['cpu']['percent']:.0f}%, "
            f"memory {snapshot['memory']['used_fraction']:.0%} used, "
            f"{snapshot['workers']['count']} workers"
        )
    for event in events:
        click.echo(describe(event))
    if not events:
        click.echo("no pressure action")
