"""The ring buffer every fixed-window indicator shares (SMA, variance, Bollinger, min/max).

The buffer holds the last ``window`` values; ``update`` implementations write at
``_pos``, wrap it to 0 at ``window`` and then set ``_full``. Empty slots start as NaN and
count as missing, so "warming up" and "a missing value in the window" are the same condition.
The kernel state is just those values in order: restoring replays them through
``update``, and a vectorized tail is computed over them plus the new chunk.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from admf_perf.incremental._inputs import NAN, positive_int
from admf_perf.incremental.base import SeriesCalculator, nan_value


class WindowedCalculator(SeriesCalculator):
    """A series indicator over the last ``window`` bars (pandas ``min_periods=window``)."""

    def __init__(self, window: int) -> None:
        self._window = positive_int("window", window)
        super().__init__()

    @property
    def window(self) -> int:
        return self._window

    def _config(self) -> dict[str, Any]:
        return {"window": self._window}

    def _reset_kernel(self) -> None:
        self._buf = [NAN] * self._window
        self._pos = 0
        self._full = False  # set by update() when the write position first wraps
        self._value: Any = nan_value(self.output_shape)
        self._reset_window_kernel()

    @abstractmethod
    def _reset_window_kernel(self) -> None:
        """Reset the derived sums/deques (the buffer itself is already empty)."""

    @abstractmethod
    def _vectorized(self, x: np.ndarray) -> np.ndarray:
        """Outputs for a whole array from an empty kernel (NaN for the first window - 1)."""

    @property
    def value(self) -> Any:
        """The latest output (NaN, or a tuple of NaNs, until ``window`` bars are seen)."""
        return self._value

    def tail(self) -> list[float]:
        """The last ``min(window, bars seen)`` values, oldest first (missing as NaN)."""
        buf, pos = self._buf, self._pos
        ordered = buf[pos:] + buf[:pos]
        return ordered[self._window - self._filled() :]

    def _filled(self) -> int:
        # update() does not count bars (it is the hot path): before the first wrap of the
        # write position, the filled slots are exactly those before it
        return self._window if self._full else self._pos

    def _kernel_state(self) -> dict[str, Any]:
        return {"tail": self.tail()}

    def _restore_kernel(self, state: dict[str, Any]) -> None:
        tail = [float(v) for v in state["tail"]]
        if len(tail) > self._window:
            raise ValueError(f"tail of {len(tail)} values for a window of {self._window}")
        self._reset_kernel()
        upd = self.update
        for v in tail:
            upd(v)

    def _batch(self, chunk: np.ndarray) -> np.ndarray:
        prefix = self.tail()[1:] if self._filled() == self._window else self.tail()
        x = np.concatenate((np.asarray(prefix, dtype=np.float64), chunk)) if prefix else chunk
        out = self._vectorized(x)[len(prefix) :]
        self._restore_kernel({"tail": x[-self._window :].tolist()})
        self._value = _as_value(out[-1])
        return out


def _as_value(row: Any) -> Any:
    if np.ndim(row) == 0:
        return float(row)
    return tuple(float(v) for v in row)
