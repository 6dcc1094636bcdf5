"""The task the workers run: one moving-average crossover backtest.

Long when the fast average is above the slow one (decided at a bar's close, held from
the next bar), flat otherwise. The averages come through ``CachedMovingAverage`` (shared:
every grid point of a symbol reuses them), the metrics through ``CachingRiskCalculator``,
and the whole result through ``@cached``, so a second sweep is answered from the cache.
``reference_backtest`` runs the same arithmetic with no cache at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from admf_perf.caching import cached
from admf_perf.demo.market import file_close, generate_ohlcv, generated_close, read_table
from admf_perf.incremental import (
    CachedMovingAverage,
    CachingRiskCalculator,
    MovingAverageCalculator,
)

PERIODS_PER_YEAR = 252


def closes(item: dict[str, Any]) -> pd.Series:
    if item.get("data"):
        return file_close(item["data"], item["symbol"])
    return generated_close(item["symbol"], item["bars"], item["seed"])


def crossover_metrics(
    close: np.ndarray, fast_ma: np.ndarray, slow_ma: np.ndarray
) -> dict[str, float]:
    """Return, Sharpe, max drawdown and trade count of the crossover on these series."""
    signal = np.where(np.isnan(slow_ma) | np.isnan(fast_ma), 0.0, (fast_ma > slow_ma).astype(float))
    position = np.concatenate(([0.0], signal[:-1]))  # act on the next bar
    bar_returns = np.concatenate(([0.0], close[1:] / close[:-1] - 1.0))
    strategy = position * bar_returns
    risk = CachingRiskCalculator(periods_per_year=PERIODS_PER_YEAR)
    risk.calculate(strategy)
    return {
        "total_return": float(np.prod(1.0 + strategy) - 1.0),
        "sharpe": float(risk.sharpe),
        "max_drawdown": float(risk.max_drawdown),
        "trades": int(np.count_nonzero(np.diff(position))),
    }


@cached(max_size=100_000, name="demo.backtest", version="1")
def _cached_backtest(
    symbol: str, fast: int, slow: int, bars: int, seed: int, data: str
) -> dict[str, Any]:
    item = {"symbol": symbol, "fast": fast, "slow": slow, "bars": bars, "seed": seed, "data": data}
    close = closes(item)
    fast_ma = CachedMovingAverage(fast).compute(symbol, close).to_numpy()
    slow_ma = CachedMovingAverage(slow).compute(symbol, close).to_numpy()
    return {
        "symbol": symbol,
        "fast": fast,
        "slow": slow,
        **crossover_metrics(close.to_numpy(), fast_ma, slow_ma),
    }


def run_backtest(item: dict[str, Any]) -> dict[str, Any]:
    """One grid point: ``{"symbol", "fast", "slow", "bars", "seed", "data"}``."""
    return _cached_backtest(
        item["symbol"],
        item["fast"],
        item["slow"],
        item["bars"],
        item["seed"],
        item.get("data") or "",
    )


def reference_backtest(item: dict[str, Any]) -> dict[str, Any]:
    """The same backtest with plain calculators and no cache at all."""
    if item.get("data"):
        frame = read_table(Path(item["data"]))
        rows = (
            frame[frame["symbol"] == item["symbol"]]["close"]
            if "symbol" in frame
            else frame[item["symbol"]]
        )
        close = rows.to_numpy(dtype=float)
    else:
        close = generate_ohlcv(item["symbol"], item["bars"], item["seed"])["close"].to_numpy()
    fast_ma = MovingAverageCalculator(item["fast"]).calculate(close)
    slow_ma = MovingAverageCalculator(item["slow"]).calculate(close)
    return {
        "symbol": item["symbol"],
        "fast": item["fast"],
        "slow": item["slow"],
        **crossover_metrics(close, fast_ma, slow_ma),
    }
