"""Incremental calculator benchmarks, each against its anchor in the same run:

- per-update cost of SMA(20), EMA(20), rolling std(20): ours vs talipp (anchor), a
  hand-written pure-Python kernel, and recomputing pandas over the last 200 bars per bar
  (goal: <= 0.5x talipp per update);
- running max drawdown per update: CachingRiskCalculator.update (which also keeps the
  Sharpe/Sortino sums) vs a hand-written running-peak loop (anchor);
- vectorized ``calculate`` on 1,000,000 bars vs pandas rolling/ewm (anchor; goal <= 1.5x),
  and max drawdown vs numpy cumprod/maximum.accumulate (anchor);
- appending 1 bar to a 1,000,000-bar history and calling ``calculate`` on all of it
  (digest check + tail) vs pandas recomputing the whole series.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import numpy as np
import pandas as pd
from talipp.indicators import EMA, SMA, StdDev

from admf_perf.incremental import (
    CachingRiskCalculator,
    ExponentialMovingAverageCalculator,
    MovingAverageCalculator,
    RollingMaxCalculator,
    RollingStdCalculator,
)
from benchmarks.harness import Suite

WINDOW = 20
LAST_N = 200  # bars the "recompute pandas per update" case looks at


def prices(n: int, seed: int = 42) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 + np.cumsum(rng.normal(0.0, 0.5, n))


class HandSMA:
    """The simplest correct-enough running sum: a deque and a float."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.buf: deque[float] = deque()
        self.total = 0.0

    def update(self, x: float) -> float:
        buf = self.buf
        buf.append(x)
        self.total += x
        if len(buf) > self.window:
            self.total -= buf.popleft()
        return self.total / self.window if len(buf) == self.window else math.nan


class HandEMA:
    def __init__(self, span: int) -> None:
        self.alpha = 2.0 / (span + 1.0)
        self.value = math.nan

    def update(self, x: float) -> float:
        v = self.value
        self.value = x if v != v else v + self.alpha * (x - v)  # noqa: PLR0124
        return self.value


class HandStd:
    """Naive sum / sum-of-squares (fast, and numerically unstable on large offsets)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.buf: deque[float] = deque()
        self.s1 = 0.0
        self.s2 = 0.0

    def update(self, x: float) -> float:
        buf = self.buf
        buf.append(x)
        self.s1 += x
        self.s2 += x * x
        n = self.window
        if len(buf) > n:
            old = buf.popleft()
            self.s1 -= old
            self.s2 -= old * old
        if len(buf) < n:
            return math.nan
        return math.sqrt(max(self.s2 - self.s1 * self.s1 / n, 0.0) / (n - 1))


def _feed(make: Callable[[], object], method: str, values: list[float]) -> Callable[[], None]:
    def run() -> None:
        fn = getattr(make(), method)
        for v in values:
            fn(v)

    return run


def _pandas_last_n(values: np.ndarray, op: Callable[[pd.Series], pd.Series]) -> Callable[[], None]:
    def run() -> None:
        for i in range(LAST_N, values.shape[0]):
            op(pd.Series(values[i - LAST_N : i]))

    return run


def _update_suite(name: str, n: int, cases: dict[str, Callable[[], object]]) -> Suite:
    x = prices(n)
    values = x.tolist()
    anchor = next(iter(cases))
    suite = Suite(f"incremental_{name}_update", anchor=anchor)
    for case, make in cases.items():
        method = "add" if case.startswith("talipp") else "update"
        goal = "<= 0.5" if case.startswith("admf") else ""
        suite.add(case, _feed(make, method, values), ops=n, goal=goal)
    return suite


def _with_pandas(suite: Suite, n: int, op: Callable[[pd.Series], pd.Series]) -> Suite:
    few = prices(LAST_N + n // 50)
    suite.add(f"pandas recompute last {LAST_N} bars", _pandas_last_n(few, op), ops=n // 50)
    return suite


def _vector_suite(name: str, n: int, anchor: str, cases: dict[str, Callable[[], object]]) -> Suite:
    suite = Suite(f"incremental_{name}_vectorized", anchor=anchor, repeat=7)
    for case, fn in cases.items():
        suite.add(case, fn, goal="<= 1.5" if case.startswith("admf") else "")
    suite.notes.append(f"{n:,} bars per call; ours includes input checks and the xxh3 digest")
    if name == "drawdown":
        suite.notes.append("ours computes every risk metric in the call, not only the drawdown")
    return suite


def _append_suite(n: int, appends: int) -> Suite:
    x = prices(n + 8 * appends + 1)  # room for the warm-up and 7 repeats
    calc = MovingAverageCalculator(WINDOW)
    calc.calculate(x[:n])
    end = [n]

    def append_and_calculate() -> None:
        for _ in range(appends):
            end[0] += 1
            calc.calculate(x[: end[0]])

    def pandas_recompute() -> None:
        for _ in range(appends):
            pd.Series(x[:n]).rolling(WINDOW).mean().to_numpy()

    suite = Suite("incremental_sma_append", anchor="pandas rolling(20).mean() on all bars")
    suite.add("pandas rolling(20).mean() on all bars", pandas_recompute, ops=appends)
    suite.add("admf calculate(all bars), 1 bar appended", append_and_calculate, ops=appends)
    suite.notes.append(f"history of {n:,} bars; the append path hashes the prefix (xxh3)")
    return suite


def _drawdown_update_suite(n: int) -> Suite:
    rng = np.random.default_rng(7)
    returns = rng.normal(0.0003, 0.01, n).tolist()

    def hand() -> None:
        equity = peak = 1.0
        max_dd = 0.0
        for r in returns:
            equity *= 1.0 + r
            if equity > peak:
                peak = equity
            else:
                max_dd = max(max_dd, 1.0 - equity / peak)

    suite = Suite("incremental_drawdown_update", anchor="hand-written running peak loop")
    suite.add("hand-written running peak loop", hand, ops=n)
    suite.add(
        "admf CachingRiskCalculator.update", _feed(CachingRiskCalculator, "update", returns), ops=n
    )
    suite.notes.append("ours also keeps the Welford mean/variance and downside sums per bar")
    return suite


def build(quick: bool) -> list[Suite]:
    n_upd = 20_000 if quick else 100_000
    n_vec = 100_000 if quick else 1_000_000
    big = prices(n_vec, seed=1)
    series = pd.Series(big)
    rng = np.random.default_rng(3)
    rets = rng.normal(0.0003, 0.01, n_vec)

    def numpy_drawdown() -> float:
        equity = np.cumprod(1.0 + rets)
        peak = np.maximum(np.maximum.accumulate(equity), 1.0)
        return float((1.0 - equity / peak).max())

    def numpy_all_metrics() -> tuple[float, ...]:
        std = rets.std(ddof=1)
        mean = rets.mean()
        downside = math.sqrt(np.mean(np.minimum(rets, 0.0) ** 2))
        return (mean / std, mean / downside, std, numpy_drawdown())

    return [
        _with_pandas(
            _update_suite(
                "sma",
                n_upd,
                {
                    "talipp SMA(20).add": lambda: SMA(WINDOW),
                    "admf MovingAverageCalculator.update": lambda: MovingAverageCalculator(WINDOW),
                    "hand-written deque running sum": lambda: HandSMA(WINDOW),
                },
            ),
            n_upd,
            lambda s: s.rolling(WINDOW).mean(),
        ),
        _update_suite(
            "ema",
            n_upd,
            {
                "talipp EMA(20).add": lambda: EMA(WINDOW),
                "admf ExponentialMovingAverageCalculator.update": lambda: (
                    ExponentialMovingAverageCalculator(span=WINDOW)
                ),
                "hand-written recursion": lambda: HandEMA(WINDOW),
            },
        ),
        _with_pandas(
            _update_suite(
                "std",
                n_upd,
                {
                    "talipp StdDev(20).add": lambda: StdDev(WINDOW),
                    "admf RollingStdCalculator.update": lambda: RollingStdCalculator(WINDOW),
                    "hand-written naive sums (unstable)": lambda: HandStd(WINDOW),
                },
            ),
            n_upd,
            lambda s: s.rolling(WINDOW).std(),
        ),
        _drawdown_update_suite(n_upd),
        _vector_suite(
            "sma",
            n_vec,
            "pandas rolling(20).mean()",
            {
                "pandas rolling(20).mean()": lambda: series.rolling(WINDOW).mean().to_numpy(),
                "admf MovingAverageCalculator.calculate": lambda: MovingAverageCalculator(
                    WINDOW
                ).calculate(big),
            },
        ),
        _vector_suite(
            "ema",
            n_vec,
            "pandas ewm(span=20, adjust=False).mean()",
            {
                "pandas ewm(span=20, adjust=False).mean()": lambda: (
                    series.ewm(span=WINDOW, adjust=False).mean().to_numpy()
                ),
                "admf ExponentialMovingAverageCalculator.calculate": lambda: (
                    ExponentialMovingAverageCalculator(span=WINDOW).calculate(big)
                ),
            },
        ),
        _vector_suite(
            "std",
            n_vec,
            "pandas rolling(20).std()",
            {
                "pandas rolling(20).std()": lambda: series.rolling(WINDOW).std().to_numpy(),
                "admf RollingStdCalculator.calculate": lambda: RollingStdCalculator(
                    WINDOW
                ).calculate(big),
            },
        ),
        _vector_suite(
            "max",
            n_vec,
            "pandas rolling(20).max()",
            {
                "pandas rolling(20).max()": lambda: series.rolling(WINDOW).max().to_numpy(),
                "admf RollingMaxCalculator.calculate": lambda: RollingMaxCalculator(
                    WINDOW
                ).calculate(big),
            },
        ),
        _vector_suite(
            "drawdown",
            n_vec,
            "numpy cumprod + maximum.accumulate",
            {
                "numpy cumprod + maximum.accumulate": numpy_drawdown,
                "admf CachingRiskCalculator.calculate": lambda: CachingRiskCalculator().calculate(
                    rets
                ),
                "numpy drawdown + Sharpe, Sortino, volatility": numpy_all_metrics,
            },
        ),
        _append_suite(n_vec, 100),
    ]
