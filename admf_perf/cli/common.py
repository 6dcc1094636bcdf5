"""What the commands share: the server options, exit codes, output helpers."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from admf_perf.config import configure, get_settings
from admf_perf.errors import ConfigurationError

EXIT_OK = 0
EXIT_ERROR = 1  # a clear one-line message on stderr (unreachable server, unknown cache)
EXIT_USAGE = 2  # wrong arguments (click's own code)
EXIT_NOTHING = 3  # the pattern or cache matched no entry
EXIT_ABORTED = 4  # the confirmation was declined or impossible (no TTY and no --yes)

F = TypeVar("F", bound=Callable[..., Any])


def server_options(fn: F) -> F:
    """``--url`` and ``--namespace``, applied to the settings before the command runs."""

    def apply(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            configure(**{str(param.name): value})
        return value

    fn = click.option(
        "--namespace",
        envvar="ADMF_NAMESPACE",
        callback=apply,
        expose_value=False,
        help="Key namespace [env ADMF_NAMESPACE; default admf].",
    )(fn)
    fn = click.option(
        "--url",
        "redis_url",
        envvar="ADMF_REDIS_URL",
        callback=apply,
        expose_value=False,
        help="Redis URL [env ADMF_REDIS_URL].",
    )(fn)
    return fn


def redis_backend() -> Any:
    """The backend of the configured server, checked to answer; errors name the fix."""
    from admf_perf.stores import resolve_backend
    from admf_perf.stores.redis_store import RedisBackend

    settings = get_settings()
    if not settings.redis_url:
        raise ConfigurationError("no Redis server given: pass --url or set ADMF_REDIS_URL")
    backend = resolve_backend(None, settings)
    assert isinstance(backend, RedisBackend)
    backend.call(backend.client.ping)
    return backend


def emit_json(data: Any) -> None:
    """Strict JSON on stdout (NaN and infinities become null)."""
    click.echo(json.dumps(_strict(data), indent=2, sort_keys=True, default=str, allow_nan=False))


def _strict(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def build_table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """The CLI's table look (first column left, numbers right), to print or to compose."""
    out = Table(title=title, show_lines=False)
    for i, column in enumerate(columns):
        out.add_column(column, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        out.add_row(*(str(cell) for cell in row))
    return out


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a table to stdout (plain text when not a terminal)."""
    console().print(build_table(title, columns, rows))


_console = Console()


def console() -> Console:
    """The console for human output: as wide as needed when stdout is not a terminal,
    so piped tables never cut names."""
    global _console
    if not sys.stdout.isatty() and _console.width < 250:
        _console = Console(width=250)
    return _console
