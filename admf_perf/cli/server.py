"""``admf-perf server``: run an embedded Redis-compatible server in the foreground."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import click

from admf_perf.server import EmbeddedServer


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so ``with`` blocks and atexit handlers clean up."""

    def handler(signum: int, frame: FrameType | None) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), help="TCP port (default: a free one).")
@click.option("--unix-socket", is_flag=True, help="Also listen on a unix socket.")
def server(port: int | None, unix_socket: bool) -> None:
    """Run an embedded server until Ctrl-C; prints its URL (no persistence)."""
    exit_on_sigterm()
    with EmbeddedServer(port, unix_socket=unix_socket) as srv:
        click.echo(f"ADMF_REDIS_URL={srv.url}")
        if unix_socket:
            click.echo(f"unix socket: {srv.unix_url}")
        click.echo(f"{srv.binary.name} pid {srv.pid}; Ctrl-C stops it", err=True)
        sys.stdout.flush()
        assert srv.process is not None
        srv.process.wait()
        if srv.process is not None and srv.process.returncode not in (0, None):
            raise click.ClickException(f"server exited with code {srv.process.returncode}")
