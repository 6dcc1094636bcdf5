"""ObjectPool: reuse objects instead of allocating new ones, for the few cases where it pays.

In CPython a locked acquire/release round trip costs several times more than allocating
a small object (a slotted dataclass Bar, an Event): pooling those is *slower* (about 5x
and 10x in ``benchmarks/resources.py``). A pool pays when creating the object is
expensive: numpy buffers past malloc's mmap threshold (16 MiB: about 0.7x the cost of
allocating; at 1 MiB malloc already reuses memory and the pool gains nothing), objects
that open resources, or objects with costly setup.

The pool keeps up to ``max_size`` idle objects, resets each one when it comes back (the
``reset`` callable or an overridden :meth:`ObjectPool._reset_object`), refuses objects
it did not hand out and double releases, and registers itself (weakly) with the
:class:`~admf_perf.resources.MemoryManager`, which calls :meth:`trim` on memory pressure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

from admf_perf.errors import ConfigurationError
from admf_perf.resources.errors import PoolError

if TYPE_CHECKING:
    from admf_perf.resources.memory import MemoryManager

T = TypeVar("T")


@dataclass(frozen=True)
class PoolStats:
    """Counters of one pool: objects created and reused, in use now and idle now."""

    created: int
    reused: int
    in_use: int
    available: int
    discarded: int
    """Objects dropped on release because the pool already held ``max_size`` idle ones."""


class ObjectPool(Generic[T]):
    """A thread-safe pool of objects made by ``factory()``, holding at most ``max_size`` idle.

    Every acquired object must be released (or use ``with pool.borrow() as obj:``): the
    pool keeps a reference to objects in use, to recognise them when they come back.
    """

    def __init__(
        self,
        factory: Callable[[], T],
        max_size: int,
        reset: Callable[[T], None] | None = None,
        *,
        memory_manager: MemoryManager | None = None,
        register: bool = True,
    ) -> None:
        if not callable(factory):
            raise ConfigurationError(f"factory must be callable, got {factory!r}")
        if not isinstance(max_size, int) or max_size < 0:
            raise ConfigurationError(f"max_size must be an int >= 0, got {max_size!r}")
        self._factory = factory
        self._reset = reset
        self.max_size = max_size
        self._lock = threading.Lock()
        self._idle: list[T] = []
        self._in_use: dict[int, T] = {}
        self._created = 0
        self._reused = 0
        self._discarded = 0
        if register:
            if memory_manager is None:
                from admf_perf.resources.memory import MemoryManager

                memory_manager = MemoryManager.get_instance()
            memory_manager.register_pool(self)

    def acquire(self) -> T:
        """An idle object if there is one, else a new one from the factory."""
        with self._lock:
            if self._idle:
                obj = self._idle.pop()
                self._reused += 1
                self._in_use[id(obj)] = obj
                return obj
        obj = self._factory()
        with self._lock:
            self._created += 1
            self._in_use[id(obj)] = obj
        return obj

    def release(self, obj: T) -> None:
        """Give ``obj`` back: it is reset, then kept if fewer than ``max_size`` are idle.

        Raises :class:`PoolError` for an object this pool did not hand out, or one
        already released. If the reset raises, the object is dropped and the error raised.
        """
        with self._lock:
            held = self._in_use.pop(id(obj), None)
            if held is not obj:
                if held is not None:
                    self._in_use[id(held)] = held
                raise PoolError(
                    f"cannot release this {type(obj).__name__}: it is not in use from this "
                    "pool (released twice, or acquired elsewhere)"
                )
        self._reset_object(obj)
        with self._lock:
            if len(self._idle) < self.max_size:
                self._idle.append(obj)
            else:
                self._discarded += 1

    def _reset_object(self, obj: T) -> None:
        """Bring ``obj`` back to a clean state before reuse; calls ``reset`` if given."""
        if self._reset is not None:
            self._reset(obj)

    def borrow(self) -> _Borrowed[T]:
        """``with pool.borrow() as obj:`` acquires an object and releases it on exit."""
        return _Borrowed(self)

    def trim(self, keep: int = 0) -> int:
        """Drop idle objects down to ``keep``; returns how many were dropped."""
        with self._lock:
            dropped = max(0, len(self._idle) - keep)
            del self._idle[keep:]
        return dropped

    def stats(self) -> PoolStats:
        """A snapshot of the pool's counters."""
        with self._lock:
            return PoolStats(
                created=self._created,
                reused=self._reused,
                in_use=len(self._in_use),
                available=len(self._idle),
                discarded=self._discarded,
            )

    def __len__(self) -> int:
        """Idle objects ready for reuse."""
        return len(self._idle)


class _Borrowed(Generic[T]):
    """The context manager of :meth:`ObjectPool.borrow` (a class: cheaper than a generator)."""

    __slots__ = ("_obj", "_pool")

    def __init__(self, pool: ObjectPool[T]) -> None:
        self._pool = pool

    def __enter__(self) -> T:
        self._obj = self._pool.acquire()
        return self._obj

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pool.release(self._obj)
