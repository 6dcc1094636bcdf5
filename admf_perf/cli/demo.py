"""``admf-perf demo``: the main job, end to end, on an embedded server."""

from __future__ import annotations

import time

import click
import redis

from admf_perf.cli.server import exit_on_sigterm
from admf_perf.server import EmbeddedServer


@click.command()
def demo() -> None:
    """Start an embedded server, write and read a value, and report."""
    exit_on_sigterm()
    with EmbeddedServer() as srv:
        client = redis.Redis.from_url(srv.url)
        start = time.perf_counter()
        client.set("admf:demo:hello", b"world")
        value = client.get("admf:demo:hello")
        elapsed = time.perf_counter() - start
        click.echo(f"server {srv.binary.name} at {srv.url}: read back {value!r} in {elapsed:.4f}s")
