"""MemoryManager: one place that knows how much memory the process uses and can free some.

It reads process and system memory through psutil, keeps a running total of the large
objects code chooses to track (released automatically when they are garbage-collected),
decides when memory pressure is high against a configurable threshold, and frees memory
on request by running the release hooks other components registered (the cache's local
copies, for instance), trimming registered object pools and running ``gc.collect()``.

The pressure reading comes from a *probe*, ``psutil`` by default; pass ``probe=`` to
drive the manager from another source (a cgroup limit, or a test that controls the
numbers). The manager never imports the components that register with it.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import psutil

from admf_perf.errors import ConfigurationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessMemory:
    """This process's memory in bytes: resident (``rss``) and virtual (``vms``)."""

    rss: int
    vms: int


@dataclass(frozen=True)
class SystemMemory:
    """The host's memory in bytes; ``used_fraction`` is ``1 - available / total``."""

    total: int
    available: int
    used_fraction: float


@dataclass(frozen=True)
class MemoryUsage:
    """One pressure reading: the system's used fraction and this process's RSS in bytes."""

    system_fraction: float
    rss: int


@dataclass(frozen=True)
class PressureReport:
    """What one ``release_memory_pressure()`` call freed (the heap is trimmed last, so
    ``rss_freed`` shows memory actually returned to the OS).

    ``hooks`` maps each release hook's name to the bytes or entries it said it freed;
    ``errors`` maps the name of a hook that raised to its error message.
    """

    hooks: dict[str, int]
    pool_objects_released: int
    gc_collected: int
    before: MemoryUsage
    after: MemoryUsage
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def rss_freed(self) -> int:
        """Drop in process RSS over the call (can be 0 or negative: allocators keep pages)."""
        return self.before.rss - self.after.rss


class Trimmable(Protocol):
    """What the manager needs of an object pool: drop idle objects, say how many."""

    def trim(self) -> int: ...


Probe = Callable[[], MemoryUsage]
ReleaseHook = Callable[[], int]
PressureCallback = Callable[[MemoryUsage], None]


def psutil_probe() -> MemoryUsage:
    """The default probe: system used fraction and this process's RSS from psutil."""
    vm = psutil.virtual_memory()
    rss = psutil.Process().memory_info().rss
    return MemoryUsage(system_fraction=1.0 - vm.available / vm.total, rss=int(rss))


_libc: Any = None


def trim_heap() -> bool:
    """Give freed heap pages back to the OS (glibc ``malloc_trim``); ``False`` elsewhere.

    CPython and numpy free memory to the C allocator, which keeps fragmented heap pages
    mapped: RSS does not fall after ``del`` or ``gc.collect()`` until the heap is trimmed.
    """
    global _libc
    if _libc is None:
        try:
            import ctypes

            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if _libc is False:
        return False
    _libc.malloc_trim(0)
    return True


def measure_size(obj: object) -> int:
    """Bytes held by ``obj``: ``nbytes`` for arrays, deep ``memory_usage`` for pandas."""
    memory_usage = getattr(obj, "memory_usage", None)
    if callable(memory_usage) and type(obj).__module__.startswith("pandas"):
        used = memory_usage(deep=True)
        return int(used.sum()) if hasattr(used, "sum") else int(used)
    nbytes = getattr(obj, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    return sys.getsizeof(obj)


class _Hook:
    """A release hook held weakly when it is a bound method, so its owner can still die."""

    def __init__(self, fn: ReleaseHook, name: str) -> None:
        self.name = name
        self._ref: Callable[[], ReleaseHook | None]
        if hasattr(fn, "__self__") and hasattr(fn, "__func__"):
            self._ref = weakref.WeakMethod(fn)
        else:
            self._ref = lambda: fn

    def get(self) -> ReleaseHook | None:
        return self._ref()


class MemoryManager:
    """Process memory monitoring, allocation tracking and pressure relief.

    ``system_threshold`` is the fraction of system memory in use (0..1] at which pressure
    counts as high; ``rss_threshold`` is a process RSS in bytes. Either may be ``None``
    (ignored); pressure is high when any set threshold is reached. ``probe`` returns the
    current :class:`MemoryUsage` (psutil by default).
    """

    _instance: MemoryManager | None = None
    _instance_lock = threading.Lock()

    def __init__(
        self,
        system_threshold: float | None = 0.9,
        rss_threshold: int | None = None,
        probe: Probe | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._tracked: dict[int, tuple[int, weakref.finalize[Any, Any]]] = {}
        self._hooks: list[_Hook] = []
        self._pools: weakref.WeakSet[Any] = weakref.WeakSet()
        self._callbacks: list[PressureCallback] = []
        self._names = itertools.count(1)
        self.system_threshold: float | None = None
        self.rss_threshold: int | None = None
        self.probe: Probe = psutil_probe
        self.set_threshold(system_threshold, rss_threshold, probe=probe)

    @classmethod
    def get_instance(cls) -> MemoryManager:
        """The process-wide manager (created on first use; a fresh one in a forked child)."""
        if cls._instance is None:
            with cls._instance_lock:
                if cls._instance is None:
                    cls._instance = cls()
        return cls._instance

    @classmethod
    def _forget_instance(cls) -> None:
        cls._instance = None
        cls._instance_lock = threading.Lock()

    # -- readings ---------------------------------------------------------------------

    @staticmethod
    def process_memory() -> ProcessMemory:
        """RSS and VMS of this process, from psutil."""
        info = psutil.Process().memory_info()
        return ProcessMemory(rss=int(info.rss), vms=int(info.vms))

    @staticmethod
    def system_memory() -> SystemMemory:
        """Total and available memory of the host, from psutil."""
        vm = psutil.virtual_memory()
        return SystemMemory(
            total=int(vm.total),
            available=int(vm.available),
            used_fraction=1.0 - vm.available / vm.total,
        )

    def usage(self) -> MemoryUsage:
        """The current reading from the probe."""
        return self.probe()

    # -- allocation tracking ----------------------------------------------------------

    def track_allocation(self, obj: object, size: int | None = None) -> int:
        """Count ``obj``'s bytes until it is garbage-collected or :meth:`untrack`-ed.

        ``size`` is measured when not given (numpy ``nbytes``, pandas deep
        ``memory_usage``, ``sys.getsizeof`` otherwise). Tracking an object again replaces
        its size. Objects that cannot be weakly referenced (``list``, ``dict``, ``int``,
        classes with ``__slots__`` and no ``__weakref__``) raise ``ConfigurationError``:
        wrap them in an array or an object that can. Returns the size counted.
        """
        nbytes = measure_size(obj) if size is None else int(size)
        if nbytes < 0:
            raise ConfigurationError(f"size must be >= 0 bytes, got {size!r}")
        key = id(obj)
        try:
            finalizer = weakref.finalize(obj, self._forget, key)
        except TypeError:
            raise ConfigurationError(
                f"cannot track a {type(obj).__name__}: it cannot be weakly referenced, so "
                "its release could not be seen; wrap it in a numpy array or an object "
                "that supports weak references"
            ) from None
        finalizer.atexit = False
        with self._lock:
            old = self._tracked.get(key)
            self._tracked[key] = (nbytes, finalizer)
        if old is not None:
            old[1].detach()
        return nbytes

    def untrack(self, obj: object) -> bool:
        """Stop counting ``obj``; ``False`` if it was not tracked."""
        with self._lock:
            entry = self._tracked.pop(id(obj), None)
        if entry is None:
            return False
        entry[1].detach()
        return True

    def _forget(self, key: int) -> None:
        with self._lock:
            self._tracked.pop(key, None)

    def tracked_bytes(self) -> int:
        """Sum of the sizes of the tracked objects still alive."""
        with self._lock:
            return sum(size for size, _ in self._tracked.values())

    def tracked_count(self) -> int:
        """Number of tracked objects still alive."""
        with self._lock:
            return len(self._tracked)

    # -- pressure ---------------------------------------------------------------------

    def set_threshold(
        self,
        system_threshold: float | None = 0.9,
        rss_threshold: int | None = None,
        *,
        probe: Probe | None = None,
    ) -> None:
        """Set when pressure counts as high, and optionally the probe that reads usage."""
        if system_threshold is not None and not 0.0 < system_threshold <= 1.0:
            raise ConfigurationError(
                f"system_threshold must be a fraction in (0, 1], got {system_threshold!r}"
            )
        if rss_threshold is not None and rss_threshold <= 0:
            raise ConfigurationError(
                f"rss_threshold must be a positive number of bytes, got {rss_threshold!r}"
            )
        with self._lock:
            self.system_threshold = system_threshold
            self.rss_threshold = rss_threshold
            if probe is not None:
                self.probe = probe

    def is_memory_pressure_high(self, usage: MemoryUsage | None = None) -> bool:
        """Whether ``usage`` (default: a fresh reading) reaches any configured threshold."""
        reading = self.probe() if usage is None else usage
        if self.system_threshold is not None and reading.system_fraction >= self.system_threshold:
            return True
        return self.rss_threshold is not None and reading.rss >= self.rss_threshold

    def add_release_hook(self, fn: ReleaseHook, name: str | None = None) -> str:
        """Register ``fn() -> int`` (bytes or entries freed), run on memory pressure.

        A bound method is held weakly: its owner (a cache, say) can still be
        garbage-collected, and its hook then disappears. Returns the hook's name.
        """
        if not callable(fn):
            raise ConfigurationError(f"release hook must be callable, got {fn!r}")
        label = name or f"{getattr(fn, '__qualname__', 'hook')}#{next(self._names)}"
        with self._lock:
            self._hooks.append(_Hook(fn, label))
        return label

    def remove_release_hook(self, name: str) -> bool:
        """Unregister the hook called ``name``; ``False`` if there was none."""
        with self._lock:
            kept = [h for h in self._hooks if h.name != name]
            removed = len(kept) != len(self._hooks)
            self._hooks = kept
        return removed

    def register_pool(self, pool: Trimmable) -> None:
        """Trim ``pool`` on pressure; held weakly, so registering never keeps a pool alive."""
        with self._lock:
            self._pools.add(pool)

    def on_pressure(self, callback: PressureCallback) -> None:
        """Call ``callback(usage)`` each time :meth:`check_pressure` finds pressure high."""
        with self._lock:
            self._callbacks.append(callback)

    def check_pressure(
        self, release: bool = True, usage: MemoryUsage | None = None
    ) -> PressureReport | None:
        """If pressure is high: notify the callbacks, release memory if asked, report.

        ``usage`` is a reading already taken (default: a fresh one). Returns ``None`` when
        pressure is not high. A callback that raises is logged and the others still run.
        """
        reading = self.probe() if usage is None else usage
        if not self.is_memory_pressure_high(reading):
            return None
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(reading)
            except Exception:
                log.exception("memory pressure callback %r failed", callback)
        if release:
            return self.release_memory_pressure(before=reading)
        return PressureReport({}, 0, 0, before=reading, after=reading)

    def release_memory_pressure(self, before: MemoryUsage | None = None) -> PressureReport:
        """Run the release hooks, trim the pools, ``gc.collect()``, trim the C heap; report.

        A hook that raises is recorded in ``errors`` and the rest still run.
        """
        start = self.probe() if before is None else before
        with self._lock:
            live = [(h, h.get()) for h in self._hooks]
            self._hooks = [h for h, fn in live if fn is not None]
            pools = list(self._pools)
        freed: dict[str, int] = {}
        errors: dict[str, str] = {}
        for hook, fn in live:
            if fn is None:
                continue
            try:
                freed[hook.name] = int(fn())
            except Exception as exc:
                log.warning("release hook %s failed: %r", hook.name, exc)
                errors[hook.name] = f"{type(exc).__name__}: {exc}"
        released = 0
        for pool in pools:
            released += pool.trim()
        collected = gc.collect()
        trim_heap()
        return PressureReport(
            hooks=freed,
            pool_objects_released=released,
            gc_collected=collected,
            before=start,
            after=self.probe(),
            errors=errors,
        )


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=MemoryManager._forget_instance)
