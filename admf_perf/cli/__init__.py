"""The ``admf-perf`` command line: one click group, one module per family of commands.

Errors the library raises on purpose (:class:`~admf_perf.errors.AdmfPerfError`) end the
command with a one-line message on stderr and exit code 1; usage errors exit with 2.
"""

from __future__ import annotations

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
def cli() -> None:
    """Shared Redis cache and parallel executor for trading research."""


def _register() -> None:
    from admf_perf.cli import demo, server

    cli.add_command(server.server)
    cli.add_command(demo.demo)


_register()


def main() -> None:
    """Entry point of the ``admf-perf`` console script."""
    try:
        cli.main(prog_name="admf-perf")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
