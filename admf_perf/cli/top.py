"""``admf-perf top``: hosts, caches, queues and recent pressure events, refreshed live."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.console import Group, RenderableType
from rich.text import Text

from admf_perf.cli.common import build_table, console, redis_backend, server_options
from admf_perf.cli.hosts import EVENT_COLUMNS, HOST_COLUMNS, event_row, host_row
from admf_perf.errors import AdmfPerfError

CACHE_COLUMNS = ["cache", "size", "hit rate", "hits", "misses", "sets", "evicted", "invalidated"]
QUEUE_COLUMNS = ["queue", "waiting", "started", "failed", "workers"]


def frame(backend: Any, recent: int = 5) -> RenderableType:
    """One screen: a header, then the hosts, caches, queues and last events tables."""
    from admf_perf.agent import read_events, read_hosts, read_queues
    from admf_perf.caching import fleet
    from admf_perf.stores.connection import UNAVAILABLE_ERRORS

    down: tuple[type[BaseException], ...] = (*UNAVAILABLE_ERRORS, AdmfPerfError)

    header = Text(
        f"admf-perf top  {backend.describe()}  {time.strftime('%H:%M:%S')}  (Ctrl-C quits)",
        style="bold",
    )
    try:
        hosts = read_hosts(backend.client, backend.namespace)
        caches = fleet.stats(backend)
        queues = read_queues(backend.client)
        events = read_events(backend.client, backend.namespace, recent)
    except down as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Group(header, Text(f"Redis unavailable: {reason}; retrying", style="red"))
    cache_rows = [
        [
            name,
            f"{s.size}/{s.max_size or '-'}",
            f"{s.hit_rate:.1%}",
            s.hits,
            s.misses,
            s.sets,
            s.evictions,
            s.invalidations,
        ]
        for name, s in caches.items()
    ]
    queue_rows = [
        [name, q["jobs"], q["started"], q["failed"], q["workers"]] for name, q in queues.items()
    ]
    return Group(
        header,
        build_table(f"hosts ({len(hosts)})", HOST_COLUMNS, [host_row(s) for s in hosts]),
        build_table(f"caches ({len(caches)})", CACHE_COLUMNS, cache_rows),
        build_table(f"queues ({len(queues)})", QUEUE_COLUMNS, queue_rows),
        build_table("last pressure events", EVENT_COLUMNS, [event_row(e) for e in events]),
    )


@click.command()
@server_options
@click.option(
    "--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
    help="Seconds between refreshes.",
)  # fmt: skip
@click.option("--once", is_flag=True, help="Print one frame and exit.")
def top(interval: float, once: bool) -> None:
    """A live view of the fleet: hosts, caches, queues and pressure events."""
    from rich.live import Live

    backend = redis_backend()
    out = console()
    if once:
        out.print(frame(backend))
        return
    try:
        with Live(frame(backend), console=out, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(frame(backend), refresh=True)
    except KeyboardInterrupt:
        pass
