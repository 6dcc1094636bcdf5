"""The ``admf-perf`` command line: one click group, one module per family of commands.

Errors the library raises on purpose (:class:`~admf_perf.errors.AdmfPerfError`) end the
command with a one-line message on stderr and exit code 1; usage errors exit with 2.
"""

from __future__ import annotations

import logging
import sys

import click

from admf_perf.errors import AdmfPerfError


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except AdmfPerfError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="admf-perf", prog_name="admf-perf")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Shared Redis cache and parallel executor for trading research."""
    # errors reach the user as one line from the command; library warnings that repeat
    # them are shown only when asked for
    level = {0: logging.ERROR, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("admf_perf").setLevel(level)


def _register() -> None:
    from admf_perf.cli import agent, cache, demo, hosts, server, top, worker

    cli.add_command(server.server)
    cli.add_command(demo.demo)
    cli.add_command(cache.flush)
    cli.add_command(cache.stats)
    cli.add_command(worker.worker)
    cli.add_command(agent.agent)
    cli.add_command(hosts.hosts)
    cli.add_command(hosts.events)
    cli.add_command(top.top)


_register()


def main() -> None:
    """Entry point of the ``admf-perf`` console script."""
    try:
        cli.main(prog_name="admf-perf")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
