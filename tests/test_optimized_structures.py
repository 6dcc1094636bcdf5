"""Lossless dtype shrinking, OptimizedDataFrame, TimeSeriesArray, chunked loading, TopN."""

from __future__ import annotations

import gc
import sys
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from admf_perf.errors import ConfigurationError
from admf_perf.resources import (
    MemoryManager,
    MemoryOptimizedArray,
    MemoryUsage,
    MissingDependencyError,
    OptimizedDataFrame,
    OutOfOrderError,
    TimeSeriesArray,
    TopNResults,
    downcast,
    load_csv_chunked,
    load_table,
)


@pytest.fixture
def manager() -> MemoryManager:
    return MemoryManager(probe=lambda: MemoryUsage(0.0, 0))


def same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values, NaN equal to NaN, zeros with the same sign."""
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(np.array_equal(a64, b64, equal_nan=True)) and bool(
        (np.signbit(a64) == np.signbit(b64)).all()
    )


# -- dtype shrinking ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        ([0, 127, -128], np.int64, np.int8),
        ([0, 128], np.int64, np.int16),
        ([-40_000, 5], np.int64, np.int32),
        ([2**40], np.int64, np.int64),
        ([0, 255], np.uint64, np.uint8),
        ([0, 70_000], np.uint32, np.uint32),
        ([1, 2], np.int8, np.int8),
        ([0.5, 1.25, np.nan, -0.0, np.inf, -np.inf], np.float64, np.float32),
        ([0.1], np.float64, np.float64),
        ([1e300], np.float64, np.float64),
        ([1e-45], np.float64, np.float64),
        ([16_777_217.0], np.float64, np.float64),
    ],
)
def test_downcast_picks_the_smallest_lossless_dtype(
    values: list[float], dtype: type, expected: type
) -> None:
    out = downcast(np.array(values, dtype=dtype))
    assert out.dtype == np.dtype(expected)
    assert same_values(out, np.array(values, dtype=dtype))


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(st.sampled_from([np.int64, np.int32, np.uint64, np.uint16]), st.integers(0, 50)))
def test_integer_downcast_is_lossless_and_minimal(values: np.ndarray) -> None:
    out = downcast(values)
    assert out.dtype.kind == values.dtype.kind
    assert out.dtype.itemsize <= values.dtype.itemsize
    assert np.array_equal(out.astype(values.dtype), values)
    if values.size and out.dtype.itemsize > 1 and out.dtype != values.dtype:
        smaller = np.dtype(f"{out.dtype.kind}{out.dtype.itemsize // 2}")
        info = np.iinfo(smaller)
        assert values.min() < info.min or values.max() > info.max


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.integers(0, 50),
        elements=st.one_of(st.floats(width=64), st.floats(width=32).map(float)),
    )
)
def test_float_downcast_is_lossless(values: np.ndarray) -> None:
    out = downcast(values)
    assert same_values(out.astype(np.float64), values)
    if out.dtype == np.float64 and values.size:
        with np.errstate(over="ignore"):
            narrow = values.astype(np.float32)
        assert not same_values(narrow.astype(np.float64), values)


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.integers(1, 50),
        elements=st.one_of(st.floats(-1e30, 1e30), st.floats(-1e4, 1e4)),
    )
)
def test_float_tolerance_bounds_the_relative_error(values: np.ndarray) -> None:
    out = downcast(values, float_tolerance=1e-6)
    err = np.abs(values.astype(np.float32).astype(np.float64) - values)
    within = bool((err <= 1e-6 * np.abs(values)).all())
    assert (out.dtype == np.float32) == within
    if within:
        assert (np.abs(out.astype(np.float64) - values) <= 1e-6 * np.abs(values)).all()


def test_memory_optimized_array(manager: MemoryManager) -> None:
    arr = MemoryOptimizedArray(np.arange(1000, dtype=np.int64), memory_manager=manager)
    assert arr.nbytes == 8000 and manager.tracked_bytes() == 8000
    assert np.asarray(arr) is arr.array
    assert arr.optimize_dtype() == np.int16
    assert arr.nbytes == 2000 and manager.tracked_bytes() == 2000
    assert np.array_equal(np.asarray(arr, dtype=np.int64), np.arange(1000))
    assert arr[5] == 5 and len(arr) == 1000 and arr.shape == (1000,)
    prices = MemoryOptimizedArray([100.01, 99.99], memory_manager=manager)
    assert prices.optimize_dtype() == np.float64
    assert prices.optimize_dtype(float_tolerance=1e-6) == np.float32
    del arr, prices
    gc.collect()
    assert manager.tracked_bytes() == 0


# -- OptimizedDataFrame ---------------------------------------------------------------


def sample_frame(n: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "volume": rng.integers(0, 30_000, n),
            "halves": rng.integers(0, 100, n) / 2.0,
            "close": np.round(rng.uniform(50, 150, n), 2),
            "symbol": rng.choice(["AAPL", "MSFT", "GOOG"], n).astype(object),
            "order_id": [f"id{i}" for i in range(n)],
            "flag": rng.integers(0, 2, n).astype(bool),
        }
    )


def test_optimized_frame_is_lossless_by_default(manager: MemoryManager) -> None:
    original = sample_frame()
    opt = OptimizedDataFrame(original, memory_manager=manager)
    frame = opt.frame
    assert frame["volume"].dtype == np.int16
    assert frame["halves"].dtype == np.float32
    assert frame["close"].dtype == np.float64
    assert isinstance(frame["symbol"].dtype, pd.CategoricalDtype)
    assert not isinstance(frame["order_id"].dtype, pd.CategoricalDtype)
    assert frame["flag"].dtype == bool
    for name in original.columns:
        assert list(frame[name].astype(object)) == list(original[name].astype(object))
    report = opt.report()
    assert report.bytes_before == int(original.memory_usage(deep=True).sum())
    assert report.bytes_after == int(frame.memory_usage(deep=True).sum())
    assert report.bytes_after < report.bytes_before and report.saved_fraction > 0.3
    assert set(report.changed) == {"volume", "halves", "symbol"}
    assert manager.tracked_bytes() == report.bytes_after
    assert opt["volume"].dtype == np.int16 and opt.shape == original.shape


def test_float_tolerance_and_category_threshold_are_opt_in(manager: MemoryManager) -> None:
    original = sample_frame()
    opt = OptimizedDataFrame(
        original, float_tolerance=1e-6, category_threshold=0.0, memory_manager=manager
    )
    assert opt.frame["close"].dtype == np.float32
    rel = np.abs(opt.frame["close"].to_numpy(np.float64) - original["close"]) / original["close"]
    assert rel.max() <= 1e-6
    assert not isinstance(opt.frame["symbol"].dtype, pd.CategoricalDtype)
    everything = OptimizedDataFrame(original, category_threshold=1.0, memory_manager=manager)
    assert isinstance(everything.frame["order_id"].dtype, pd.CategoricalDtype) is False
    with pytest.raises(ConfigurationError):
        OptimizedDataFrame(original, float_tolerance=-1.0, memory_manager=manager)
    with pytest.raises(ConfigurationError):
        OptimizedDataFrame(original, category_threshold=2.0, memory_manager=manager)
    with pytest.raises(ConfigurationError):
        OptimizedDataFrame(original.to_numpy(), memory_manager=manager)  # type: ignore[arg-type]


def test_pandas_string_dtype_columns_become_categories(manager: MemoryManager) -> None:
    frame = pd.DataFrame({"s": pd.array(["a", "b", None, "a"] * 10, dtype="string")})
    opt = OptimizedDataFrame(frame, memory_manager=manager).frame
    assert isinstance(opt["s"].dtype, pd.CategoricalDtype)
    assert opt["s"].isna().sum() == 10


# -- TimeSeriesArray ------------------------------------------------------------------


def test_append_extend_and_range_queries(manager: MemoryManager) -> None:
    ts = TimeSeriesArray(capacity=2, memory_manager=manager)
    for t in range(10):
        ts.append(t * 10, float(t))
    ts.extend(np.arange(100, 200, 10), np.arange(10, 20, dtype=float))
    assert len(ts) == 20 and ts.capacity >= 20
    got = ts.between(25, 100)
    assert list(got.timestamps) == [30, 40, 50, 60, 70, 80, 90, 100]
    assert list(got.values) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert np.shares_memory(got.values, ts.values)
    assert list(ts.between(None, 15).values) == [0, 1]
    assert list(ts.between(185, None).values) == [19]
    assert len(ts.between(1000, 2000).values) == 0
    assert len(ts.between(50, 40).values) == 0
    assert manager.tracked_bytes() == ts.nbytes


def test_datetime_inputs_and_to_series(manager: MemoryManager) -> None:
    ts = TimeSeriesArray(memory_manager=manager)
    ts.append(pd.Timestamp("2024-01-02 09:30"), 1.0)
    ts.append(np.datetime64("2024-01-02T09:31"), 2.0)
    ts.append("2024-01-02 09:32", 3.0)
    ts.extend(pd.date_range("2024-01-02 09:33", periods=3, freq="min"), [4.0, 5.0, 6.0])
    series = ts.to_series(name="close")
    expected = pd.Series(
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        index=pd.date_range("2024-01-02 09:30", periods=6, freq="min").as_unit("ns"),
        name="close",
    )
    pd.testing.assert_series_equal(series, expected, check_freq=False)
    window = ts.between("2024-01-02 09:31", pd.Timestamp("2024-01-02 09:33"))
    assert list(window.values) == [2.0, 3.0, 4.0]


def test_out_of_order_timestamps_are_rejected_and_nothing_changes(
    manager: MemoryManager,
) -> None:
    ts = TimeSeriesArray(memory_manager=manager)
    ts.append(100, 1.0)
    ts.append(100, 2.0)  # equal timestamps are allowed
    with pytest.raises(OutOfOrderError, match="older"):
        ts.append(99, 3.0)
    with pytest.raises(OutOfOrderError, match="position 2"):
        ts.extend([200, 300, 250], [1.0, 2.0, 3.0])
    with pytest.raises(OutOfOrderError):
        ts.extend([50, 300], [1.0, 2.0])
    with pytest.raises(ConfigurationError):
        ts.extend([300, 400], [1.0])
    assert list(ts.values) == [1.0, 2.0]


def test_max_length_prunes_oldest_and_keeps_capacity_bounded(manager: MemoryManager) -> None:
    ts = TimeSeriesArray(capacity=4, max_length=100, memory_manager=manager)
    for t in range(10_000):
        ts.append(t, float(t))
    assert len(ts) == 100
    assert list(ts.timestamps) == list(range(9_900, 10_000))
    assert ts.capacity <= 4 * 100
    ts.extend(np.arange(10_000, 10_500), np.arange(10_000, 10_500, dtype=float))
    assert list(ts.values) == list(range(10_400, 10_500))


def test_views_survive_growth_and_compaction(manager: MemoryManager) -> None:
    ts = TimeSeriesArray(capacity=4, max_length=8, memory_manager=manager)
    for t in range(6):
        ts.append(t, float(t))
    view = ts.between(2, 4).values.copy(), ts.between(2, 4).values
    for t in range(6, 200):
        ts.append(t, float(t))
    assert list(view[1]) == list(view[0]) == [2.0, 3.0, 4.0]


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("append"), st.integers(0, 5), st.floats(-1e6, 1e6)),
            st.tuples(
                st.just("extend"),
                st.lists(st.integers(0, 5), max_size=6),
                st.floats(-1e6, 1e6),
            ),
            st.tuples(st.just("query"), st.integers(-5, 400), st.integers(0, 60)),
        ),
        max_size=60,
    ),
    max_length=st.one_of(st.none(), st.integers(1, 12)),
    capacity=st.integers(1, 8),
)
def test_matches_a_pandas_series_reference(
    steps: list[tuple], max_length: int | None, capacity: int
) -> None:
    ts = TimeSeriesArray(capacity=capacity, max_length=max_length, track=False)
    times: list[int] = []
    vals: list[float] = []
    now = 0
    for kind, a, b in steps:
        if kind == "append":
            now += a
            ts.append(now, b)
            times.append(now)
            vals.append(b)
        elif kind == "extend":
            new = list(now + np.cumsum(a)) if a else []
            now = new[-1] if new else now
            ts.extend(np.array(new, dtype=np.int64), [b] * len(new))
            times += new
            vals += [b] * len(new)
        else:
            keep = slice(-max_length, None) if max_length else slice(None)
            ref = pd.Series(vals[keep], index=pd.Index(times[keep], dtype=np.int64), dtype=float)
            got = ts.between(a, a + b)
            want = ref.loc[a : a + b]
            assert list(got.timestamps) == list(want.index)
            assert list(got.values) == list(want.to_numpy())
    keep = slice(-max_length, None) if max_length else slice(None)
    assert list(ts.timestamps) == times[keep]
    assert list(ts.values) == vals[keep]


# -- loading --------------------------------------------------------------------------


def write_csv(path: Path, n: int = 5000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=n, freq="s").astype(str),
            "close": np.round(rng.uniform(10, 20, n), 2),
            "volume": rng.integers(0, 1000, n),
            # each chunk sees different symbols: categories must be unified across chunks
            "symbol": [f"S{i // 1000}{i % 3}" for i in range(n)],
            "order_id": [f"o{i}" for i in range(n)],
        }
    )
    frame.to_csv(path, index=False)
    return frame


def test_chunked_csv_equals_read_csv_with_smaller_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    write_csv(path)
    plain = pd.read_csv(path, parse_dates=["ts"])
    got = load_csv_chunked(path, chunksize=700, parse_dates=["ts"])
    assert isinstance(got["symbol"].dtype, pd.CategoricalDtype)
    assert len(got["symbol"].cat.categories) == 15
    assert not isinstance(got["order_id"].dtype, pd.CategoricalDtype)
    assert got["volume"].dtype == np.int16
    assert got["ts"].dtype.kind == "M"
    for name in plain.columns:
        assert list(got[name].astype(object)) == list(plain[name].astype(object)), name
    assert got.memory_usage(deep=True).sum() < plain.memory_usage(deep=True).sum()


def test_chunked_csv_options(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    write_csv(path)
    few = load_csv_chunked(path, chunksize=300, max_rows=1234, usecols=["close", "symbol"])
    assert list(few.columns) == ["close", "symbol"] and len(few) == 1234
    raw = load_csv_chunked(path, chunksize=300, optimize=False)
    pd.testing.assert_frame_equal(raw, pd.read_csv(path))
    assert len(load_csv_chunked(path, max_rows=0)) == 0
    for bad in ({"chunksize": 0}, {"max_rows": -1}, {"float_tolerance": 5.0}):
        with pytest.raises(ConfigurationError):
            load_csv_chunked(path, **bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".parquet", ".feather"])
def test_load_table_round_trips(tmp_path: Path, suffix: str) -> None:
    frame = sample_frame(100)
    path = tmp_path / f"t{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_feather(path)
    pd.testing.assert_frame_equal(load_table(path), frame, check_dtype=False)
    assert list(load_table(path, columns=["close"]).columns) == ["close"]


def test_load_table_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="format"):
        load_table(tmp_path / "t.csv")
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependencyError, match="pyarrow"):
        load_table(tmp_path / "t.parquet")


# -- TopNResults ----------------------------------------------------------------------


def test_top_n_keeps_the_best_and_ties_in_arrival_order() -> None:
    top: TopNResults[tuple[str, float]] = TopNResults(3, key=lambda r: r[1])
    top.extend([("a", 1.0), ("b", 5.0), ("c", 5.0), ("d", 3.0), ("e", 5.0), ("f", float("nan"))])
    assert top.results() == [("b", 5.0), ("c", 5.0), ("e", 5.0)]
    assert top.seen == 6 and len(top) == 3
    low: TopNResults[float] = TopNResults(2, key=float, maximize=False)
    low.extend([3.0, 1.0, 2.0, 1.0, float("nan")])
    assert low.results() == [1.0, 1.0]
    with pytest.raises(ConfigurationError):
        TopNResults(0, key=float)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-5, 5), max_size=40), st.integers(1, 8), st.booleans())
def test_top_n_matches_a_stable_sort(scores: list[int], n: int, maximize: bool) -> None:
    top: TopNResults[tuple[int, int]] = TopNResults(n, key=lambda r: r[0], maximize=maximize)
    items = [(s, i) for i, s in enumerate(scores)]
    top.extend(items)
    ordered = sorted(items, key=lambda r: -r[0] if maximize else r[0])
    assert top.results() == ordered[:n]


def test_top_n_can_collect_garbage_after_each_result() -> None:
    class Cycle:
        pass

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        cycle = Cycle()
        cycle.me = cycle  # type: ignore[attr-defined]
        ref = weakref.ref(cycle)
        del cycle
        TopNResults(1, key=float, collect_garbage=False).add(1.0)
        assert ref() is not None
        TopNResults(1, key=float, collect_garbage=True).add(1.0)
        assert ref() is None
    finally:
        if was_enabled:
            gc.enable()
