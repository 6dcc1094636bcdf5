"""Lossless dtype downcasting and MemoryOptimizedArray, a tracked numpy array wrapper.

Downcasting here never changes a value unless the caller asks for it: integers move to
the smallest type of the same signedness that holds their minimum and maximum, float64
moves to float32 only when every value survives the round trip exactly (NaN, infinities
and the sign of zero included), or, when the caller passes ``float_tolerance``, when
every value is within that *relative* error. Everything else keeps its dtype.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from admf_perf.errors import ConfigurationError

if TYPE_CHECKING:
    from admf_perf.resources.memory import MemoryManager

_SIGNED = (np.int8, np.int16, np.int32, np.int64)
_UNSIGNED = (np.uint8, np.uint16, np.uint32, np.uint64)


def smallest_int_dtype(values: np.ndarray) -> np.dtype[Any]:
    """The smallest integer dtype of ``values``' signedness holding its min and max."""
    if values.dtype.kind not in "iu":
        raise ConfigurationError(f"expected an integer array, got dtype {values.dtype}")
    if values.size == 0:
        return values.dtype
    lo, hi = int(values.min()), int(values.max())
    for candidate in _SIGNED if values.dtype.kind == "i" else _UNSIGNED:
        info = np.iinfo(candidate)
        if info.min <= lo and hi <= info.max:
            dtype = np.dtype(candidate)
            return dtype if dtype.itemsize < values.dtype.itemsize else values.dtype
    return values.dtype


def float32_fits(values: np.ndarray, float_tolerance: float | None = None) -> bool:
    """Whether float64 ``values`` can become float32.

    Lossless (``float_tolerance=None``): every value round-trips bit-for-bit in value,
    NaN stays NaN, and zeros keep their sign. With a tolerance ``t``: every finite value
    ``v`` satisfies ``|float32(v) - v| <= t * |v|``, and no finite value overflows.
    """
    if values.dtype != np.float64:
        return False
    if float_tolerance is not None and float_tolerance < 0:
        raise ConfigurationError(f"float_tolerance must be >= 0, got {float_tolerance!r}")
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = values.astype(np.float32)
        back = narrow.astype(np.float64)
    if float_tolerance is None:
        same = (back == values) | (np.isnan(back) & np.isnan(values))
        return bool(same.all()) and bool((np.signbit(back) == np.signbit(values)).all())
    finite = np.isfinite(values)
    if not bool((np.isfinite(back) == finite).all()):
        return False
    err = np.abs(back[finite] - values[finite])
    return bool((err <= float_tolerance * np.abs(values[finite])).all())


def optimized_dtype(values: np.ndarray, float_tolerance: float | None = None) -> np.dtype[Any]:
    """The dtype :func:`downcast` would give ``values``."""
    if values.dtype.kind in "iu":
        return smallest_int_dtype(values)
    if values.dtype == np.float64 and values.size and float32_fits(values, float_tolerance):
        return np.dtype(np.float32)
    return values.dtype


def downcast(values: np.ndarray, float_tolerance: float | None = None) -> np.ndarray:
    """``values`` in its smallest safe dtype (the same array if nothing shrinks)."""
    dtype = optimized_dtype(values, float_tolerance)
    return values if dtype == values.dtype else values.astype(dtype)


class MemoryOptimizedArray:
    """A numpy array that the MemoryManager tracks and that can shrink its dtype.

    ``np.asarray(obj)`` and ``obj.array`` give the array; ``nbytes`` its size.
    ``optimize_dtype()`` replaces the array by a lossless downcast (see module doc).
    """

    def __init__(
        self,
        data: Any,
        dtype: Any = None,
        *,
        copy: bool = False,
        track: bool = True,
        memory_manager: MemoryManager | None = None,
    ) -> None:
        self._array = np.array(data, dtype=dtype, copy=True) if copy else np.asarray(data, dtype)
        self._manager: MemoryManager | None = None
        if track:
            if memory_manager is None:
                from admf_perf.resources.memory import MemoryManager

                memory_manager = MemoryManager.get_instance()
            self._manager = memory_manager
            memory_manager.track_allocation(self, self._array.nbytes)

    @property
    def array(self) -> np.ndarray:
        """The wrapped numpy array."""
        return self._array

    @property
    def nbytes(self) -> int:
        """Bytes of the array's data."""
        return int(self._array.nbytes)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._array.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._array.shape)

    def optimize_dtype(self, float_tolerance: float | None = None) -> np.dtype[Any]:
        """Downcast in place where lossless (or within ``float_tolerance``); the new dtype."""
        self._array = downcast(self._array, float_tolerance)
        if self._manager is not None:
            self._manager.track_allocation(self, self._array.nbytes)
        return self._array.dtype

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is None and not copy:
            return self._array
        return np.array(self._array, dtype=dtype, copy=True if copy else None)

    def __len__(self) -> int:
        return len(self._array)

    def __getitem__(self, index: Any) -> Any:
        return self._array[index]

    def __repr__(self) -> str:
        return f"MemoryOptimizedArray(shape={self.shape}, dtype={self.dtype}, nbytes={self.nbytes})"
