"""OptimizedDataFrame: a pandas DataFrame whose columns use the smallest safe dtypes.

Integer columns shrink to the smallest integer type of the same signedness; float64
columns become float32 only when lossless, or, if the caller opts in with
``float_tolerance``, when every value stays within that relative error (prices to the
cent typically need ``float_tolerance=1e-7``: float32 keeps about 7 significant digits);
string columns with few distinct values (distinct / rows below ``category_threshold``)
become ``category``. ``report()`` gives the memory before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from admf_perf.errors import ConfigurationError
from admf_perf.resources.arrays import optimized_dtype

if TYPE_CHECKING:
    from admf_perf.resources.memory import MemoryManager


@dataclass(frozen=True)
class OptimizationReport:
    """Deep memory of a frame before and after optimization, and the dtypes changed."""

    bytes_before: int
    bytes_after: int
    changed: dict[str, tuple[str, str]]
    """Column name -> (dtype before, dtype after), for the columns that changed."""

    @property
    def saved_fraction(self) -> float:
        """Share of the original memory saved (0.6 means 60 % smaller)."""
        return 1.0 - self.bytes_after / self.bytes_before if self.bytes_before else 0.0

    def __str__(self) -> str:
        mb = 1024 * 1024
        return (
            f"{self.bytes_before / mb:.1f} MiB -> {self.bytes_after / mb:.1f} MiB "
            f"({self.saved_fraction:.0%} saved)"
        )


def is_string_column(column: pd.Series) -> bool:
    """Whether ``column`` holds strings: a pandas string dtype, or object of all ``str``."""
    if isinstance(column.dtype, pd.StringDtype):
        return True
    return column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) == "string"


def _check_options(float_tolerance: float | None, category_threshold: float) -> None:
    if float_tolerance is not None and not 0.0 <= float_tolerance < 1.0:
        raise ConfigurationError(
            f"float_tolerance must be a relative error in [0, 1), got {float_tolerance!r}"
        )
    if not 0.0 <= category_threshold <= 1.0:
        raise ConfigurationError(
            f"category_threshold must be a fraction in [0, 1], got {category_threshold!r}"
        )


def optimize_column(
    column: pd.Series,
    float_tolerance: float | None = None,
    category_threshold: float = 0.5,
) -> pd.Series:
    """``column`` in its smallest safe dtype (the same object if nothing changes)."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        target = optimized_dtype(column.to_numpy(), float_tolerance)
        return column if target == dtype else column.astype(target)
    if len(column) and is_string_column(column):
        ratio = column.nunique(dropna=False) / len(column)
        if ratio < category_threshold:
            return column.astype("category")
    return column


def optimize_frame(
    frame: pd.DataFrame,
    float_tolerance: float | None = None,
    category_threshold: float = 0.5,
) -> pd.DataFrame:
    """A new frame with every column through :func:`optimize_column` (shares unchanged data)."""
    _check_options(float_tolerance, category_threshold)
    columns = {
        name: optimize_column(frame[name], float_tolerance, category_threshold)
        for name in frame.columns
    }
    if not columns:
        return frame.copy()
    return pd.DataFrame(columns, index=frame.index, copy=False)


def frame_bytes(frame: pd.DataFrame) -> int:
    """Deep memory of ``frame``, index included."""
    return int(frame.memory_usage(deep=True).sum())


class OptimizedDataFrame:
    """Wraps a DataFrame optimized at construction; ``.frame`` is the optimized DataFrame.

    ``float_tolerance=None`` (default) allows only lossless changes; the optimized frame
    is tracked by the MemoryManager unless ``track=False``.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        float_tolerance: float | None = None,
        category_threshold: float = 0.5,
        track: bool = True,
        memory_manager: MemoryManager | None = None,
    ) -> None:
        if not isinstance(frame, pd.DataFrame):
            raise ConfigurationError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        before = frame_bytes(frame)
        optimized = optimize_frame(frame, float_tolerance, category_threshold)
        after = frame_bytes(optimized)
        changed = {
            str(name): (str(frame[name].dtype), str(optimized[name].dtype))
            for name in frame.columns
            if frame[name].dtype != optimized[name].dtype
        }
        self._frame = optimized
        self._report = OptimizationReport(before, after, changed)
        if track:
            if memory_manager is None:
                from admf_perf.resources.memory import MemoryManager

                memory_manager = MemoryManager.get_instance()
            memory_manager.track_allocation(optimized, after)

    @property
    def frame(self) -> pd.DataFrame:
        """The optimized DataFrame."""
        return self._frame

    @property
    def nbytes(self) -> int:
        """Deep memory of the optimized frame."""
        return self._report.bytes_after

    def report(self) -> OptimizationReport:
        """Memory before and after, and which columns changed dtype."""
        return self._report

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._frame, name)

    def __getitem__(self, key: Any) -> Any:
        return self._frame[key]

    def __len__(self) -> int:
        return len(self._frame)

    def __repr__(self) -> str:
        return f"OptimizedDataFrame({len(self._frame)} rows, {self._report})"
