"""Relative Strength Index with Wilder smoothing.

Reference (what the tests compare against, to the last bits)::

    close = close.replace([np.inf, -np.inf], np.nan)
    delta = close.diff()
    gain, loss = delta.clip(lower=0), -delta.clip(upper=0)
    avg_gain = gain.ewm(alpha=1 / period, adjust=False, min_periods=period).mean()
    avg_loss = loss.ewm(alpha=1 / period, adjust=False, min_periods=period).mean()
    rsi = 100 - 100 / (1 + avg_gain / avg_loss)

Wilder's smoothing is an EMA with alpha = 1 / period. This version starts the averages
at the first change instead of Wilder's simple average of the first ``period`` changes;
the two converge within a few times ``period`` bars. The first RSI is at bar ``period``
(counting from 0). ``avg_loss == 0`` gives 100 (or NaN when ``avg_gain`` is 0 too, a flat
series). Missing prices (NaN, ±inf) make the changes next to them missing; the averages
carry over and discount the gap as pandas ``ewm`` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from admf_perf.incremental._inputs import NAN, positive_int, to_float
from admf_perf.incremental._vector import EwmState
from admf_perf.incremental.base import SeriesCalculator


class RSICalculator(SeriesCalculator):
    """Wilder's RSI over ``period`` bars (default 14); see the module doc for the reference."""

    def __init__(self, period: int = 14) -> None:
        self._period = positive_int("period", period)
        self._gain = EwmState(float(self._period) - 1.0)  # com = 1/alpha - 1
        self._loss = EwmState(float(self._period) - 1.0)
        super().__init__()

    @property
    def period(self) -> int:
        return self._period

    def _config(self) -> dict[str, Any]:
        return {"period": self._period}

    def _reset_kernel(self) -> None:
        self._prev = NAN
        self._gain = EwmState(self._gain.com)
        self._loss = EwmState(self._loss.com)
        self._value = NAN

    @property
    def value(self) -> float:
        """The latest RSI (NaN until ``period`` changes are seen)."""
        return self._value

    def update(self, value: object, timestamp: object = None) -> float:
        """Add one price; returns the RSI."""
        if timestamp is not None:
            self._advance_time(timestamp)
        x = value if value.__class__ is float else to_float(value)
        if x - x != 0.0:
            x = NAN
        delta = x - self._prev
        self._prev = x
        if delta == delta:  # noqa: PLR0124
            g = self._gain.step(delta if delta > 0.0 else 0.0)
            lo = self._loss.step(-delta if delta < 0.0 else 0.0)
        else:
            g = self._gain.step(NAN)
            lo = self._loss.step(NAN)
        if self._gain.nobs < self._period:
            v = NAN
        elif lo != 0.0:
            v = 100.0 - 100.0 / (1.0 + g / lo)
        else:
            v = 100.0 if g > 0.0 else NAN
        self._value = v
        return v

    def _batch(self, chunk: np.ndarray) -> np.ndarray:
        prices = np.where(np.isfinite(chunk), chunk, np.nan)
        delta = np.diff(prices, prepend=self._prev)
        gains = np.maximum(delta, 0.0)  # NaN stays NaN
        losses = np.maximum(-delta, 0.0)
        nobs = self._gain.observations(gains)
        g = self._gain.batch(gains)
        lo = self._loss.batch(losses)
        with np.errstate(divide="ignore", invalid="ignore"):
            rsi = 100.0 - 100.0 / (1.0 + g / lo)
        rsi[nobs < self._period] = np.nan
        self._prev = float(prices[-1])
        self._value = float(rsi[-1])
        return rsi

    def _kernel_state(self) -> dict[str, Any]:
        return {
            "prev": self._prev,
            "gain": self._gain.to_dict(),
            "loss": self._loss.to_dict(),
            "value": self._value,
        }

    def _restore_kernel(self, state: dict[str, Any]) -> None:
        self._reset_kernel()
        self._prev = float(state["prev"])
        self._gain.load(state["gain"])
        self._loss.load(state["loss"])
        self._value = float(state["value"])
