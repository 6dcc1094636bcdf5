"""Moving averages: simple (``MovingAverageCalculator``) and exponential.

Both match pandas on the same data: ``rolling(window, min_periods=window).mean()`` and
``ewm(com=..., adjust=False).mean()``. The per-bar paths use Python floats only (no numpy
scalars, few attribute lookups); ``calculate`` paths are vectorized.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from admf_perf.errors import ConfigurationError
from admf_perf.incremental._inputs import NAN, finite_float, to_float
from admf_perf.incremental._vector import EwmState, rolling_mean
from admf_perf.incremental.base import SeriesCalculator
from admf_perf.incremental.windowed import WindowedCalculator


class MovingAverageCalculator(WindowedCalculator):
    """Simple moving average over ``window`` bars, like pandas ``rolling(window).mean()``.

    NaN until ``window`` bars are seen; a missing value (NaN or ±inf, as pandas treats
    them) makes the output NaN until it leaves the window. The per-bar running sum is
    recomputed from the buffer every ``window`` bars, so rounding error never builds up:
    the absolute error stays near ``window * eps * max|x|`` over the last two windows.
    """

    def _reset_window_kernel(self) -> None:
        self._sum = 0.0
        self._bad = self._window  # missing values in the buffer (empty slots included)

    def _window_state(self) -> dict[str, Any]:
        return {"sum": self._sum, "bad": self._bad}

    def _load_window_state(self, state: dict[str, Any]) -> None:
        self._sum = float(state["sum"])
        self._bad = int(state["bad"])

    def update(self, value: object, timestamp: object = None) -> float:
        """Add one bar; returns the moving average (NaN while warming up or missing)."""
        if timestamp is not None:
            self._advance_time(timestamp)
        x = value if value.__class__ is float else to_float(value)
        buf = self._buf
        pos = self._pos
        old = buf[pos]
        s = self._sum
        if x - x == 0.0:  # finite
            buf[pos] = x
            s += x
        else:
            buf[pos] = NAN
            self._bad += 1
        if old == old:  # noqa: PLR0124 - NaN check on the hot path
            s -= old
        else:
            self._bad -= 1
        pos += 1
        w = self._window
        if pos == w:
            pos = 0
            self._full = True
            s = sum(buf) if not self._bad else sum(v for v in buf if not math.isnan(v))
        self._pos = pos
        self._sum = s
        if self._bad:
            return NAN
        return s / w

    @property
    def value(self) -> float:
        """The latest moving average (NaN while warming up or missing)."""
        return NAN if self._bad else self._sum / self._window

    def _vectorized(self, x: np.ndarray) -> np.ndarray:
        return rolling_mean(x, self._window)


class ExponentialMovingAverageCalculator(SeriesCalculator):
    """Exponential moving average, exactly pandas ``ewm(..., adjust=False).mean()``.

    Give ``span`` (alpha = 2 / (span + 1)) or ``alpha`` (0 < alpha <= 1). The recursion is
    ``y[0] = x[0]``, ``y[t] = (1 - alpha) * y[t-1] + alpha * x[t]``, with pandas' handling
    of missing bars (NaN or ±inf, ``ignore_na=False``): the output carries the last value,
    and the next observation is weighted against a past discounted by the gap. Like pandas,
    alpha is derived through the centre of mass (``com = (span - 1) / 2``, alpha =
    ``1 / (1 + com)``), so results agree to the last bit. Output is NaN before the first
    observation and until ``min_periods`` observations (default 0, pandas' default).
    """

    def __init__(
        self, span: float | None = None, alpha: float | None = None, min_periods: int = 0
    ) -> None:
        if (span is None) == (alpha is None):
            raise ConfigurationError("give exactly one of span and alpha")
        if span is not None:
            self._span: float | None = finite_float("span", span, minimum=1.0)
            self._alpha_arg: float | None = None
            com = (self._span - 1.0) / 2.0
        else:
            a = finite_float("alpha", alpha)
            if not 0.0 < a <= 1.0:
                raise ConfigurationError(f"alpha must be in (0, 1], got {alpha!r}")
            self._span, self._alpha_arg = None, a
            com = 1.0 / a - 1.0
        if isinstance(min_periods, bool) or not isinstance(min_periods, int) or min_periods < 0:
            raise ConfigurationError(f"min_periods must be an integer >= 0, got {min_periods!r}")
        self._min_periods = min_periods
        self._ewm = EwmState(com)
        self._a = self._ewm.weight
        self._f = self._ewm.factor
        self._denom = self._f + self._a  # pandas divides by old_wt + new_wt (old_wt = f)
        super().__init__()

    @property
    def alpha(self) -> float:
        """The smoothing factor actually used (derived from the centre of mass, like pandas)."""
        return self._a

    def _config(self) -> dict[str, Any]:
        return {"span": self._span, "alpha": self._alpha_arg, "min_periods": self._min_periods}

    def _reset_kernel(self) -> None:
        self._w = NAN
        self._old_wt = 1.0
        self._nobs = 0
        self._cold = self._min_periods > 0

    @property
    def value(self) -> float:
        """The latest EMA (NaN before the first observation or ``min_periods``)."""
        return NAN if self._cold else self._w

    def update(self, value: object, timestamp: object = None) -> float:
        """Add one bar; returns the EMA (the last value again for a missing bar)."""
        if timestamp is not None:
            self._advance_time(timestamp)
        x = value if value.__class__ is float else to_float(value)
        w = self._w
        if x - x == 0.0:  # an observation
            if w != w:  # noqa: PLR0124
                w = x
            elif self._old_wt == 1.0:
                if w != x:
                    w = (self._f * w + self._a * x) / self._denom
            else:  # first observation after a gap: the past is discounted further
                ow = self._old_wt * self._f
                if w != x:
                    w = (ow * w + self._a * x) / (ow + self._a)
                self._old_wt = 1.0
            self._w = w
            if self._cold:
                self._nobs += 1
                self._cold = self._nobs < self._min_periods
        elif w == w:  # noqa: PLR0124
            self._old_wt *= self._f
        return NAN if self._cold else w

    def _sync(self) -> None:
        e = self._ewm
        e.weighted, e.old_wt, e.nobs = self._w, self._old_wt, self._nobs

    def _batch(self, chunk: np.ndarray) -> np.ndarray:
        e = self._ewm
        self._sync()
        nobs = e.observations(chunk) if self._cold else None
        out = e.batch(chunk)
        if nobs is not None:
            out = np.where(nobs < self._min_periods, np.nan, out)
        self._w, self._old_wt = e.weighted, e.old_wt
        self._nobs = min(e.nobs, self._min_periods)
        self._cold = self._nobs < self._min_periods
        return out

    def _kernel_state(self) -> dict[str, Any]:
        return {"weighted": self._w, "old_wt": self._old_wt, "nobs": self._nobs}

    def _restore_kernel(self, state: dict[str, Any]) -> None:
        self._w = float(state["weighted"])
        self._old_wt = float(state["old_wt"])
        self._nobs = int(state["nobs"])
        self._cold = self._nobs < self._min_periods
