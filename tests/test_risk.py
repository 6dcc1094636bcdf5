"""CachingRiskCalculator against numpy reference computations on the same returns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admf_perf.errors import ConfigurationError
from admf_perf.incremental import CachingRiskCalculator, InvalidInputError, RiskMetrics

PROPERTY = settings(max_examples=150, deadline=None)


def reference(r: np.ndarray, rf: float, ppy: float) -> dict[str, float]:
    """The definitions of the module doc, written the obvious numpy way."""
    e = r - rf
    root = math.sqrt(ppy)
    with np.errstate(divide="ignore", invalid="ignore"):
        std = e.std(ddof=1) if r.size > 1 else np.nan
        if r.size > 1 and np.ptp(e) == 0:
            std = 0.0  # numpy's mean of equal values can be off by an ulp; the truth is 0
        sharpe = np.float64(e.mean()) / np.float64(std) * root if r.size > 1 else np.nan
        downside = math.sqrt(np.mean(np.minimum(e, 0.0) ** 2)) if r.size else np.nan
        sortino = np.float64(e.mean()) / np.float64(downside) * root if r.size else np.nan
    equity = np.cumprod(1 + r)
    peak = np.maximum(1.0, np.maximum.accumulate(equity))
    dd = 1 - equity / peak
    return {
        "periods": r.size,
        "sharpe": float(sharpe),
        "sortino": float(sortino),
        "volatility": float(std * root),
        "max_drawdown": float(max(0.0, dd.max())) if r.size else 0.0,
        "drawdown": float(dd[-1]) if r.size else 0.0,
        "total_return": float(equity[-1] - 1) if r.size else 0.0,
    }


def check(metrics: RiskMetrics, want: dict[str, float]) -> None:
    got = metrics._asdict()
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert value == pytest.approx(got[key], rel=1e-9, abs=1e-12, nan_ok=True), key


@st.composite
def returns(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(0, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mu = draw(st.sampled_from([-0.01, -0.001, 0.0, 0.0005, 0.01]))
    sigma = draw(st.sampled_from([0.0, 1e-4, 0.01, 0.1]))
    r = np.clip(rng.normal(mu, sigma, n), -0.95, None)
    if draw(st.booleans()):
        r = np.round(r, 3)  # ties, zeros
    return r


@PROPERTY
@given(
    r=returns(), rf=st.sampled_from([0.0, 0.0001, -0.0002]), ppy=st.sampled_from([252, 12, 52.0])
)
def test_per_bar_and_vectorized_match_numpy(r: np.ndarray, rf: float, ppy: float) -> None:
    want = reference(r, rf, ppy)
    streaming = CachingRiskCalculator(periods_per_year=ppy, risk_free=rf)
    for v in r:
        streaming.update(v)
    check(streaming.metrics, want)
    check(CachingRiskCalculator(ppy, rf).calculate(r), want)


@PROPERTY
@given(r=returns(), data=st.data())
def test_append_matches_full(r: np.ndarray, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, r.size), max_size=3)))
    calc = CachingRiskCalculator()
    for cut in [*cuts, r.size]:
        got = calc.calculate(r[:cut])
    assert calc.calculation_counts == {"full": 1, "incremental": len(cuts)}
    check(got, reference(r, 0.0, 252))


def test_hand_checked_drawdowns() -> None:
    calc = CachingRiskCalculator()
    for r in (0.10, -0.20, 0.05, 0.30, -0.10):
        calc.update(r)
    # equity 1.1, 0.88, 0.924, 1.2012, 1.08108; peaks 1.1, 1.1, 1.1, 1.2012, 1.2012
    assert calc.max_drawdown == pytest.approx(0.2)
    assert calc.drawdown == pytest.approx(0.1)
    assert calc.total_return == pytest.approx(0.08108)
    fresh = CachingRiskCalculator()
    fresh.update(-0.05)  # below the starting peak of 1.0
    assert fresh.drawdown == pytest.approx(0.05) and fresh.max_drawdown == pytest.approx(0.05)


def test_degenerate_series() -> None:
    empty = CachingRiskCalculator()
    assert empty.periods == 0 and math.isnan(empty.sharpe) and math.isnan(empty.sortino)
    assert empty.max_drawdown == 0.0 and empty.drawdown == 0.0
    one = CachingRiskCalculator()
    one.update(0.01)
    assert math.isnan(one.volatility) and math.isnan(one.sharpe)
    flat = CachingRiskCalculator()
    flat.calculate([0.01] * 10)
    assert flat.volatility == 0.0
    assert flat.sharpe == math.inf  # positive mean, zero std
    assert flat.sortino == math.inf  # no downside
    zero = CachingRiskCalculator()
    zero.calculate([0.0] * 5)
    assert math.isnan(zero.sharpe) and math.isnan(zero.sortino)  # 0 / 0


def test_metrics_are_memoized_until_the_next_update(monkeypatch: pytest.MonkeyPatch) -> None:
    calc = CachingRiskCalculator()
    for r in np.random.default_rng(0).normal(0, 0.01, 100):
        calc.update(r)
    computed: list[str] = []
    original = calc._compute

    def spy(name: str) -> float:
        computed.append(name)
        return original(name)

    monkeypatch.setattr(calc, "_compute", spy)
    first = calc.sharpe, calc.volatility, calc.sortino
    assert (calc.sharpe, calc.volatility, calc.sortino) == first
    assert sorted(computed) == ["sharpe", "sortino", "std", "volatility"]
    calc.update(0.02)
    assert calc.sharpe != first[0]
    assert computed.count("sharpe") == 2
    computed.clear()
    calc.calculate([0.01, 0.02, -0.01])  # returns the metrics: computed once, then memoized
    assert calc.sharpe == calc.metrics.sharpe
    assert computed.count("sharpe") == 1


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -math.inf])
def test_non_finite_returns_are_rejected(bad: float) -> None:
    calc = CachingRiskCalculator()
    calc.update(0.01)
    with pytest.raises(InvalidInputError):
        calc.update(bad)
    assert calc.periods == 1  # unchanged
    with pytest.raises(InvalidInputError, match="position 2"):
        CachingRiskCalculator().calculate([0.01, 0.02, bad])
    # a failed calculate leaves nothing half-done behind: the next one is right
    seen = CachingRiskCalculator()
    seen.calculate([0.01, 0.02])
    with pytest.raises(InvalidInputError):
        seen.calculate([0.5, bad])  # changed history: full run, fails midway
    good = np.array([0.01, 0.02, -0.03])
    check(seen.calculate(good), reference(good, 0.0, 252))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"periods_per_year": 0},
        {"periods_per_year": -5},
        {"risk_free": math.nan},
        {"periods_per_year": "x"},
    ],
)
def test_bad_configuration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        CachingRiskCalculator(**kwargs)  # type: ignore[arg-type]
