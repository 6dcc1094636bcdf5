"""Run the demo sweep twice over the shared cache and report: the embedded server, real
worker processes and the host agent are started here (or an existing server and fleet
used with ``redis_url``), and everything started is stopped on exit and on Ctrl-C."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from admf_perf.caching import CacheStats
from admf_perf.config import configure, get_settings
from admf_perf.demo.backtest import run_backtest
from admf_perf.errors import ConfigurationError
from admf_perf.server import EmbeddedServer

DEMO_CACHES = ("demo.bars", "demo.backtest", "indicator.sma")
DEFAULT_SYMBOLS = ("AAPL", "MSFT", "SPY", "QQQ")


@dataclass
class SweepConfig:
    symbols: list[str] = field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    grid: int = 36
    bars: int = 2520
    seed: int = 7
    data: str | None = None
    workers: int = 2
    top: int = 10
    redis_url: str | None = None
    progress: bool | None = None


def parameter_grid(size: int) -> list[tuple[int, int]]:
    """About ``size`` (fast, slow) pairs with fast < slow, spread evenly."""
    if size < 1:
        raise ConfigurationError(f"grid must be at least 1, got {size}")
    side = max(1, round((2 * size) ** 0.5) + 1)
    fasts = sorted({round(5 + i * 45 / max(1, side - 1)) for i in range(side)})
    slows = sorted({round(20 + i * 180 / max(1, side - 1)) for i in range(side)})
    pairs = [(f, s) for f, s in itertools.product(fasts, slows) if f < s]
    step = max(1, len(pairs) / size)
    return [pairs[int(i * step)] for i in range(min(size, len(pairs)))]


def grid_items(config: SweepConfig) -> list[dict[str, Any]]:
    return [
        {
            "symbol": s,
            "fast": f,
            "slow": w,
            "bars": config.bars,
            "seed": config.seed,
            "data": config.data,
        }
        for s in config.symbols
        for f, w in parameter_grid(config.grid)
    ]


@contextmanager
def fleet(config: SweepConfig) -> Iterator[str]:
    """The server URL to use, with workers and the agent running, all stopped after."""
    with ExitStack() as stack:
        if config.redis_url:
            yield config.redis_url
            return
        server = stack.enter_context(EmbeddedServer())
        env = {
            **os.environ,
            "ADMF_NAMESPACE": get_settings().namespace,
            "ADMF_REDIS_URL": server.url,
        }
        worker = _spawn(
            [
                "worker",
                "--url",
                server.url,
                "--processes",
                str(config.workers),
                "--log-level",
                "WARNING",
                "--import",
                "admf_perf.demo.backtest",
            ],
            env,
        )
        stack.callback(_stop, worker)
        agent = (
            _spawn(["agent", "--url", server.url, "--interval", "1"], env) if _has_agent() else None
        )
        if agent is not None:
            stack.callback(_stop, agent)
        yield server.url


def _has_agent() -> bool:
    from admf_perf.cli import cli

    return "agent" in cli.commands


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "admf_perf", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class RunReport:
    seconds: float
    stats: dict[str, CacheStats]

    @property
    def totals(self) -> CacheStats:
        return sum(self.stats.values(), CacheStats(max_size=0))


@dataclass
class SweepReport:
    items: int
    runs: list[RunReport]
    top: list[dict[str, Any]]
    results: list[dict[str, Any]]
    task_stats: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "runs": [
                {
                    "seconds": r.seconds,
                    "hit_rate": r.totals.hit_rate,
                    "caches": {n: s.to_dict() for n, s in r.stats.items()},
                }
                for r in self.runs
            ],
            "top": self.top,
            "results": self.results,
            "task_stats": self.task_stats,
        }


def run_sweep(config: SweepConfig) -> SweepReport:
    """The sweep, twice: once on a cold cache, once warm; the top results by Sharpe."""
    from admf_perf.caching import fleet as cache_fleet
    from admf_perf.execution import CPUManager
    from admf_perf.stores import RedisBackend, resolve_backend

    with fleet(config) as url:
        configure(redis_url=url, executor="rq")
        backend = resolve_backend(None, get_settings())
        assert isinstance(backend, RedisBackend)
        for name in DEMO_CACHES:  # a cold start, so run 1 vs run 2 means something
            cache_fleet.invalidate(backend, f"{name}:*")
        items = grid_items(config)
        manager = CPUManager.get_instance()
        runs: list[RunReport] = []
        results: list[dict[str, Any]] = []
        before = _stats(backend)
        for _ in range(2):
            start = time.perf_counter()
            results = manager.map_tasks(
                run_backtest, items, task_name="demo.backtest", progress=config.progress
            )
            after = _stats(backend)
            runs.append(RunReport(time.perf_counter() - start, _delta(after, before)))
            before = after
        top = sorted(results, key=_sharpe_or_worst, reverse=True)[: config.top]
        return SweepReport(len(items), runs, top, results, manager.get_task_stats("demo.backtest"))


def _sharpe_or_worst(result: dict[str, Any]) -> float:
    sharpe = result["sharpe"]
    return float("-inf") if math.isnan(sharpe) else sharpe  # never traded: ranks last


def _stats(backend: Any) -> dict[str, CacheStats]:
    from admf_perf.caching import fleet as cache_fleet

    known = cache_fleet.known_caches(backend)
    return {n: cache_fleet.open_cache(backend, n).stats() for n in DEMO_CACHES if n in known}


def _delta(after: dict[str, CacheStats], before: dict[str, CacheStats]) -> dict[str, CacheStats]:
    out = {}
    for name, now in after.items():
        was = before.get(name, CacheStats())
        out[name] = CacheStats(
            hits=now.hits - was.hits,
            misses=now.misses - was.misses,
            sets=now.sets - was.sets,
            evictions=now.evictions - was.evictions,
            size=now.size,
            max_size=now.max_size,
        )
    return out
