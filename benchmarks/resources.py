"""Resource manager benchmarks, each against its anchor in the same run:

- OptimizedDataFrame on a 1,000,000-row OHLCV frame with a symbol column: time against a
  deep copy of the frame; memory before/after (goal: >= 50 % saved) in the notes, for the
  symbol column as pandas 3's default ``str`` dtype and as ``object`` (pandas < 3).
- load_csv_chunked vs pandas.read_csv of the same 1,000,000-row CSV: time, and peak RSS
  measured in a fresh subprocess per method (notes).
- TimeSeriesArray append and time-range query vs a pandas Series.
- ObjectPool acquire/release vs plain allocation: a slotted dataclass, a small class, and
  a 1 MiB numpy buffer (the case where pooling can pay).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from admf_perf.resources import (
    MemoryManager,
    MemoryUsage,
    ObjectPool,
    OptimizedDataFrame,
    TimeSeriesArray,
    load_csv_chunked,
)
from benchmarks.harness import Suite

MIB = 1024 * 1024
SYMBOLS = ["AAPL", "MSFT", "GOOG", "AMZN", "TSLA", "META", "NVDA", "SPY", "QQQ", "IWM"]
_quiet = MemoryManager(system_threshold=None, probe=lambda: MemoryUsage(0.0, 0))


def ohlcv(rows: int, symbol_dtype: str = "str") -> pd.DataFrame:
    """Minute bars for 10 symbols: prices to the cent, integer volumes."""
    rng = np.random.default_rng(42)
    close = np.round(100 + np.cumsum(rng.normal(0, 0.05, rows)), 2)
    spread = np.round(rng.uniform(0, 0.5, rows), 2)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2020-01-01", periods=rows, freq="min"),
            "symbol": pd.Series(rng.choice(SYMBOLS, rows)).astype(symbol_dtype),
            "open": np.round(close + rng.uniform(-0.2, 0.2, rows), 2),
            "high": close + spread,
            "low": close - spread,
            "close": close,
            "volume": rng.integers(100, 2_000_000, rows),
        }
    )


def _mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


def _frame_suite(rows: int) -> Suite:
    frames = {dtype: ohlcv(rows, dtype) for dtype in ("str", "object")}
    suite = Suite("resources_frame_memory", anchor="DataFrame.copy(deep=True)", repeat=3)
    for dtype, frame in frames.items():
        for tol in (None, 1e-6):
            report = OptimizedDataFrame(frame, float_tolerance=tol, track=False).report()
            label = "lossless" if tol is None else f"float_tolerance={tol:g}"
            suite.notes.append(
                f"{rows:,} rows, symbol as {dtype}, {label}: {_mib(report.bytes_before)} -> "
                f"{_mib(report.bytes_after)} ({report.saved_fraction:.0%} saved; goal >= 50%); "
                f"changed {report.changed}"
            )
    frame = frames["str"]
    suite.add("DataFrame.copy(deep=True)", lambda: frame.copy(deep=True))
    suite.add(
        "OptimizedDataFrame lossless",
        lambda: OptimizedDataFrame(frame, track=False),
        goal="informational",
    )
    suite.add(
        "OptimizedDataFrame float_tolerance=1e-6",
        lambda: OptimizedDataFrame(frame, float_tolerance=1e-6, track=False),
        goal="informational",
    )
    return suite


PEAK_SCRIPT = """
import json, sys
import pandas as pd
from admf_perf.resources import load_csv_chunked
path, method = sys.argv[1], sys.argv[2]
def hwm():  # VmHWM resets at exec, unlike ru_maxrss which a child inherits from its parent
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmHWM:"))
base = hwm()
if method == "read_csv":
    frame = pd.read_csv(path, parse_dates=["timestamp"])
elif method == "load_csv_chunked":
    frame = load_csv_chunked(path, parse_dates=["timestamp"])
else:
    frame = load_csv_chunked(path, parse_dates=["timestamp"], float_tolerance=1e-6)
print(json.dumps({"base": base, "peak": hwm(),
                  "frame": int(frame.memory_usage(deep=True).sum())}))
"""


def _peak(path: Path, method: str) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(path), method],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _csv_suite(rows: int, workdir: Path) -> Suite:
    path = workdir / "bars.csv"
    ohlcv(rows).to_csv(path, index=False)
    suite = Suite(
        "resources_csv_loading",
        anchor="pandas.read_csv",
        repeat=3,
        teardown=lambda: shutil.rmtree(workdir, ignore_errors=True),
    )
    size = path.stat().st_size
    for method in ("read_csv", "load_csv_chunked", "load_csv_chunked float_tolerance=1e-6"):
        m = _peak(path, method)
        suite.notes.append(
            f"{method} of a {_mib(size)} CSV ({rows:,} rows): peak RSS {_mib(m['peak'])}, "
            f"{_mib(m['peak'] - m['base'])} above the interpreter after imports; "
            f"resulting frame {_mib(m['frame'])} (fresh subprocess per method)"
        )
    suite.add("pandas.read_csv", lambda: pd.read_csv(path, parse_dates=["timestamp"]))
    suite.add(
        "load_csv_chunked (50,000-row chunks)",
        lambda: load_csv_chunked(path, parse_dates=["timestamp"]),
        goal="informational",
    )
    return suite


def _timeseries_suite(n: int, grow_n: int, queries: int) -> Suite:
    suite = Suite("resources_timeseries", anchor="pd.Series grow by .loc[ts] = v")
    stamps = (np.arange(n, dtype=np.int64) * 60_000_000_000 + 1_577_836_800 * 10**9).tolist()
    values = np.random.default_rng(1).normal(size=n).tolist()

    def grow_series() -> None:
        s = pd.Series(dtype=np.float64, index=pd.DatetimeIndex([], dtype="datetime64[ns]"))
        for t, v in zip(stamps[:grow_n], values[:grow_n], strict=True):
            s.loc[pd.Timestamp(t)] = v

    def lists_then_series() -> None:
        ts_list: list[int] = []
        val_list: list[float] = []
        for t, v in zip(stamps, values, strict=True):
            ts_list.append(t)
            val_list.append(v)
        pd.Series(val_list, index=pd.DatetimeIndex(np.array(ts_list, dtype="datetime64[ns]")))

    def tsa_append() -> None:
        ts = TimeSeriesArray(track=False)
        append = ts.append
        for t, v in zip(stamps, values, strict=True):
            append(t, v)

    suite.add("pd.Series grow by .loc[ts] = v", grow_series, ops=grow_n)
    suite.add("lists, then one pd.Series", lists_then_series, ops=n, goal="informational")
    suite.add("TimeSeriesArray.append", tsa_append, ops=n, goal="<= 0.05")
    suite.add(
        "TimeSeriesArray.append (vs lists)",
        tsa_append,
        ops=n,
        anchor="lists, then one pd.Series",
        goal="informational",
    )
    suite.notes.append(
        "append: the lists case is not queryable until the Series is built; "
        "TimeSeriesArray is queryable after every append"
    )

    full = TimeSeriesArray(track=False)
    full.extend(np.array(stamps, dtype=np.int64), np.array(values))
    series = full.to_series()
    rng = np.random.default_rng(2)
    starts = rng.integers(0, n - 1000, queries)
    windows = [(stamps[s], stamps[s + int(rng.integers(1, 1000))]) for s in starts]
    ts_windows = [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in windows]

    def series_query() -> None:
        for a, b in ts_windows:
            series.loc[a:b]

    def tsa_query() -> None:
        for a, b in windows:
            full.between(a, b)

    suite.add(
        "pd.Series.loc[start:end]", series_query, ops=queries, anchor="pd.Series.loc[start:end]"
    )
    suite.add(
        "TimeSeriesArray.between",
        tsa_query,
        ops=queries,
        anchor="pd.Series.loc[start:end]",
        goal="<= 0.2",
    )
    return suite


@dataclass(slots=True)
class Bar:
    symbol: str = ""
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    volume: int = 0


class Event:
    def __init__(self) -> None:
        self.kind = ""
        self.payload: object = None
        self.timestamp = 0


def _reset_bar(bar: Bar) -> None:
    bar.symbol, bar.open, bar.high, bar.low, bar.close, bar.volume = "", 0.0, 0.0, 0.0, 0.0, 0


def _reset_event(event: Event) -> None:
    event.kind, event.payload, event.timestamp = "", None, 0


def _pool_suite(n: int, big_n: int) -> Suite:
    suite = Suite("resources_object_pool", anchor="allocate Bar(slots dataclass)")
    bar_pool = ObjectPool(Bar, max_size=64, reset=_reset_bar, memory_manager=_quiet)
    event_pool = ObjectPool(Event, max_size=64, reset=_reset_event, memory_manager=_quiet)

    def alloc_bars() -> None:
        for i in range(n):
            bar = Bar("AAPL", 1.0, 2.0, 0.5, 1.5, i)
            bar.close += 1

    def pooled_bars() -> None:
        acquire, release = bar_pool.acquire, bar_pool.release
        for i in range(n):
            bar = acquire()
            bar.symbol, bar.open, bar.high = "AAPL", 1.0, 2.0
            bar.low, bar.close, bar.volume = 0.5, 1.5, i
            bar.close += 1
            release(bar)

    def alloc_events() -> None:
        for i in range(n):
            event = Event()
            event.kind, event.timestamp = "BAR", i

    def pooled_events() -> None:
        for i in range(n):
            with event_pool.borrow() as event:
                event.kind, event.timestamp = "BAR", i

    def buffers(mib: int) -> tuple[Callable[[], None], Callable[[], None]]:
        size = mib * 128 * 1024  # float64 elements
        pool = ObjectPool(lambda: np.empty(size), max_size=2, memory_manager=_quiet)

        def alloc() -> None:
            for i in range(big_n):
                buf = np.empty(size)
                buf.fill(i)

        def pooled() -> None:
            for i in range(big_n):
                buf = pool.acquire()
                buf.fill(i)
                pool.release(buf)

        return alloc, pooled

    suite.add("allocate Bar(slots dataclass)", alloc_bars, ops=n)
    suite.add("ObjectPool[Bar] acquire/release", pooled_bars, ops=n, goal="< 1.0 to pay")
    suite.add(
        "allocate Event (small class)", alloc_events, ops=n, anchor="allocate Event (small class)"
    )
    suite.add(
        "ObjectPool[Event] borrow()",
        pooled_events,
        ops=n,
        anchor="allocate Event (small class)",
        goal="< 1.0 to pay",
    )
    for mib in (1, 16):
        alloc, pooled = buffers(mib)
        anchor = f"allocate {mib} MiB np.empty + fill"
        suite.add(anchor, alloc, ops=big_n, anchor=anchor)
        suite.add(
            f"ObjectPool[{mib} MiB array] + fill", pooled, ops=big_n, anchor=anchor, goal="< 1.0"
        )
    return suite


def build(quick: bool) -> list[Suite]:
    workdir = Path(tempfile.mkdtemp(prefix="admf-bench-"))
    rows = 100_000 if quick else 1_000_000
    return [
        _frame_suite(rows),
        _csv_suite(rows, workdir),
        _timeseries_suite(20_000 if quick else 200_000, 500 if quick else 2_000, 1_000),
        _pool_suite(20_000 if quick else 200_000, 10 if quick else 50),
    ]
