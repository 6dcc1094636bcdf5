"""``admf-perf hosts`` and ``admf-perf events``: what the agents report, from a shell.

The row builders here are shared with ``admf-perf top``.
"""

from __future__ import annotations

import time
from typing import Any

import click

from admf_perf.cli.common import build_table, console, emit_json, redis_backend, server_options

HOST_COLUMNS = [
    "host", "age", "cpu", "load 1m", "memory", "swap", "disk r/w /s", "net rx/tx /s",
    "workers", "workers RSS", "workers cpu", "agent cpu",
]  # fmt: skip
EVENT_COLUMNS = [
    "time", "host", "trigger", "action", "pattern", "removed", "memory before -> after", "limit",
]  # fmt: skip


def size(count: float) -> str:
    from admf_perf.agent.pressure import human_bytes

    return human_bytes(count)


def host_row(s: dict[str, Any]) -> list[Any]:
    mem, workers = s["memory"], s["workers"]
    return [
        s["host"],
        f"{s['age']:.1f}s",
        f"{s['cpu']['percent']:.0f}%",
        f"{s['load'][0]:.2f}",
        f"{mem['used_fraction']:.0%} of {size(mem['total'])}",
        size(s["swap"]["used"]),
        f"{size(s['disk']['read_bps'])} / {size(s['disk']['write_bps'])}",
        f"{size(s['net']['recv_bps'])} / {size(s['net']['sent_bps'])}",
        workers["count"],
        size(workers["rss"]),
        f"{workers['cpu_percent']:.0f}%",
        f"{s['agent']['cpu_percent']:.1f}%",
    ]


def event_row(e: dict[str, Any]) -> list[Any]:
    return [
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["time"])),
        e["host"],
        e["trigger"],
        e["action"],
        e.get("pattern", ""),
        _done(e),
        f"{size(e['used_before'])} -> {size(e['used_after'])}",
        size(e["limit"]),
    ]


def _done(e: dict[str, Any]) -> str:
    if e["action"] == "invalidate":
        return str(e.get("removed", 0))
    if e["action"] == "release":
        return f"{e.get('receivers', 0)} processes told"
    return ""


@click.command()
@server_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def hosts(as_json: bool) -> None:
    """Hosts whose agent reported lately, their latest metrics and the report's age.

    A host drops out about three of its agent's intervals after its last report.
    """
    from admf_perf.agent import read_hosts

    backend = redis_backend()
    found = backend.call(read_hosts, backend.client, backend.namespace)
    if as_json:
        emit_json({"hosts": found})
        return
    if not found:
        click.echo(f"no host reports in namespace {backend.namespace!r}: is an agent running?")
        return
    console().print(
        build_table(
            f"hosts in namespace {backend.namespace!r}", HOST_COLUMNS, [host_row(s) for s in found]
        )
    )


@click.command()
@server_options
@click.option("--limit", "-n", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def events(limit: int, as_json: bool) -> None:
    """What the agents did under memory pressure, newest first."""
    from admf_perf.agent import read_events

    backend = redis_backend()
    found = backend.call(read_events, backend.client, backend.namespace, limit)
    if as_json:
        emit_json({"events": found})
        return
    if not found:
        click.echo(f"no pressure events in namespace {backend.namespace!r}")
        return
    console().print(
        build_table("pressure events, newest first", EVENT_COLUMNS, [event_row(e) for e in found])
    )
