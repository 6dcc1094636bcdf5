"""Risk metrics of a return series, updated in O(1) per bar and memoized between bars.

Definitions (``r`` the per-period returns, ``rf`` the per-period risk-free rate,
``e = r - rf``, ``P = periods_per_year``):

- ``volatility = std(r, ddof=1) * sqrt(P)``
- ``sharpe = mean(e) / std(e, ddof=1) * sqrt(P)``
- ``sortino = mean(e) / sqrt(mean(min(0, e)^2)) * sqrt(P)``: the downside deviation is
  taken over *all* periods (periods above the target count as 0), target ``rf``
- equity ``= cumprod(1 + r)`` from 1.0, peak ``= max(1.0, running max of equity)``;
  ``drawdown = 1 - equity / peak`` now, ``max_drawdown`` its maximum (positive fractions)

A ratio with a zero denominator follows float division (``+-inf``, or NaN for 0/0);
fewer than two returns give NaN for the std-based metrics. The mean and variance are
kept with Welford's update per bar and merged with Chan et al.'s formula for arrays.
Returns must be finite: a NaN return raises :class:`InvalidInputError` (drop or fill
missing returns first).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from admf_perf.errors import ConfigurationError
from admf_perf.incremental._inputs import NAN, finite_float, to_float
from admf_perf.incremental._vector import EPS
from admf_perf.incremental.base import ArrayCalculator
from admf_perf.incremental.errors import InvalidInputError


class RiskMetrics(NamedTuple):
    """A snapshot of every metric (see the module doc for the definitions)."""

    periods: int
    sharpe: float
    sortino: float
    volatility: float
    max_drawdown: float
    drawdown: float
    total_return: float


def _ratio(num: float, den: float) -> float:
    if den != 0.0:
        return num / den
    if math.isnan(num) or num == 0.0:
        return NAN
    return math.inf if num > 0.0 else -math.inf


class CachingRiskCalculator(ArrayCalculator):
    """Sharpe, Sortino, volatility and drawdowns of returns fed per bar or as arrays."""

    def __init__(self, periods_per_year: float = 252, risk_free: float = 0.0) -> None:
        self._ppy = finite_float("periods_per_year", periods_per_year)
        if self._ppy <= 0.0:
            raise ConfigurationError(f"periods_per_year must be > 0, got {periods_per_year!r}")
        self._rf = finite_float("risk_free", risk_free)
        self._sqrt_ppy = math.sqrt(self._ppy)
        self._memo: dict[str, float] = {}
        super().__init__()

    def _config(self) -> dict[str, Any]:
        return {"periods_per_year": self._ppy, "risk_free": self._rf}

    @property
    def periods_per_year(self) -> float:
        return self._ppy

    @property
    def risk_free(self) -> float:
        return self._rf

    def _reset_kernel(self) -> None:
        self._n = 0
        self._mean = 0.0  # of excess returns
        self._m2 = 0.0
        self._down = 0.0  # sum of min(0, e)^2
        self._equity = 1.0
        self._peak = 1.0
        self._max_dd = 0.0
        self._memo = {}

    def update(self, value: object, timestamp: object = None) -> None:
        """Add one period's return (a fraction: 0.01 is +1 %)."""
        if timestamp is not None:
            self._advance_time(timestamp)
        r = value if value.__class__ is float else to_float(value)
        if r - r != 0.0:
            raise InvalidInputError(f"returns must be finite, got {r!r}")
        e = r - self._rf
        n = self._n + 1
        self._n = n
        d = e - self._mean
        mean = self._mean + d / n
        self._mean = mean
        self._m2 += d * (e - mean)
        if e < 0.0:
            self._down += e * e
        eq = self._equity * (1.0 + r)
        self._equity = eq
        if eq > self._peak:
            self._peak = eq
        else:
            dd = 1.0 - eq / self._peak
            if dd > self._max_dd:  # noqa: PLR1730 - cheaper than max() per bar
                self._max_dd = dd
        if self._memo:
            self._memo = {}

    def _consume(self, chunk: np.ndarray) -> None:
        nb = chunk.shape[0]
        e = chunk - self._rf if self._rf else chunk
        mb = float(e.mean())
        if mb - mb != 0.0:  # NaN/inf propagate into the mean: scan only then
            finite = np.isfinite(chunk)
            if not finite.all():
                i = int(np.argmin(finite))
                raise InvalidInputError(f"returns must be finite, got {chunk[i]!r} at position {i}")
        d = e - mb
        # einsum, not np.dot: BLAS threads stall badly when the machine is busy
        m2b = float(np.einsum("i,i->", d, d))
        if m2b <= (4.0 * EPS) ** 2 * nb * mb * mb and (e == e[0]).all():
            mb, m2b = float(e[0]), 0.0  # constant: numpy's mean may be an ulp off the value
        na = self._n
        n = na + nb
        if na:  # Chan et al.: merge the chunk's mean and m2 into the running ones
            delta = mb - self._mean
            self._mean += delta * nb / n
            self._m2 += m2b + delta * delta * na * nb / n
        else:
            self._mean, self._m2 = mb, m2b
        self._n = n
        np.minimum(e, 0.0, out=d)
        self._down += float(np.einsum("i,i->", d, d))
        # equity from the current level, bar by bar like update() (cumprod is sequential)
        path = np.empty(nb + 1)
        path[0] = self._equity
        np.add(chunk, 1.0, out=path[1:])
        np.multiply.accumulate(path, out=path)
        self._equity = float(path[-1])
        path[0] = self._peak
        peak = np.maximum.accumulate(path)
        self._peak = float(peak[-1])
        np.divide(path[1:], peak[1:], out=peak[1:])
        self._max_dd = max(self._max_dd, 1.0 - float(peak[1:].min()))
        self._memo = {}

    def _result(self) -> RiskMetrics:
        return self.metrics

    # -- metrics (memoized until the next update) --------------------------------------

    def _get(self, name: str) -> float:
        memo = self._memo
        v = memo.get(name)
        if v is None:
            v = memo[name] = self._compute(name)
        return v

    def _compute(self, name: str) -> float:
        n = self._n
        if name == "std":
            return math.sqrt(self._m2 / (n - 1)) if n > 1 else NAN
        if name == "volatility":
            return self._get("std") * self._sqrt_ppy
        if name == "sharpe":
            std = self._get("std")
            return _ratio(self._mean, std) * self._sqrt_ppy if not math.isnan(std) else NAN
        if name == "sortino":
            if not n:
                return NAN
            return _ratio(self._mean, math.sqrt(self._down / n)) * self._sqrt_ppy
        raise KeyError(name)

    @property
    def periods(self) -> int:
        """How many returns were seen."""
        return self._n

    @property
    def sharpe(self) -> float:
        """Annualized Sharpe ratio: mean excess return / sample std * sqrt(periods_per_year)."""
        return self._get("sharpe")

    @property
    def sortino(self) -> float:
        """Annualized Sortino ratio, downside deviation over all periods (see module doc)."""
        return self._get("sortino")

    @property
    def volatility(self) -> float:
        """Annualized volatility: sample std of returns * sqrt(periods_per_year)."""
        return self._get("volatility")

    @property
    def max_drawdown(self) -> float:
        """Largest drop from a running peak of compounded equity, as a positive fraction."""
        return self._max_dd

    @property
    def drawdown(self) -> float:
        """Current drop from the running peak, as a positive fraction (0 at a new high)."""
        return 1.0 - self._equity / self._peak

    @property
    def total_return(self) -> float:
        """Compounded return so far: ``prod(1 + r) - 1``."""
        return self._equity - 1.0

    @property
    def metrics(self) -> RiskMetrics:
        """All metrics at once."""
        return RiskMetrics(
            self._n,
            self.sharpe,
            self.sortino,
            self.volatility,
            self.max_drawdown,
            self.drawdown,
            self.total_return,
        )

    @property
    def value(self) -> RiskMetrics:
        """Same as :attr:`metrics`."""
        return self.metrics

    def calculate(self, values: object, timestamps: object = None) -> RiskMetrics:
        """Metrics for a whole array of returns; appends when it extends the last one."""
        result: RiskMetrics = super().calculate(values, timestamps)
        return result

    # -- state ------------------------------------------------------------------------

    def _kernel_state(self) -> dict[str, Any]:
        return {
            "n": self._n,
            "mean": self._mean,
            "m2": self._m2,
            "down": self._down,
            "equity": self._equity,
            "peak": self._peak,
            "max_drawdown": self._max_dd,
        }

    def _restore_kernel(self, state: dict[str, Any]) -> None:
        self._n = int(state["n"])
        self._mean = float(state["mean"])
        self._m2 = float(state["m2"])
        self._down = float(state["down"])
        self._equity = float(state["equity"])
        self._peak = float(state["peak"])
        self._max_dd = float(state["max_drawdown"])
        self._memo = {}
