"""Rolling minimum and maximum: a monotonic deque per bar, van Herk/Gil-Werman vectorized.

Per bar, the deque holds (index, value) pairs with values strictly decreasing (for the
max): each bar is pushed and popped at most once, so an update is O(1) amortized whatever
the window. Missing values (NaN, ±inf) follow pandas ``rolling(window,
min_periods=window)``: the output is NaN while one is in the window.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from admf_perf.incremental._inputs import NAN, to_float
from admf_perf.incremental._vector import rolling_extreme
from admf_perf.incremental.windowed import WindowedCalculator


class _ExtremeCalculator(WindowedCalculator):
    """The deque kernel's state and the vectorized path, shared by min and max."""

    _kind = "max"

    def _reset_window_kernel(self) -> None:
        self._dq: deque[tuple[int, float]] = deque()
        self._i = -1  # index of the last bar
        self._last_bad = -1  # index of the last missing bar; slots before 0 are missing

    def _window_state(self) -> dict[str, Any]:
        return {"deque": [[i, v] for i, v in self._dq], "i": self._i, "last_bad": self._last_bad}

    def _load_window_state(self, state: dict[str, Any]) -> None:
        self._dq = deque((int(i), float(v)) for i, v in state["deque"])
        self._i = int(state["i"])
        self._last_bad = int(state["last_bad"])

    def _vectorized(self, x: np.ndarray) -> np.ndarray:
        return rolling_extreme(x, self._window, self._kind)


class RollingMaxCalculator(_ExtremeCalculator):
    """Rolling maximum over ``window`` bars, like pandas ``rolling(window).max()``."""

    _kind = "max"

    def update(self, value: object, timestamp: object = None) -> float:
        """Add one bar; returns the rolling maximum (NaN while warming up or missing)."""
        if timestamp is not None:
            self._advance_time(timestamp)
        x = value if value.__class__ is float else to_float(value)
        i = self._i + 1
        self._i = i
        dq = self._dq
        buf = self._buf
        pos = self._pos
        if x - x == 0.0:
            while dq and dq[-1][1] <= x:
                dq.pop()
            dq.append((i, x))
            buf[pos] = x
        else:
            self._last_bad = i
            buf[pos] = NAN
        pos += 1
        if pos == self._window:
            pos = 0
            self._full = True
        self._pos = pos
        if dq and dq[0][0] <= i - self._window:
            dq.popleft()
        v = dq[0][1] if i - self._last_bad >= self._window else NAN
        self._value = v
        return v


class RollingMinCalculator(_ExtremeCalculator):
    """Rolling minimum over ``window`` bars, like pandas ``rolling(window).min()``."""

    _kind = "min"

    def update(self, value: object, timestamp: object = None) -> float:
        """Add one bar; returns the rolling minimum (NaN while warming up or missing)."""
        if timestamp is not None:
            self._advance_time(timestamp)
        x = value if value.__class__ is float else to_float(value)
        i = self._i + 1
        self._i = i
        dq = self._dq
        buf = self._buf
        pos = self._pos
        if x - x == 0.0:
            while dq and dq[-1][1] >= x:
                dq.pop()
            dq.append((i, x))
            buf[pos] = x
        else:
            self._last_bad = i
            buf[pos] = NAN
        pos += 1
        if pos == self._window:
            pos = 0
            self._full = True
        self._pos = pos
        if dq and dq[0][0] <= i - self._window:
            dq.popleft()
        v = dq[0][1] if i - self._last_bad >= self._window else NAN
        self._value = v
        return v
