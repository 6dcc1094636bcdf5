"""TimeSeriesArray: an append-only time series in two contiguous numpy arrays.

Timestamps (int64 nanoseconds since the epoch, UTC for zone-aware input) and values live
in separate preallocated buffers that double when full, so ``append`` is amortized O(1)
and a time-range query is two binary searches returning views, with no copy. Timestamps
must not decrease (equal ones are allowed: ticks can share a timestamp); an older one
raises :class:`~admf_perf.resources.errors.OutOfOrderError`.

With ``max_length`` only the newest ``max_length`` points are kept: older ones become a
dead prefix, and when the buffer's end is reached with at most half of it live, the live
part moves to a fresh buffer of the same capacity (amortized O(1) again).

Views returned by :meth:`between`, :attr:`timestamps` and :attr:`values` stay valid:
growth and compaction copy into new buffers, and appends never write where a view looks.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

import numpy as np
import pandas as pd

from admf_perf.errors import ConfigurationError
from admf_perf.resources.errors import OutOfOrderError

if TYPE_CHECKING:
    from admf_perf.resources.memory import MemoryManager

TimestampLike: TypeAlias = int | np.integer[Any] | np.datetime64 | dt.datetime | pd.Timestamp | str


class TimeSlice(NamedTuple):
    """Timestamps (int64 ns) and values of a range: views into the series' buffers."""

    timestamps: np.ndarray
    values: np.ndarray


def to_ns(ts: TimestampLike) -> int:
    """``ts`` as int64 nanoseconds since the epoch (zone-aware input is taken as UTC)."""
    if isinstance(ts, int | np.integer) and not isinstance(ts, bool):
        return int(ts)
    if isinstance(ts, np.datetime64):
        if np.isnat(ts):
            raise ConfigurationError("timestamp is NaT")
        return int(ts.astype("datetime64[ns]").astype(np.int64))
    try:
        stamp = pd.Timestamp(ts)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"cannot read {ts!r} as a timestamp: {exc}") from None
    if stamp is pd.NaT:
        raise ConfigurationError("timestamp is NaT")
    return int(stamp.value)


def to_ns_array(timestamps: Any) -> np.ndarray:
    """An int64 nanosecond array from integers, datetime64 values or anything pandas reads."""
    arr = np.asarray(timestamps)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "M":
        if np.isnat(arr).any():
            raise ConfigurationError("timestamps contain NaT")
        return arr.astype("datetime64[ns]").view(np.int64)
    try:
        index = pd.DatetimeIndex(timestamps)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"cannot read timestamps: {exc}") from None
    if index.hasnans:
        raise ConfigurationError("timestamps contain NaT")
    return np.asarray(index.as_unit("ns").asi8, dtype=np.int64)


class TimeSeriesArray:
    """Timestamps and values in contiguous arrays; see the module doc for the guarantees."""

    def __init__(
        self,
        capacity: int = 1024,
        dtype: Any = np.float64,
        max_length: int | None = None,
        *,
        track: bool = True,
        memory_manager: MemoryManager | None = None,
    ) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ConfigurationError(f"capacity must be an int >= 1, got {capacity!r}")
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise ConfigurationError(f"max_length must be an int >= 1 or None, got {max_length!r}")
        self.max_length = max_length
        self._cap = capacity
        self._ts = np.empty(capacity, dtype=np.int64)
        self._vals = np.empty(capacity, dtype=dtype)
        self._start = 0
        self._end = 0
        self._last: int | None = None
        self._manager: MemoryManager | None = None
        if track:
            if memory_manager is None:
                from admf_perf.resources.memory import MemoryManager

                memory_manager = MemoryManager.get_instance()
            self._manager = memory_manager
            memory_manager.track_allocation(self, self.nbytes)

    # -- writing ----------------------------------------------------------------------

    def append(self, ts: TimestampLike, value: Any) -> None:
        """Add one point; ``ts`` must not be older than the last timestamp."""
        t = ts if type(ts) is int else to_ns(ts)
        last = self._last
        if last is not None and t < last:
            raise OutOfOrderError(
                f"timestamp {t} is older than the last one ({last}); appends must be in time order"
            )
        end = self._end
        if end == self._cap:
            self._reserve(1)
            end = self._end
        self._ts[end] = t
        self._vals[end] = value
        self._end = end + 1
        self._last = t
        if self.max_length is not None and self._end - self._start > self.max_length:
            self._start = self._end - self.max_length

    def extend(self, timestamps: Any, values: Any) -> None:
        """Add many points at once; all-or-nothing if the timestamps are out of order."""
        ts = to_ns_array(timestamps)
        vals = np.asarray(values, dtype=self._vals.dtype)
        if ts.ndim != 1 or vals.shape != ts.shape:
            raise ConfigurationError(
                f"timestamps and values must be 1-D of the same length, got shapes "
                f"{ts.shape} and {vals.shape}"
            )
        if ts.size == 0:
            return
        if ts.size > 1 and bool((np.diff(ts) < 0).any()):
            bad = int(np.argmax(np.diff(ts) < 0)) + 1
            raise OutOfOrderError(f"timestamps are not in time order at position {bad}")
        if self._last is not None and int(ts[0]) < self._last:
            raise OutOfOrderError(
                f"first timestamp {int(ts[0])} is older than the last one ({self._last})"
            )
        last = int(ts[-1])
        if self.max_length is not None and ts.size > self.max_length:
            ts, vals = ts[-self.max_length :], vals[-self.max_length :]
            self._start = self._end  # everything held before is now older than the window
        self._reserve(ts.size)
        end = self._end + ts.size
        self._ts[self._end : end] = ts
        self._vals[self._end : end] = vals
        self._end = end
        self._last = last
        if self.max_length is not None and self._end - self._start > self.max_length:
            self._start = self._end - self.max_length

    def _reserve(self, n: int) -> None:
        """Make room for ``n`` more points at the end: compact or grow into new buffers."""
        if self._end + n <= self._cap:
            return
        live = self._end - self._start
        cap = self._cap
        if live + n > cap // 2:
            while cap < live + n:
                cap *= 2
            if cap == self._cap:
                cap *= 2
        new_ts = np.empty(cap, dtype=np.int64)
        new_vals = np.empty(cap, dtype=self._vals.dtype)
        new_ts[:live] = self._ts[self._start : self._end]
        new_vals[:live] = self._vals[self._start : self._end]
        self._ts, self._vals, self._cap = new_ts, new_vals, cap
        self._start, self._end = 0, live
        if self._manager is not None:
            self._manager.track_allocation(self, self.nbytes)

    # -- reading ----------------------------------------------------------------------

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def timestamps(self) -> np.ndarray:
        """All live timestamps, int64 ns (a view)."""
        return self._ts[self._start : self._end]

    @property
    def values(self) -> np.ndarray:
        """All live values (a view)."""
        return self._vals[self._start : self._end]

    @property
    def last_timestamp(self) -> int | None:
        """The newest timestamp in ns, ``None`` if nothing was appended."""
        return self._last

    @property
    def capacity(self) -> int:
        return self._cap

    @property
    def nbytes(self) -> int:
        """Bytes of both buffers, dead prefix and spare capacity included."""
        return int(self._ts.nbytes + self._vals.nbytes)

    def between(
        self, start: TimestampLike | None = None, end: TimestampLike | None = None
    ) -> TimeSlice:
        """Points with ``start <= timestamp <= end`` (``None``: unbounded), as views."""
        ts = self.timestamps
        lo = 0 if start is None else int(np.searchsorted(ts, to_ns(start), side="left"))
        hi = len(ts) if end is None else int(np.searchsorted(ts, to_ns(end), side="right"))
        hi = max(lo, hi)
        return TimeSlice(ts[lo:hi], self.values[lo:hi])

    def to_series(self, name: str | None = None) -> pd.Series:
        """A pandas Series (copied) indexed by a naive ``datetime64[ns]`` index."""
        index = pd.DatetimeIndex(self.timestamps.view("datetime64[ns]").copy())
        return pd.Series(self.values.copy(), index=index, name=name)

    def __repr__(self) -> str:
        return (
            f"TimeSeriesArray(len={len(self)}, dtype={self._vals.dtype}, "
            f"capacity={self._cap}, max_length={self.max_length})"
        )
