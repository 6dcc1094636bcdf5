"""Input checking shared by every calculator: numbers, arrays, timestamps, fingerprints.

Kept apart from the calculators so each rule (what counts as a number, how a timestamp
compares, how seen data is fingerprinted) is written once.
"""

from __future__ import annotations

import math
import numbers
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import xxhash

from admf_perf.errors import ConfigurationError
from admf_perf.incremental.errors import InvalidInputError, NonNumericInputError, OutOfOrderError

NAN = float("nan")

Timestamp = int | float
"""A normalized timestamp: numbers as given, datetime-likes as integer ns since the epoch."""


def to_float(value: object) -> float:
    """One bar's value as a Python float; ``None`` is a missing bar (NaN).

    Strings, booleans and other non-numbers raise :class:`NonNumericInputError` rather than
    being parsed, so ``"1.5"`` or ``True`` never slip into a price series.
    """
    if isinstance(value, float):  # also numpy.float64, a float subclass
        return float(value)
    if value is None:
        return NAN
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise NonNumericInputError(f"expected a number, got {type(value).__name__} {_short(value)}")
    return float(value)


def as_float_array(values: object) -> np.ndarray:
    """A 1-D, C-contiguous float64 view or copy of ``values``.

    Integers are converted; NaN and inf are kept (each calculator documents how it treats
    them); strings, booleans, objects and datetimes raise :class:`NonNumericInputError`.
    """
    if isinstance(values, pd.Series | pd.Index):
        dtype = values.dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            raise NonNumericInputError(f"expected numeric values, got dtype {dtype}")
        return np.ascontiguousarray(values.to_numpy(dtype=np.float64, na_value=np.nan))
    if isinstance(values, str | bytes):
        raise NonNumericInputError(f"expected an array of numbers, got {_short(values)}")
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidInputError(
            f"expected a 1-D sequence of values, got shape {arr.shape}; "
            "use update() for a single value"
        )
    if arr.dtype.kind not in "fiu":
        raise NonNumericInputError(f"expected numeric values, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def digest(arr: np.ndarray) -> int:
    """xxh3-64 of the raw bytes of a contiguous float64 array (memory speed, ~0.2 ms/M bars)."""
    return xxhash.xxh3_64_intdigest(arr.data)


def hasher(arr: np.ndarray) -> xxhash.xxh3_64:
    """A streaming xxh3-64 fed with ``arr``: extend it with ``update(tail.data)``."""
    h = xxhash.xxh3_64()
    h.update(arr.data)
    return h


def last_bits(arr: np.ndarray) -> int:
    """The bit pattern of the last element (0 for an empty array): a cheap pre-check."""
    return int(arr[-1:].view(np.uint64)[0]) if arr.shape[0] else 0


def normalize_timestamp(ts: object) -> Timestamp:
    """Numbers stay as given; datetime-likes become int nanoseconds since the epoch (naive = UTC)."""
    if isinstance(ts, bool | np.bool_):
        raise NonNumericInputError(f"a timestamp cannot be a boolean: {ts!r}")
    if isinstance(ts, int | np.integer):
        return int(ts)
    if isinstance(ts, float | np.floating):
        f = float(ts)
        if math.isnan(f):
            raise InvalidInputError("a timestamp cannot be NaN")
        return f
    if isinstance(ts, datetime | date | np.datetime64 | pd.Timestamp):
        stamp = pd.Timestamp(ts)
        if stamp is pd.NaT:
            raise InvalidInputError("a timestamp cannot be NaT")
        return int(stamp.value)
    raise NonNumericInputError(
        f"a timestamp must be a number or datetime-like, got {type(ts).__name__}"
    )


def check_after(ts: object, last: Timestamp | None) -> Timestamp:
    """Normalize ``ts`` and reject it if it is older than ``last`` (equal is accepted)."""
    now = normalize_timestamp(ts)
    if last is not None and now < last:
        raise OutOfOrderError(f"timestamp {ts!r} is older than the last one seen ({last!r})")
    return now


def timestamps_array(timestamps: object, length: int) -> np.ndarray:
    """Timestamps for ``calculate``: same length as the values and never going back in time."""
    arr = np.asarray(timestamps)
    if arr.ndim != 1 or arr.shape[0] != length:
        raise InvalidInputError(
            f"expected {length} timestamps (one per value), got shape {arr.shape}"
        )
    kind = arr.dtype.kind
    if kind == "M":
        ints = arr.astype("datetime64[ns]").view(np.int64)
        if np.any(ints == np.iinfo(np.int64).min):
            raise InvalidInputError("timestamps contain NaT")
        arr = ints
    elif kind == "O":
        try:
            arr = pd.DatetimeIndex(arr).as_unit("ns").asi8
        except (TypeError, ValueError) as exc:
            raise NonNumericInputError(f"timestamps are not datetime-like: {exc}") from None
        if np.any(arr == np.iinfo(np.int64).min):
            raise InvalidInputError("timestamps contain NaT")
    elif kind == "f":
        if np.isnan(arr).any():
            raise InvalidInputError("timestamps contain NaN")
    elif kind not in "iu":
        raise NonNumericInputError(f"timestamps must be numbers or datetimes, got {arr.dtype}")
    if length > 1:
        back = np.flatnonzero(arr[1:] < arr[:-1])
        if back.size:
            i = int(back[0]) + 1
            raise OutOfOrderError(
                f"timestamp at position {i} ({arr[i]!r}) is older than the one before it"
            )
    return arr


def positive_int(name: str, value: object) -> int:
    """A constructor argument that must be an int >= 1 (``window``, ``period``)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigurationError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def finite_float(name: str, value: object, *, minimum: float | None = None) -> float:
    """A constructor argument that must be a finite real number (optionally >= ``minimum``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigurationError(f"{name} must be a number, got {value!r}")
    f = float(value)
    if f - f != 0.0 or (minimum is not None and f < minimum):
        bound = "" if minimum is None else f" >= {minimum:g}"
        raise ConfigurationError(f"{name} must be a finite number{bound}, got {value!r}")
    return f


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
