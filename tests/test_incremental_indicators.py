"""Indicators against pandas/numpy references, per bar and vectorized, appended and full.

Tolerances: 1e-9 relative to the result, plus 1e-12 of the data's scale (max |x|) where
the result itself can be ~0 (a mean crossing zero). Rolling variance is compared with a
corrected two-pass numpy reference, which is exact where pandas is not (pandas' own
rolling var is ~1e-4 off on 1e9 + noise).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from admf_perf.errors import AdmfPerfError, ConfigurationError
from admf_perf.incremental import (
    BollingerBandsCalculator,
    ExponentialMovingAverageCalculator,
    MovingAverageCalculator,
    NonNumericInputError,
    RollingMaxCalculator,
    RollingMinCalculator,
    RollingStdCalculator,
    RollingVarianceCalculator,
    RSICalculator,
)

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- references ----------------------------------------------------------------------------


def clean(x: np.ndarray) -> pd.Series:
    """pandas treats inf as missing in rolling/ewm; the references make that explicit."""
    return pd.Series(x).replace([np.inf, -np.inf], np.nan)


def ref_var(x: np.ndarray, window: int, ddof: int) -> np.ndarray:
    """Corrected two-pass rolling variance (NaN where a window has a missing value)."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] < window:
        return out
    wins = sliding_window_view(x, window)
    ok = np.isfinite(wins).all(axis=1)
    w = wins[ok]
    d = w - w.mean(axis=1)[:, None]
    m2 = (d * d).sum(axis=1) - d.sum(axis=1) ** 2 / window
    res = np.full(wins.shape[0], np.nan)
    res[ok] = np.maximum(m2, 0.0) / (window - ddof) if window > ddof else np.nan
    out[window - 1 :] = res
    return out


def ref_rsi(x: np.ndarray, period: int) -> np.ndarray:
    delta = clean(x).diff()
    gain, loss = delta.clip(lower=0), -delta.clip(upper=0)
    kw = {"alpha": 1 / period, "adjust": False, "min_periods": period}
    avg_gain, avg_loss = gain.ewm(**kw).mean(), loss.ewm(**kw).mean()
    return (100 - 100 / (1 + avg_gain / avg_loss)).to_numpy()


def ref_bands(x: np.ndarray, window: int, k: float, ddof: int) -> np.ndarray:
    mid = clean(x).rolling(window).mean().to_numpy()
    sd = np.sqrt(ref_var(x, window, ddof))
    return np.stack((mid, mid + k * sd, mid - k * sd), axis=1)


CASES = {
    "sma": (
        lambda: MovingAverageCalculator(7),
        lambda x: clean(x).rolling(7).mean().to_numpy(),
    ),
    "sma1": (lambda: MovingAverageCalculator(1), lambda x: clean(x).to_numpy()),
    "ema_span": (
        lambda: ExponentialMovingAverageCalculator(span=9),
        lambda x: clean(x).ewm(span=9, adjust=False).mean().to_numpy(),
    ),
    "ema_alpha_minp": (
        lambda: ExponentialMovingAverageCalculator(alpha=0.3, min_periods=4),
        lambda x: clean(x).ewm(alpha=0.3, adjust=False, min_periods=4).mean().to_numpy(),
    ),
    "var": (lambda: RollingVarianceCalculator(6), lambda x: ref_var(x, 6, 1)),
    "var_pop": (lambda: RollingVarianceCalculator(5, ddof=0), lambda x: ref_var(x, 5, 0)),
    "std": (lambda: RollingStdCalculator(8), lambda x: np.sqrt(ref_var(x, 8, 1))),
    "max": (lambda: RollingMaxCalculator(6), lambda x: clean(x).rolling(6).max().to_numpy()),
    "min": (lambda: RollingMinCalculator(6), lambda x: clean(x).rolling(6).min().to_numpy()),
    "rsi": (lambda: RSICalculator(5), lambda x: ref_rsi(x, 5)),
    "bands": (lambda: BollingerBandsCalculator(6, 2.0), lambda x: ref_bands(x, 6, 2.0, 0)),
}


def assert_close(got: np.ndarray, want: np.ndarray, x: np.ndarray, rtol: float = 1e-9) -> None:
    finite = x[np.isfinite(x)]
    scale = float(np.abs(finite).max()) if finite.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12 * scale, equal_nan=True)


def per_bar(calc: object, x: np.ndarray) -> np.ndarray:
    upd = calc.update  # type: ignore[attr-defined]
    shape = type(calc).output_shape  # type: ignore[attr-defined]
    return np.array([upd(v) for v in x.tolist()], dtype=np.float64).reshape(-1, *shape)


@st.composite
def series(draw: st.DrawFn, min_size: int = 0, max_size: int = 300) -> np.ndarray:
    """Random walks or noise at any level/scale, with optional NaN/inf holes."""
    n = draw(st.integers(min_size, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    level = draw(st.sampled_from([0.0, 1.0, 100.0, -50.0, 1e6, 1e9]))
    scale = draw(st.sampled_from([1e-3, 1.0, 10.0]))
    steps = rng.normal(size=n) * scale
    x = level + (np.cumsum(steps) if draw(st.booleans()) else steps)
    if draw(st.booleans()) and n:  # flat stretches: exact ties and zero variance
        x = np.round(x / scale) * scale
    if draw(st.booleans()) and n:
        holes = rng.random(n) < draw(st.sampled_from([0.01, 0.1]))
        x[holes] = rng.choice([np.nan, np.inf, -np.inf], size=int(holes.sum()))
    return x


# -- exactness ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
@PROPERTY
@given(x=series())
def test_matches_reference_vectorized_and_per_bar(name: str, x: np.ndarray) -> None:
    make, ref = CASES[name]
    want = ref(x)
    before = x.copy()
    got = make().calculate(x)
    np.testing.assert_array_equal(x, before)  # the caller's array is never written to
    assert got.shape == want.shape
    assert_close(got, want, x)
    assert_close(per_bar(make(), x), want, x)


@pytest.mark.parametrize("name", sorted(CASES))
@PROPERTY
@given(x=series(min_size=1), data=st.data())
def test_append_equals_full_recompute(name: str, x: np.ndarray, data: st.DataObject) -> None:
    make, _ = CASES[name]
    cuts = sorted(data.draw(st.lists(st.integers(0, x.shape[0]), max_size=4)))
    calc = make()
    for cut in [*cuts, x.shape[0]]:
        calc.calculate(x[:cut])
    assert calc.calculation_counts == {"full": 1, "incremental": len(cuts)}
    full = make().calculate(x)
    # short tails go bar by bar, long ones vectorized: they round differently, each within
    # the 1e-9 promise (a variance window may differ by ~1e-11 between the two kernels)
    assert_close(calc.calculate(x), full, x)
    value = calc.value
    want = full[-1]
    assert_close(np.array(value, dtype=np.float64), want, x)


def test_long_random_series_both_paths() -> None:
    """200k bars of a random walk with holes: the drift of running sums stays bounded."""
    rng = np.random.default_rng(7)
    x = 1000.0 + np.cumsum(rng.normal(size=200_000))
    x[rng.random(x.shape[0]) < 1e-4] = np.nan
    for name, (make, ref) in CASES.items():
        want = ref(x)
        assert_close(make().calculate(x), want, x), name
        assert_close(per_bar(make(), x), want, x), name


def test_updates_after_calculate_are_replayed_by_the_next_append() -> None:
    x = 100 + np.cumsum(np.random.default_rng(1).normal(size=500))
    for make, ref in CASES.values():
        calc = make()
        calc.calculate(x[:300])
        for v in x[300:350]:
            calc.update(v)
        got = calc.calculate(x)  # the 50 updated bars and 150 new ones, from the snapshot
        assert calc.calculation_counts == {"full": 1, "incremental": 1}
        assert_close(got, ref(x), x)
        # the same data again: nothing to do, and the state is the data's
        calc.update(12345.0)
        assert_close(calc.calculate(x), ref(x), x)
        assert_close(np.array(calc.value, dtype=np.float64), ref(x)[-1], x)


def test_changed_history_recomputes_fully() -> None:
    x = 100 + np.cumsum(np.random.default_rng(2).normal(size=5_000))
    calc = MovingAverageCalculator(20)
    calc.calculate(x)
    y = np.concatenate((x, [1.0, 2.0]))
    y[10] += 1e-9  # deep in the history, not in any window the tail touches
    got = calc.calculate(y)
    assert calc.calculation_counts == {"full": 2, "incremental": 0}
    assert_close(got, clean(y).rolling(20).mean().to_numpy(), y)
    calc.calculate(y[:-1])  # shorter: recompute
    assert calc.calculation_counts["full"] == 3


def test_returned_outputs_are_read_only_and_stay_valid_after_appends() -> None:
    x = np.arange(200, dtype=np.float64)
    calc = MovingAverageCalculator(3)
    first = calc.calculate(x[:100])
    kept = first.copy()
    with pytest.raises(ValueError):
        first[0] = 1.0
    calc.calculate(x)
    np.testing.assert_array_equal(first, kept)


# -- numerical stability -------------------------------------------------------------------


@pytest.mark.parametrize("level", [1e9, -1e9, 1e12])
def test_variance_is_stable_on_large_offsets(level: float) -> None:
    rng = np.random.default_rng(3)
    x = level + rng.normal(size=50_000)
    want = ref_var(x, 20, 1)
    for got in (
        RollingVarianceCalculator(20).calculate(x),
        per_bar(RollingVarianceCalculator(20), x),
    ):
        np.testing.assert_allclose(got, want, rtol=1e-9, equal_nan=True)
    # pandas' own Welford add/remove is far off here, which is why we do not use it
    pandas = pd.Series(x).rolling(20).var().to_numpy()
    assert np.nanmax(np.abs(pandas - want) / want) > 1e-7


def test_constant_windows_have_exactly_zero_spread() -> None:
    x = np.repeat([0.1, 1e9 + 0.3, -7.7], 50)
    for got in (RollingStdCalculator(10).calculate(x), per_bar(RollingStdCalculator(10), x)):
        flat = np.r_[9:50, 59:100, 109:150]
        assert (got[flat] == 0.0).all()
    bands = BollingerBandsCalculator(10).calculate(x)
    assert (bands[flat, 1] == bands[flat, 0]).all()


def test_a_spike_leaving_the_window_leaves_no_trace() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=400)
    x[100] = 1e15
    for make, ref in (
        (lambda: RollingStdCalculator(10), lambda v: np.sqrt(ref_var(v, 10, 1))),
        (lambda: MovingAverageCalculator(10), lambda v: clean(v).rolling(10).mean().to_numpy()),
    ):
        want = ref(x)
        for got in (make().calculate(x), per_bar(make(), x)):
            # exact again once the spike has left the window and a rebuild has happened
            np.testing.assert_allclose(got[130:], want[130:], rtol=1e-9, atol=1e-12)


# -- missing values and bad input --------------------------------------------------------


def test_nan_in_window_gives_nan_until_it_leaves_like_pandas() -> None:
    x = np.arange(1.0, 21.0)
    x[5] = np.nan
    x[12] = np.inf
    got = per_bar(MovingAverageCalculator(3), x)
    assert np.isnan(got[:2]).all()  # warm-up
    assert np.isnan(got[5:8]).all() and np.isnan(got[12:15]).all()
    assert got[8] == pytest.approx((x[6] + x[7] + x[8]) / 3)
    np.testing.assert_allclose(got, clean(x).rolling(3).mean().to_numpy(), equal_nan=True)


def test_none_is_a_missing_bar() -> None:
    calc = MovingAverageCalculator(2)
    assert math.isnan(calc.update(1.0))
    assert calc.update(3) == 2.0
    assert math.isnan(calc.update(None))
    assert math.isnan(calc.update(5.0))
    assert calc.update(np.float32(7.0)) == 6.0


@pytest.mark.parametrize("make", [v[0] for v in CASES.values()])
def test_empty_and_short_inputs(make: object) -> None:
    calc = make()  # type: ignore[operator]
    empty = calc.calculate([])
    assert empty.shape[0] == 0
    short = calc.calculate([1.0, 2.0])  # shorter than most windows: NaN warm-up
    assert short.shape[0] == 2


def test_window_larger_than_data_is_all_nan() -> None:
    for calc in (MovingAverageCalculator(50), RollingStdCalculator(50), RollingMaxCalculator(50)):
        assert np.isnan(calc.calculate(np.arange(49.0))).all()
        assert math.isnan(calc.value)


@pytest.mark.parametrize(
    "bad", ["1.5", b"1", True, np.bool_(False), object(), [1.0], complex(1, 1)]
)
def test_non_numeric_bars_are_rejected(bad: object) -> None:
    for make, _ in CASES.values():
        with pytest.raises(NonNumericInputError):
            make().update(bad)


@pytest.mark.parametrize(
    "bad",
    [
        ["a", "b"],
        np.array([True, False]),
        pd.Series(["1", "2"]),
        pd.date_range("2024", periods=3),
        "123",
        np.array([[1.0, 2.0]]),
        5.0,
    ],
)
def test_non_numeric_arrays_are_rejected(bad: object) -> None:
    with pytest.raises(AdmfPerfError):
        MovingAverageCalculator(2).calculate(bad)


def test_numeric_containers_are_accepted() -> None:
    want = np.array([np.nan, 1.5, 2.5])
    for values in ([1, 2, 3], np.array([1, 2, 3], dtype=np.int8), pd.Series([1.0, 2.0, 3.0])):
        np.testing.assert_array_equal(MovingAverageCalculator(2).calculate(values), want)
    nullable = pd.Series([1.0, None, 3.0], dtype="Float64")
    assert np.isnan(MovingAverageCalculator(1).calculate(nullable)[1])


@pytest.mark.parametrize(
    "make",
    [
        lambda: MovingAverageCalculator(0),
        lambda: MovingAverageCalculator(-3),
        lambda: MovingAverageCalculator(2.5),  # type: ignore[arg-type]
        lambda: MovingAverageCalculator(True),
        lambda: RollingStdCalculator(5, ddof=-1),
        lambda: RollingMaxCalculator(0),
        lambda: RSICalculator(0),
        lambda: BollingerBandsCalculator(20, num_std=-1),
        lambda: BollingerBandsCalculator(20, num_std=float("nan")),
        ExponentialMovingAverageCalculator,
        lambda: ExponentialMovingAverageCalculator(span=10, alpha=0.5),
        lambda: ExponentialMovingAverageCalculator(span=0.5),
        lambda: ExponentialMovingAverageCalculator(alpha=0.0),
        lambda: ExponentialMovingAverageCalculator(alpha=1.5),
        lambda: ExponentialMovingAverageCalculator(span=5, min_periods=-1),
    ],
)
def test_bad_constructor_arguments(make: object) -> None:
    with pytest.raises(ConfigurationError):
        make()  # type: ignore[operator]


def test_bands_shape_and_value() -> None:
    x = np.arange(30.0)
    calc = BollingerBandsCalculator(5, num_std=1.5)
    out = calc.calculate(x)
    assert out.shape == (30, 3)
    mid, up, lo = calc.value
    sd = np.std(x[-5:])
    assert (mid, up, lo) == pytest.approx(
        (x[-5:].mean(), x[-5:].mean() + 1.5 * sd, x[-5:].mean() - 1.5 * sd)
    )
    assert all(math.isnan(v) for v in BollingerBandsCalculator(5).value)


def test_rsi_edge_cases() -> None:
    up = np.arange(1.0, 40.0)
    assert RSICalculator(14).calculate(up)[-1] == 100.0  # no losses
    assert math.isnan(RSICalculator(14).calculate(np.full(40, 5.0))[-1])  # flat: 0/0
    got = RSICalculator(14).calculate(up)
    assert np.isnan(got[:14]).all() and not np.isnan(got[14])  # first value at bar `period`
