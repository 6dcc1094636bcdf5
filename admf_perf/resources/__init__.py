"""Resource managers: memory, object pools, compact data structures, I/O, adaptive execution.

- :class:`MemoryManager` -- process/system memory, allocation tracking, pressure relief
  through registered release hooks (the integration point for caches) and pools.
- :class:`ObjectPool` -- reusable objects; pays only when creating one is expensive.
- :class:`MemoryOptimizedArray`, :class:`OptimizedDataFrame` -- lossless dtype shrinking.
- :class:`TimeSeriesArray` -- append-only timestamps and values in contiguous arrays.
- :func:`load_csv_chunked`, :func:`load_table` -- loading without a full-width raw copy.
- :class:`TopNResults` -- keep only the best N results of a sweep.
- :class:`IOManager` -- asynchronous atomic file I/O, mmap, buffer pool, I/O stats.
- :class:`ResourceAwareExecutor` -- runs tasks through the CPUManager, adapting
  parallelism to memory pressure and CPU load between batches.
"""

from admf_perf.resources.arrays import MemoryOptimizedArray, downcast, optimized_dtype
from admf_perf.resources.errors import (
    MissingDependencyError,
    OutOfOrderError,
    PoolError,
    ResourceClosedError,
)
from admf_perf.resources.executor import PressureEvent, ResourceAwareExecutor
from admf_perf.resources.frames import OptimizationReport, OptimizedDataFrame, optimize_frame
from admf_perf.resources.iomanager import IOManager, IOStats, atomic_write
from admf_perf.resources.loading import load_csv_chunked, load_table
from admf_perf.resources.memory import (
    MemoryManager,
    MemoryUsage,
    PressureReport,
    ProcessMemory,
    SystemMemory,
)
from admf_perf.resources.pool import ObjectPool, PoolStats
from admf_perf.resources.sweep import TopNResults
from admf_perf.resources.timeseries import TimeSeriesArray, TimeSlice

__all__ = [
    "IOManager",
    "IOStats",
    "MemoryManager",
    "MemoryOptimizedArray",
    "MemoryUsage",
    "MissingDependencyError",
    "ObjectPool",
    "OptimizationReport",
    "OptimizedDataFrame",
    "OutOfOrderError",
    "PoolError",
    "PoolStats",
    "PressureEvent",
    "PressureReport",
    "ProcessMemory",
    "ResourceAwareExecutor",
    "ResourceClosedError",
    "SystemMemory",
    "TimeSeriesArray",
    "TimeSlice",
    "TopNResults",
    "atomic_write",
    "downcast",
    "load_csv_chunked",
    "load_table",
    "optimize_frame",
    "optimized_dtype",
]
