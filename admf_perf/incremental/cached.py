"""Indicators and signals shared through the cache, so that machines asking for the same
indicator over the same bars compute it once, and an appended bar extends a cached
indicator instead of recomputing it.

- ``CachedIndicator`` keeps one entry per ``indicator:symbol:parameters``: the state of
  its calculator (kernel, outputs and a fingerprint of the bars it saw). A request with
  the same bars is served from that state; bars that extend them are appended to it
  (only the new tail is computed, then the entry is replaced); other bars recompute.
- ``@cached_indicator`` / ``@cached_signal`` cache a function of market data whose key is
  what matters: the symbol, the parameters, the last timestamp, the number of bars and a
  content digest of the data (``AAPL:window=20:@2024-01-05T16.00.00:390:9f2c...``), so
  patterns like ``"AAPL:*"`` select a symbol and changed history never hits stale data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from admf_perf.caching import Cache, CacheKey, cached
from admf_perf.caching.decorator import CachedFunction
from admf_perf.errors import ConfigurationError
from admf_perf.incremental.averages import MovingAverageCalculator
from admf_perf.incremental.base import SeriesCalculator

R = TypeVar("R")


def _bars(data: Any) -> tuple[np.ndarray, Any]:
    """Float values of ``data`` (Series, one-column frame, array or list) and its index."""
    index = getattr(data, "index", None)
    if hasattr(data, "to_numpy"):
        if getattr(data, "ndim", 1) == 2:
            if data.shape[1] != 1:
                raise ConfigurationError("give a Series or a one-column frame, not a wide frame")
            data = data.iloc[:, 0]
        values = data.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = np.asarray(data, dtype=np.float64)
    if values.ndim != 1:
        raise ConfigurationError(
            f"indicator input must be one-dimensional, got shape {values.shape}"
        )
    return values, index


class CachedIndicator:
    """An indicator whose calculator state lives in a shared cache.

    ``calculator`` makes a fresh :class:`SeriesCalculator` (a class or a factory);
    ``params`` name the indicator's parameters (they are part of the key and go to the
    factory). ``compute(symbol, data)`` returns one value per bar — a pandas Series on
    the data's index when given a Series.
    """

    def __init__(
        self,
        name: str,
        calculator: Callable[..., SeriesCalculator],
        *,
        cache: Cache | None = None,
        max_size: int = 1024,
        backend: object = None,
        **params: Any,
    ) -> None:
        self.name = name
        self.params = params
        self._factory = calculator
        if cache is None:
            cache = Cache(f"indicator.{name}", max_size=max_size, backend=backend)
        self.cache = cache
        self._param_key = CacheKey.generate_key((), params)
        self._value: Any = float("nan")
        self.last_run = "none"
        """What the last ``compute`` did: ``"hit"``, ``"append"`` or ``"full"``."""

    def key(self, symbol: str) -> str:
        return ":".join(p for p in (CacheKey.token(symbol), self._param_key) if p)

    def calculate(self, data: Any, symbol: str = "-") -> Any:
        """The shape every calculator shares: one output per bar of ``data``."""
        return self.compute(symbol, data)

    @property
    def value(self) -> Any:
        """The latest output of the last ``compute``/``calculate`` (NaN before any)."""
        return self._value

    def compute(self, symbol: str, data: Any) -> Any:
        values, index = _bars(data)
        key = self.key(symbol)
        state = self.cache.get(key)
        calc = self._restore(state)
        before = calc.calculation_counts
        full_before, inc_before = before["full"], before["incremental"]
        seen_before = getattr(calc, "_seen_len", None)
        out = calc.calculate(values)
        counts = calc.calculation_counts
        if counts["full"] > full_before:
            self.last_run = "full"
        elif seen_before is not None and len(values) == seen_before:
            self.last_run = "hit"
        else:
            self.last_run = "append" if counts["incremental"] > inc_before else "full"
        if self.last_run != "hit":
            self.cache.set(key, calc.get_state())
        self._value = calc.value
        if index is not None:
            import pandas as pd

            return pd.Series(out, index=index, name=f"{self.name}({self._param_key})")
        return out

    def _restore(self, state: Any) -> SeriesCalculator:
        if isinstance(state, dict):
            try:
                return type(self._factory(**self.params)).from_state(state)
            except Exception:  # a state from an older calculator version: recompute
                pass
        return self._factory(**self.params)


class CachedMovingAverage(CachedIndicator):
    """The simple moving average of ``window`` bars, shared through the cache."""

    def __init__(self, window: int, **kwargs: Any) -> None:
        super().__init__("sma", MovingAverageCalculator, window=window, **kwargs)


def market_data_key(data: Any, *params: Any, symbol: Any = None, **kwparams: Any) -> str:
    """``symbol:params:@last timestamp:bars:digest`` for a function of market data."""
    values = data
    last = None
    index = getattr(data, "index", None)
    if index is not None and len(index):
        last = index[-1]
    if symbol is None:
        symbol = getattr(data, "name", None)
    parts = [CacheKey.token(symbol) if symbol is not None else "-"]
    params_key = CacheKey.generate_key(params, kwparams)
    if params_key:
        parts.append(params_key)
    if last is not None:
        stamp = last.isoformat() if hasattr(last, "isoformat") else str(last)
        parts.append("@" + stamp.replace(":", "."))
    parts.append(str(len(values)))
    digest = CacheKey.token(values)
    parts.append(digest[digest.rfind(",") + 1 : -1][:16])
    return ":".join(parts)


def _market_data_cache(kind: str) -> Callable[..., Any]:
    def decorator_factory(
        fn: Callable[..., R] | None = None,
        /,
        *,
        max_size: int = 1024,
        ttl: float | None = None,
        name: str | None = None,
        backend: object = None,
        **options: Any,
    ) -> Any:
        def decorate(func: Callable[..., R]) -> CachedFunction[..., R]:
            cache_name = name or f"{kind}.{func.__module__}.{func.__qualname__}"
            return cached(
                max_size=max_size,
                ttl=ttl,
                key_maker=market_data_key,
                name=cache_name,
                backend=backend,
                **options,
            )(func)

        return decorate(fn) if fn is not None else decorate

    decorator_factory.__doc__ = (
        f"Cache a {kind} function ``fn(data, *params, symbol=None, **params)`` of market data; "
        "keyed by symbol, parameters, last timestamp, bar count and a content digest."
    )
    return decorator_factory


cached_indicator = _market_data_cache("indicator")
cached_signal = _market_data_cache("signal")
