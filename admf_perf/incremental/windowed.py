"""The ring buffer every fixed-window indicator shares (SMA, variance, Bollinger, min/max).

The buffer holds the last ``window`` values; ``update`` implementations write at
``_pos``, wrap it to 0 at ``window`` and then set ``_full``. Empty slots start as NaN and
count as missing, so "warming up" and "a missing value in the window" are the same condition.
A vectorized chunk is computed over the last ``window - 1`` values plus the chunk, and the
kernel is then rebuilt by replaying the last ``window`` values through ``update``. Saved
states carry the buffer and the derived sums exactly, so a restored calculator continues
bit for bit.
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
        value = self._value
        return {
            "buffer": list(self._buf),
            "pos": self._pos,
            "full": self._full,
            "value": list(value) if isinstance(value, tuple) else value,
            **self._window_state(),
        }

    def _restore_kernel(self, state: dict[str, Any]) -> None:
        buf = [float(v) for v in state["buffer"]]
        pos = int(state["pos"])
        if len(buf) != self._window or not 0 <= pos < self._window:
            raise ValueError(f"buffer of {len(buf)} values at {pos} for a window of {self._window}")
        self._reset_kernel()
        self._buf, self._pos, self._full = buf, pos, bool(state["full"])
        value = state["value"]
        self._value = tuple(float(v) for v in value) if self.output_shape else float(value)
        self._load_window_state(state)

    @abstractmethod
    def _window_state(self) -> dict[str, Any]:
        """The derived sums/deques as plain values (restored exactly, bit for bit)."""

    @abstractmethod
    def _load_window_state(self, state: dict[str, Any]) -> None:
        """Restore what ``_window_state`` returned."""

    def _replay(self, tail: list[float]) -> None:
        """Rebuild the kernel from the last values alone (after a vectorized chunk)."""
        self._reset_kernel()
        upd = self.update
        for v in tail:
            upd(v)

    def _batch(self, chunk: np.ndarray) -> np.ndarray:
        prefix = self.tail()[1:] if self._filled() == self._window else self.tail()
        x = np.concatenate((np.asarray(prefix, dtype=np.float64), chunk)) if prefix else chunk
        out = self._vectorized(x)[len(prefix) :]
        self._replay(x[-self._window :].tolist())
        self._value = _as_value(out[-1])
        return out


def _as_value(row: Any) -> Any:
    if np.ndim(row) == 0:
        return float(row)
    return tuple(float(v) for v in row)
