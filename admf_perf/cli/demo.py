"""``admf-perf demo``: the main job — a parameter sweep on the shared cache and real workers."""

from __future__ import annotations

import click

from admf_perf.cli.common import emit_json, table
from admf_perf.cli.server import exit_on_sigterm


@click.command()
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="Worker processes to start.",
)
@click.option(
    "--symbols", default="AAPL,MSFT,SPY,QQQ", show_default=True, help="Comma-separated symbols."
)
@click.option(
    "--grid",
    type=click.IntRange(1),
    default=36,
    show_default=True,
    help="(fast, slow) pairs per symbol.",
)
@click.option(
    "--bars",
    type=click.IntRange(50),
    default=2520,
    show_default=True,
    help="Daily bars generated per symbol.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the generated bars.")
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False),
    help="CSV/Parquet of closes instead of generated bars.",
)
@click.option(
    "--top", type=click.IntRange(1), default=10, show_default=True, help="Results to show."
)
@click.option(
    "--redis-url", help="Use this server and its running workers instead of starting them."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def demo(
    workers: int,
    symbols: str,
    grid: int,
    bars: int,
    seed: int,
    data: str | None,
    top: int,
    redis_url: str | None,
    as_json: bool,
) -> None:
    """Sweep a moving-average crossover over a parameter grid on RQ workers, twice, with
    indicators and results in the shared Redis cache; report the top parameter sets, the
    cache hit rates of run 1 vs run 2 and the worker stats. Starts an embedded server, the
    workers and the host agent unless --redis-url is given; stops them all on exit."""
    from admf_perf.config import validate_redis_url
    from admf_perf.demo.market import symbols_in
    from admf_perf.demo.sweep import SweepConfig, run_sweep

    exit_on_sigterm()
    if redis_url:
        validate_redis_url(redis_url, setting="--redis-url")
    chosen = [s.strip() for s in symbols.split(",") if s.strip()]
    if data and symbols == "AAPL,MSFT,SPY,QQQ":
        chosen = symbols_in(data)
    config = SweepConfig(
        symbols=chosen,
        grid=grid,
        bars=bars,
        seed=seed,
        data=data,
        workers=workers,
        top=top,
        redis_url=redis_url,
        progress=None if not as_json else False,
    )
    report = run_sweep(config)
    if as_json:
        emit_json(report.to_dict())
        return
    table(
        f"top {len(report.top)} of {report.items} backtests by Sharpe",
        ["symbol", "fast", "slow", "return", "sharpe", "max drawdown", "trades"],
        [
            [
                r["symbol"],
                r["fast"],
                r["slow"],
                f"{r['total_return']:.1%}",
                f"{r['sharpe']:.2f}",
                f"{r['max_drawdown']:.1%}",
                r["trades"],
            ]
            for r in report.top
        ],
    )
    first, second = report.runs
    table(
        "the shared cache",
        ["run", "seconds", "hits", "misses", "hit rate"],
        [
            [
                i + 1,
                f"{run.seconds:.2f}",
                run.totals.hits,
                run.totals.misses,
                f"{run.totals.hit_rate:.0%}",
            ]
            for i, run in enumerate(report.runs)
        ],
    )
    saved = first.seconds - second.seconds
    click.echo(
        f"run 2 took {second.seconds:.2f}s vs {first.seconds:.2f}s: {saved:.2f}s saved by the cache"
    )
    stats = report.task_stats
    click.echo(
        f"workers: {stats.get('count', 0)} tasks, {stats.get('failures', 0)} failed, "
        f"avg {stats.get('avg_time', 0.0) * 1000:.1f} ms per task"
    )
