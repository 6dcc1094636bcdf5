"""Rolling variance, standard deviation and Bollinger bands, numerically stable.

Per bar, the window is kept as *shifted sums*: ``s1 = sum(x - K)`` and ``s2 = sum((x - K)^2)``
with add/remove as values enter and leave, where the shift ``K`` is re-pinned to the
window mean whenever the sums are rebuilt from the buffer. Rounding errors are then
relative to the deviations, not to the level, so 1e9 + noise keeps ~1e-13 relative
accuracy (a textbook Welford add/remove, as pandas uses, updates a mean whose error is
relative to the level: ~1e-4 relative error on 1e9 + unit noise). The sums are rebuilt
exactly (O(window), amortized O(1)):

- every ``max(window, 1024)`` bars, so drift cannot accumulate;
- when a removed term dominated the sum of squares (a spike leaving the window);
- when cancellation threatens (``s2 > 1e4 * m2``): a drifting level or a flat window;
  constant windows then give exactly 0.

The vectorized path (``calculate``) uses the blocked shifted sums of ``_vector``.
Missing values (NaN, ±inf) follow pandas ``rolling(window, min_periods=window)``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from admf_perf.errors import ConfigurationError
from admf_perf.incremental._inputs import NAN, finite_float, to_float
from admf_perf.incremental._vector import rolling_moments
from admf_perf.incremental.windowed import WindowedCalculator

_CANCEL = 1e4  # rebuild when s2 exceeds m2 by this factor
_SPIKE = 1e3  # rebuild when a removed squared deviation exceeds the rest of s2 by this


class _MomentsCalculator(WindowedCalculator):
    """Shifted-sum kernel shared by variance, std and Bollinger bands."""

    _nan: ClassVar[Any] = NAN  # the output while warming up or missing

    def __init__(self, window: int, ddof: int) -> None:
        if isinstance(ddof, bool) or not isinstance(ddof, int) or ddof < 0:
            raise ConfigurationError(f"ddof must be an integer >= 0, got {ddof!r}")
        self._ddof = ddof
        super().__init__(window)
        self._dof = float(self._window - ddof)  # <= 0: every output is NaN
        self._rebuild_wraps = max(1, 1024 // self._window)

    @property
    def ddof(self) -> int:
        return self._ddof

    def _config(self) -> dict[str, Any]:
        return {"window": self._window, "ddof": self._ddof}

    def _reset_window_kernel(self) -> None:
        self._k = 0.0
        self._s1 = 0.0
        self._s2 = 0.0
        self._bad = self._window
        self._wraps = max(1, 1024 // self._window)  # wraps of the buffer until a rebuild

    def _window_state(self) -> dict[str, Any]:
        return {
            "k": self._k,
            "s1": self._s1,
            "s2": self._s2,
            "bad": self._bad,
            "wraps": self._wraps,
        }

    def _load_window_state(self, state: dict[str, Any]) -> None:
        self._k = float(state["k"])
        self._s1 = float(state["s1"])
        self._s2 = float(state["s2"])
        self._bad = int(state["bad"])
        self._wraps = int(state["wraps"])

    def _rebuild(self) -> tuple[float, float, float]:
        """Exact sums from the buffer, shifted by the current window mean."""
        vals = [v for v in self._buf if not math.isnan(v)]
        k = self._k
        s1 = s2 = 0.0
        if vals:
            lo, hi = min(vals), max(vals)
            if lo == hi:
                k = lo
            else:
                k = math.fsum(vals) / len(vals)
                for v in vals:
                    d = v - k
                    s1 += d
                    s2 += d * d
        self._k, self._s1, self._s2 = k, s1, s2
        self._wraps = self._rebuild_wraps
        return k, s1, s2

    def update(self, value: object, timestamp: object = None) -> Any:
        """Add one bar; returns the current output (NaN while warming up or missing)."""
        if timestamp is not None:
            self._advance_time(timestamp)
        x = value if value.__class__ is float else to_float(value)
        buf = self._buf
        pos = self._pos
        old = buf[pos]
        k = self._k
        s1 = self._s1
        s2 = self._s2
        bad = self._bad
        if x - x == 0.0:
            buf[pos] = x
            d = x - k
            s1 += d
            s2 += d * d
        else:
            buf[pos] = NAN
            bad += 1
        if old == old:  # noqa: PLR0124 - NaN check on the hot path
            d = old - k
            s1 -= d
            d *= d
            s2 -= d
            if d > _SPIKE * s2:
                k, s1, s2 = self._rebuild()
        else:
            bad -= 1
        pos += 1
        if pos == self._window:
            pos = 0
            self._full = True
            self._wraps -= 1
            if not self._wraps:
                k, s1, s2 = self._rebuild()
        self._pos = pos
        self._bad = bad
        if bad:
            self._k, self._s1, self._s2 = k, s1, s2
            v: Any = self._nan
        else:
            w = self._window
            m2 = s2 - s1 * s1 / w
            if s2 > _CANCEL * m2:
                k, s1, s2 = self._rebuild()
                m2 = s2 - s1 * s1 / w
                m2 = max(m2, 0.0)
            else:
                self._k, self._s1, self._s2 = k, s1, s2
            v = self._output(k + s1 / w, m2)
        self._value = v
        return v

    def _output(self, mean: float, m2: float) -> Any:
        dof = self._dof
        if dof <= 0.0:
            return NAN
        return m2 / dof

    def _vectorized(self, x: np.ndarray) -> np.ndarray:
        mean, m2 = rolling_moments(x, self._window)
        return self._outputs(mean, m2)

    def _outputs(self, mean: np.ndarray, m2: np.ndarray) -> np.ndarray:
        """Outputs from the vectorized moments (``m2`` is scratch and may be reused)."""
        if self._dof <= 0.0:
            m2.fill(np.nan)
        else:
            m2 /= self._dof
        return m2


class RollingVarianceCalculator(_MomentsCalculator):
    """Rolling variance over ``window`` bars with ``ddof`` (default 1, like pandas ``var()``)."""

    def __init__(self, window: int, ddof: int = 1) -> None:
        super().__init__(window, ddof)


class RollingStdCalculator(_MomentsCalculator):
    """Rolling standard deviation over ``window`` bars (``ddof=1``, like pandas ``std()``)."""

    def __init__(self, window: int, ddof: int = 1) -> None:
        super().__init__(window, ddof)

    def _output(self, mean: float, m2: float) -> Any:
        dof = self._dof
        if dof <= 0.0:
            return NAN
        return math.sqrt(m2 / dof)

    def _outputs(self, mean: np.ndarray, m2: np.ndarray) -> np.ndarray:
        return np.sqrt(super()._outputs(mean, m2), out=m2)


class BollingerBandsCalculator(_MomentsCalculator):
    """Bollinger bands: ``(middle, upper, lower)`` = SMA, SMA ± ``num_std`` * std.

    The standard deviation is the population one (``ddof=0``), as John Bollinger defines
    the bands (and talipp computes them); pass ``ddof=1`` for pandas' default ``std()``.
    ``calculate`` returns an array of shape (n, 3): columns middle, upper, lower.
    """

    output_shape = (3,)
    _nan = (NAN, NAN, NAN)

    def __init__(self, window: int = 20, num_std: float = 2.0, ddof: int = 0) -> None:
        self._num_std = finite_float("num_std", num_std, minimum=0.0)
        super().__init__(window, ddof)

    def _config(self) -> dict[str, Any]:
        return {"window": self._window, "num_std": self._num_std, "ddof": self._ddof}

    def _output(self, mean: float, m2: float) -> Any:
        dof = self._dof
        if dof <= 0.0:
            return (mean, NAN, NAN)
        band = self._num_std * math.sqrt(m2 / dof)
        return (mean, mean + band, mean - band)

    def _outputs(self, mean: np.ndarray, m2: np.ndarray) -> np.ndarray:
        band = self._num_std * np.sqrt(super()._outputs(mean, m2))
        return np.stack((mean, mean + band, mean - band), axis=1)
