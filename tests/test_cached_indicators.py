"""Indicators shared through the cache: one computation per fleet, appends extend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from admf_perf import Cache
from admf_perf.incremental import (
    CachedIndicator,
    CachedMovingAverage,
    RSICalculator,
    cached_indicator,
    cached_signal,
)
from admf_perf.testing import unique_name


@pytest.fixture(params=["memory", "redis"])
def backend(request, redis_url):
    return "memory" if request.param == "memory" else redis_url


def bars(n, seed=1):
    index = pd.date_range("2024-01-02 09:30", periods=n, freq="min")
    prices = 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.001, n)))
    return pd.Series(prices, index=index, name="close")


def test_a_second_machine_gets_the_same_indicator_without_computing(backend):
    shared = Cache(unique_name(), max_size=10, backend=backend)
    data = bars(500)
    first = CachedMovingAverage(20, cache=shared)
    other = CachedMovingAverage(20, cache=shared)
    expected = data.rolling(20).mean()
    np.testing.assert_allclose(
        first.compute("AAPL", data).to_numpy(), expected.to_numpy(), rtol=1e-9
    )
    assert first.last_run == "full"
    result = other.compute("AAPL", data)
    assert other.last_run == "hit"
    np.testing.assert_allclose(result.to_numpy(), expected.to_numpy(), rtol=1e-9)
    assert result.index.equals(data.index)


def test_an_appended_bar_extends_the_cached_indicator(backend):
    indicator = CachedIndicator(unique_name("rsi"), RSICalculator, backend=backend, period=14)
    data = bars(300)
    indicator.compute("MSFT", data.iloc[:299])
    assert indicator.last_run == "full"
    fresh = CachedIndicator(indicator.name, RSICalculator, cache=indicator.cache, period=14)
    extended = fresh.compute("MSFT", data)
    assert fresh.last_run == "append"
    reference = RSICalculator(period=14).calculate(data.to_numpy())
    np.testing.assert_allclose(extended.to_numpy(), reference, rtol=1e-9, equal_nan=True)


def test_changed_history_recomputes(backend):
    indicator = CachedMovingAverage(5, backend=backend)
    indicator.cache.clear()
    data = bars(50)
    indicator.compute("SPY", data)
    fixed = data.copy()
    fixed.iloc[10] *= 1.01  # a data vendor correction deep in the history
    result = indicator.compute("SPY", fixed)
    assert indicator.last_run == "full"
    np.testing.assert_allclose(result.to_numpy(), fixed.rolling(5).mean().to_numpy(), rtol=1e-9)


def test_parameters_and_symbols_have_their_own_entries(backend):
    a = CachedMovingAverage(5, backend=backend)
    a.cache.clear()
    b = CachedMovingAverage(10, cache=a.cache)
    data = bars(40)
    a.compute("AAPL", data)
    a.compute("MSFT", data)
    b.compute("AAPL", data)
    assert len(a.cache) == 3
    assert a.cache.invalidate(pattern="AAPL:*") == 2


def test_cached_indicator_decorator_keys_on_symbol_params_time_and_content(backend):
    calls = []

    @cached_indicator(backend=backend, name=unique_name("ind"))
    def zscore(data, window, symbol=None):
        calls.append(window)
        return ((data - data.rolling(window).mean()) / data.rolling(window).std()).to_numpy()

    data = bars(100)
    first = zscore(data, 20, symbol="AAPL")
    np.testing.assert_array_equal(zscore(data.copy(), 20, symbol="AAPL"), first)
    assert calls == [20]
    zscore(data.iloc[:-1], 20, symbol="AAPL")  # another last timestamp
    zscore(data, 30, symbol="AAPL")  # other parameters
    assert calls == [20, 20, 30]
    keys = zscore.cache.store.list_keys()
    assert all(k.startswith("AAPL:") for k in keys)
    assert any("@2024-01-02T11.09.00" in k for k in keys)


def test_cached_signal_is_a_separate_family_of_caches(backend):
    @cached_signal(backend=backend)
    def crossover(data, fast, slow, symbol=None):
        return float(data.rolling(fast).mean().iloc[-1] > data.rolling(slow).mean().iloc[-1])

    assert crossover.cache.name.startswith("signal.")
    assert crossover(bars(60), 5, 20, symbol="SPY") in (0.0, 1.0)


def test_calculate_and_value_follow_the_calculator_shape(backend):
    indicator = CachedMovingAverage(3, backend=backend)
    indicator.cache.clear()
    out = indicator.calculate(np.arange(6.0))
    np.testing.assert_allclose(out, [np.nan, np.nan, 1, 2, 3, 4], equal_nan=True)
    assert indicator.value == 4.0
