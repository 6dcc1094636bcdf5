"""``admf-perf demo``: the main job, end to end, on an embedded server."""

from __future__ import annotations

import time

import click
import numpy as np

from admf_perf.cli.server import exit_on_sigterm
from admf_perf.server import EmbeddedServer


@click.command()
@click.option("--redis-url", help="Use this server instead of starting an embedded one.")
def demo(redis_url: str | None) -> None:
    """Start an embedded server, compute indicators through the shared cache twice, report."""
    exit_on_sigterm()
    if redis_url:
        _run(redis_url)
        return
    with EmbeddedServer() as srv:
        click.echo(f"started {srv.binary.name} at {srv.url}")
        _run(srv.url)


def _run(url: str) -> None:
    import zlib

    from admf_perf import cached, configure

    configure(redis_url=url)

    @cached(max_size=256, name="demo.rolling_mean", version="demo-1")
    def rolling_mean(symbol: str, window: int) -> np.ndarray:
        prices = np.random.default_rng(zlib.crc32(symbol.encode())).lognormal(0, 0.01, 200_000)
        return np.convolve(prices, np.ones(window) / window, mode="valid")

    rolling_mean.cache.clear()
    for run in (1, 2):
        start = time.perf_counter()
        for symbol in ("AAPL", "MSFT", "SPY"):
            for window in (10, 20, 50):
                rolling_mean(symbol, window)
        stats = rolling_mean.cache.stats()
        click.echo(
            f"run {run}: {time.perf_counter() - start:.3f}s, "
            f"hits {stats.hits}, misses {stats.misses}, hit rate {stats.hit_rate:.0%}"
        )
