"""ObjectPool: reuse, reset, misuse errors, thread safety and memory-pressure trimming."""

from __future__ import annotations

import gc
import threading
import weakref
from dataclasses import dataclass

import pytest

from admf_perf.errors import ConfigurationError
from admf_perf.resources import MemoryManager, MemoryUsage, ObjectPool, PoolError


@dataclass
class Bar:
    symbol: str = ""
    close: float = 0.0
    owner: int = -1


def reset_bar(bar: Bar) -> None:
    bar.symbol, bar.close, bar.owner = "", 0.0, -1


@pytest.fixture
def manager() -> MemoryManager:
    return MemoryManager(probe=lambda: MemoryUsage(0.0, 0))


def make_pool(manager: MemoryManager, max_size: int = 4) -> ObjectPool[Bar]:
    return ObjectPool(Bar, max_size=max_size, reset=reset_bar, memory_manager=manager)


def test_released_objects_are_reset_and_reused(manager: MemoryManager) -> None:
    pool = make_pool(manager)
    bar = pool.acquire()
    bar.symbol, bar.close = "AAPL", 101.5
    pool.release(bar)
    again = pool.acquire()
    assert again is bar
    assert (again.symbol, again.close) == ("", 0.0)
    stats = pool.stats()
    assert (stats.created, stats.reused, stats.in_use, stats.available) == (1, 1, 1, 0)


def test_subclass_overrides_the_reset_hook(manager: MemoryManager) -> None:
    class BarPool(ObjectPool[Bar]):
        def _reset_object(self, obj: Bar) -> None:
            obj.close = -1.0

    pool = BarPool(Bar, max_size=2, memory_manager=manager)
    bar = pool.acquire()
    pool.release(bar)
    assert pool.acquire().close == -1.0


def test_pool_keeps_at_most_max_size_idle(manager: MemoryManager) -> None:
    pool = make_pool(manager, max_size=2)
    bars = [pool.acquire() for _ in range(5)]
    for bar in bars:
        pool.release(bar)
    stats = pool.stats()
    assert (stats.created, stats.available, stats.discarded, stats.in_use) == (5, 2, 3, 0)


def test_releasing_a_foreign_object_or_twice_is_an_error(manager: MemoryManager) -> None:
    pool = make_pool(manager)
    other = make_pool(manager)
    with pytest.raises(PoolError, match="not in use"):
        pool.release(Bar())
    bar = pool.acquire()
    with pytest.raises(PoolError):
        other.release(bar)
    pool.release(bar)
    with pytest.raises(PoolError, match="released twice"):
        pool.release(bar)
    assert pool.stats().available == 1


def test_borrow_releases_even_when_the_block_raises(manager: MemoryManager) -> None:
    pool = make_pool(manager)
    with pytest.raises(ValueError), pool.borrow() as bar:
        bar.symbol = "MSFT"
        raise ValueError("strategy bug")
    assert pool.stats().in_use == 0
    with pool.borrow() as again:
        assert again is bar and again.symbol == ""


def test_a_reset_that_fails_drops_the_object(manager: MemoryManager) -> None:
    def bad_reset(bar: Bar) -> None:
        raise RuntimeError("cannot reset")

    pool = ObjectPool(Bar, max_size=2, reset=bad_reset, memory_manager=manager)
    bar = pool.acquire()
    with pytest.raises(RuntimeError):
        pool.release(bar)
    assert (pool.stats().in_use, pool.stats().available) == (0, 0)


def test_trim_and_memory_pressure_empty_the_pool(manager: MemoryManager) -> None:
    pool = make_pool(manager)
    bars = [pool.acquire() for _ in range(4)]
    for bar in bars:
        pool.release(bar)
    assert pool.trim(keep=1) == 3
    assert len(pool) == 1
    assert manager.release_memory_pressure().pool_objects_released == 1
    assert len(pool) == 0


def test_registration_does_not_keep_the_pool_alive(manager: MemoryManager) -> None:
    pool = make_pool(manager)
    ref = weakref.ref(pool)
    del pool
    gc.collect()
    assert ref() is None
    assert manager.release_memory_pressure().pool_objects_released == 0


def test_threads_never_share_an_object(manager: MemoryManager) -> None:
    pool = make_pool(manager, max_size=8)
    threads_n, rounds = 8, 2000
    barrier = threading.Barrier(threads_n)
    clashes: list[int] = []

    def work(me: int) -> None:
        barrier.wait()
        for _ in range(rounds):
            bar = pool.acquire()
            if bar.owner != -1:
                clashes.append(bar.owner)
            bar.owner = me
            if bar.owner != me:
                clashes.append(me)
            pool.release(bar)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = pool.stats()
    assert clashes == []
    assert stats.in_use == 0
    assert stats.created + stats.reused == threads_n * rounds
    assert stats.created <= threads_n


@pytest.mark.parametrize("max_size", [-1, 1.5, "3"])
def test_bad_arguments_raise(manager: MemoryManager, max_size: object) -> None:
    with pytest.raises(ConfigurationError):
        ObjectPool(Bar, max_size=max_size, memory_manager=manager)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        ObjectPool(None, max_size=1, memory_manager=manager)  # type: ignore[arg-type]


def test_pools_register_with_the_shared_manager_by_default() -> None:
    pool = ObjectPool(Bar, max_size=1)
    pool.release(pool.acquire())
    report = MemoryManager.get_instance().release_memory_pressure()
    assert report.pool_objects_released >= 1
    assert len(pool) == 0
