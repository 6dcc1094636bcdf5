"""Bars for the demo: seeded geometric Brownian motion with realistic volume, or closes
loaded from a CSV/Parquet file. Both go through the shared cache, so every worker reads
the same bars once per fleet."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from admf_perf.caching import cached
from admf_perf.errors import ConfigurationError


def generate_ohlcv(symbol: str, bars: int, seed: int = 7) -> pd.DataFrame:
    """Daily OHLCV bars for ``symbol``: the same frame for the same arguments anywhere."""
    rng = np.random.default_rng([seed, zlib.crc32(symbol.encode())])
    drift, vol = rng.uniform(0.02, 0.12), rng.uniform(0.15, 0.45)
    dt = 1 / 252
    log_returns = rng.normal((drift - vol**2 / 2) * dt, vol * np.sqrt(dt), bars)
    close = rng.uniform(20, 400) * np.exp(np.cumsum(log_returns))
    open_ = np.concatenate(([close[0]], close[:-1])) * np.exp(
        rng.normal(0, vol * 0.1 * np.sqrt(dt), bars)
    )
    spread = np.abs(rng.normal(0, vol * np.sqrt(dt), bars)) * close
    high = np.maximum(open_, close) + spread / 2
    low = np.minimum(open_, close) - spread / 2
    # volume rises with the size of the move, around a lognormal base
    base = rng.lognormal(np.log(2e6), 0.3, bars)
    volume = (base * (1 + 20 * np.abs(log_returns))).astype(np.int64)
    index = pd.bdate_range("2010-01-04", periods=bars, name="date")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


@cached(max_size=256, name="demo.bars", version="1")
def generated_close(symbol: str, bars: int, seed: int) -> pd.Series:
    """Close prices of the generated bars (cached: one generation per fleet)."""
    return generate_ohlcv(symbol, bars, seed)["close"].rename(symbol)


@cached(max_size=256, name="demo.file_bars", version="1")
def _file_close(path: str, symbol: str, stamp: str) -> pd.Series:
    frame = read_table(Path(path))
    if {"symbol", "close"} <= set(frame.columns):
        rows = frame[frame["symbol"] == symbol]
        if rows.empty:
            raise ConfigurationError(f"{path} has no rows for symbol {symbol!r}")
        return rows["close"].astype(float).rename(symbol)
    if symbol not in frame.columns:
        raise ConfigurationError(
            f"{path} has no column {symbol!r} (columns: {list(frame.columns)[:10]})"
        )
    return frame[symbol].astype(float).rename(symbol)


def file_close(path: str, symbol: str) -> pd.Series:
    """Closes of ``symbol`` from a file; the file's size and mtime are part of the key."""
    stat = os.stat(path)
    return _file_close(path, symbol, f"{stat.st_size}-{stat.st_mtime_ns}")


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file: long (date, symbol, close) or wide (date, one column per symbol)."""
    if not path.exists():
        raise ConfigurationError(f"data file {path} does not exist")
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path)
    for column in ("date", "datetime", "timestamp", "time"):
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column])
            return frame.set_index(column)
    return frame


def symbols_in(path: str) -> list[str]:
    """The symbols a data file holds."""
    frame = read_table(Path(path))
    if "symbol" in frame.columns:
        return sorted(map(str, frame["symbol"].unique()))
    return [str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
