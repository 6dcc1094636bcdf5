"""``admf-perf worker``: serve the executor's RQ queue on this host."""

from __future__ import annotations

import sys

import click

from admf_perf.cli.common import server_options
from admf_perf.config import get_settings
from admf_perf.errors import ConfigurationError


@click.command()
@server_options
@click.option(
    "--queue", "-q", "queues", multiple=True,
    help="Queue to serve (repeatable) [env ADMF_QUEUE; default admf].",
)  # fmt: skip
@click.option("--burst", is_flag=True, help="Quit once the queues are empty.")
@click.option(
    "--processes", "-n", type=click.IntRange(1), default=1, show_default=True,
    help="Worker processes to run under one supervisor.",
)  # fmt: skip
@click.option(
    "--import", "imports", multiple=True, metavar="MODULE",
    help="Import MODULE at start (once, not per job) and allow its functions (repeatable).",
)  # fmt: skip
@click.option(
    "--allow", "--allow-module", "allow", multiple=True, metavar="PREFIX",
    help="Also allow functions from modules under PREFIX (repeatable) [env ADMF_WORKER_ALLOW].",
)  # fmt: skip
@click.option(
    "--path", "paths", multiple=True, default=(".",), show_default=True,
    help="Directory put first on sys.path so task modules import (repeatable).",
)  # fmt: skip
@click.option("--name", help="Worker name in RQ's tools (a suffix -N per process).")
@click.option(
    "--log-level", default="INFO", show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)  # fmt: skip
def worker(
    queues: tuple[str, ...],
    burst: bool,
    processes: int,
    imports: tuple[str, ...],
    allow: tuple[str, ...],
    paths: tuple[str, ...],
    name: str | None,
    log_level: str,
) -> None:
    """Run chunks of map_tasks / submit_task calls from RQ, without a fork per job.

    Only functions from allowed modules run: those given with --import or --allow (or
    ADMF_WORKER_ALLOW, comma-separated). Jobs are msgpack, never pickle. SIGTERM or
    Ctrl-C finishes the current chunk and stops; a second one stops at once.
    """
    from admf_perf.execution.worker import child_args, reap_dead_workers, run_worker, supervise

    settings = get_settings()
    if not settings.redis_url:
        raise ConfigurationError("no Redis server given: pass --url or set ADMF_REDIS_URL")
    chosen = list(queues) or [settings.queue]
    level = log_level.upper()
    if processes > 1:

        def argv_for(index: int) -> list[str]:
            return child_args(
                url=str(settings.redis_url),
                queues=chosen,
                burst=burst,
                imports=imports,
                allow=allow,
                paths=paths,
                name=name,
                index=index,
                logging_level=level,
            )

        code = supervise(argv_for, processes, burst=burst)
        reap_dead_workers(str(settings.redis_url), chosen)  # none, unless a child was killed
        sys.exit(code)
    run_worker(
        settings.redis_url,
        chosen,
        burst=burst,
        imports=imports,
        allow=allow,
        paths=paths,
        name=name,
        logging_level=level,
    )
