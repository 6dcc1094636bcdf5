#!/usr/bin/env python
"""The demo sweep written as a short user script against the public API: how to wire
admf-perf into your own backtester.

    ADMF_REDIS_URL=redis://host:6379/0 python scripts/run_sweep.py      # an existing fleet
    python scripts/run_sweep.py                                         # all in-process

With ADMF_REDIS_URL set, start workers first on any host:
    admf-perf worker --url redis://host:6379/0 --import admf_perf.demo.backtest
"""

from __future__ import annotations

import math
import os
import time

from admf_perf import CacheManager, configure
from admf_perf.demo.backtest import run_backtest
from admf_perf.execution import CPUManager


def main() -> None:
    if os.environ.get("ADMF_REDIS_URL"):
        configure(executor="rq")  # spread the grid over the worker fleet
    grid = [
        {"symbol": symbol, "fast": fast, "slow": slow, "bars": 2520, "seed": 7, "data": None}
        for symbol in ("AAPL", "MSFT", "SPY")
        for fast in (5, 10, 20)
        for slow in (50, 100, 200)
    ]
    manager = CPUManager.get_instance()
    for run in (1, 2):
        start = time.perf_counter()
        results = manager.map_tasks(run_backtest, grid, use_process=True, task_name="sweep")
        print(f"run {run}: {len(results)} backtests in {time.perf_counter() - start:.2f}s")
    best = max(results, key=lambda r: -math.inf if math.isnan(r["sharpe"]) else r["sharpe"])
    print(
        f"best: {best['symbol']} fast={best['fast']} slow={best['slow']} sharpe={best['sharpe']:.2f}"
    )
    print("caches:", CacheManager.get_instance().get_stats()["totals"])
    manager.shutdown()


if __name__ == "__main__":
    main()
