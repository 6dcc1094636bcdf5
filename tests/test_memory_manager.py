"""MemoryManager: readings, allocation tracking, pressure thresholds and release."""

from __future__ import annotations

import gc
import multiprocessing
import threading
import weakref

import numpy as np
import pandas as pd
import pytest

from admf_perf.errors import AdmfPerfError, ConfigurationError
from admf_perf.resources import MemoryManager, MemoryUsage, ObjectPool


class Probe:
    """A pressure source the test controls: returns whatever usage it is set to."""

    def __init__(self, system_fraction: float = 0.1, rss: int = 0) -> None:
        self.usage = MemoryUsage(system_fraction, rss)

    def set(self, system_fraction: float = 0.1, rss: int = 0) -> None:
        self.usage = MemoryUsage(system_fraction, rss)

    def __call__(self) -> MemoryUsage:
        return self.usage


@pytest.fixture
def manager() -> MemoryManager:
    return MemoryManager(system_threshold=0.9, rss_threshold=None, probe=Probe())


def test_process_and_system_memory_are_real_readings() -> None:
    proc = MemoryManager.process_memory()
    system = MemoryManager.system_memory()
    assert 0 < proc.rss <= proc.vms
    assert 0 < system.available <= system.total
    assert 0.0 <= system.used_fraction <= 1.0


def test_default_probe_reads_this_process() -> None:
    usage = MemoryManager(probe=None).usage()
    assert usage.rss > 10 * 1024 * 1024
    assert 0.0 < usage.system_fraction < 1.0


def test_tracking_measures_numpy_and_releases_on_garbage_collection(
    manager: MemoryManager,
) -> None:
    array = np.zeros(1000, dtype=np.float64)
    assert manager.track_allocation(array) == 8000
    assert manager.tracked_bytes() == 8000
    assert manager.tracked_count() == 1
    del array
    gc.collect()
    assert manager.tracked_bytes() == 0
    assert manager.tracked_count() == 0


def test_tracking_measures_pandas_deeply(manager: MemoryManager) -> None:
    frame = pd.DataFrame({"a": np.arange(100), "s": ["x" * 50] * 100})
    size = manager.track_allocation(frame)
    assert size == int(frame.memory_usage(deep=True).sum())
    assert size > 100 * 8 + 100 * 50


def test_explicit_size_retracking_and_untrack(manager: MemoryManager) -> None:
    array = np.zeros(10)
    manager.track_allocation(array, size=500)
    manager.track_allocation(array, size=700)
    assert manager.tracked_bytes() == 700
    assert manager.untrack(array) is True
    assert manager.untrack(array) is False
    assert manager.tracked_bytes() == 0
    del array
    gc.collect()
    assert manager.tracked_bytes() == 0


def test_objects_without_weak_references_are_refused_clearly(manager: MemoryManager) -> None:
    with pytest.raises(ConfigurationError, match="weakly referenced"):
        manager.track_allocation([1, 2, 3])
    with pytest.raises(ConfigurationError):
        manager.track_allocation(np.zeros(3), size=-1)


def test_pressure_thresholds_on_system_fraction_and_rss() -> None:
    probe = Probe()
    manager = MemoryManager(system_threshold=0.8, rss_threshold=1000, probe=probe)
    assert not manager.is_memory_pressure_high()
    probe.set(system_fraction=0.8)
    assert manager.is_memory_pressure_high()
    probe.set(system_fraction=0.1, rss=1000)
    assert manager.is_memory_pressure_high()
    manager.set_threshold(system_threshold=None, rss_threshold=None)
    assert not manager.is_memory_pressure_high(MemoryUsage(1.0, 10**12))


@pytest.mark.parametrize(("system", "rss"), [(0.0, None), (1.5, None), (None, 0), (None, -5)])
def test_bad_thresholds_raise(system: float | None, rss: int | None) -> None:
    with pytest.raises(ConfigurationError):
        MemoryManager(system_threshold=system, rss_threshold=rss)


class FakeCacheCopy:
    """Stands in for a cache's local copy: frees its entries when asked."""

    def __init__(self, entries: int) -> None:
        self.entries = entries

    def release(self) -> int:
        freed, self.entries = self.entries, 0
        return freed


def test_release_runs_hooks_trims_pools_and_collects(manager: MemoryManager) -> None:
    cache = FakeCacheCopy(entries=42)
    manager.add_release_hook(cache.release, name="cache")
    manager.add_release_hook(lambda: 1024, name="buffers")

    def broken() -> int:
        raise RuntimeError("boom")

    manager.add_release_hook(broken, name="broken")
    pool: ObjectPool[list[int]] = ObjectPool(list, max_size=5, memory_manager=manager)
    held = [pool.acquire() for _ in range(3)]
    for obj in held:
        pool.release(obj)

    class Cycle:
        pass

    cycle = Cycle()
    cycle.me = cycle  # type: ignore[attr-defined]
    alive = weakref.ref(cycle)
    del cycle, held

    report = manager.release_memory_pressure()
    assert report.hooks == {"cache": 42, "buffers": 1024}
    assert "broken" in report.errors and "boom" in report.errors["broken"]
    assert report.pool_objects_released == 3
    assert pool.stats().available == 0
    assert cache.entries == 0
    assert alive() is None
    assert report.gc_collected >= 1


def test_bound_method_hooks_do_not_keep_their_owner_alive(manager: MemoryManager) -> None:
    cache = FakeCacheCopy(entries=7)
    owner = weakref.ref(cache)
    manager.add_release_hook(cache.release, name="cache")
    del cache
    gc.collect()
    assert owner() is None
    assert manager.release_memory_pressure().hooks == {}


def test_remove_release_hook(manager: MemoryManager) -> None:
    name = manager.add_release_hook(lambda: 5)
    assert manager.remove_release_hook(name) is True
    assert manager.remove_release_hook(name) is False
    assert manager.release_memory_pressure().hooks == {}
    with pytest.raises(ConfigurationError):
        manager.add_release_hook(5)  # type: ignore[arg-type]


def test_pressure_callbacks_fire_only_when_pressure_is_high() -> None:
    probe = Probe()
    manager = MemoryManager(system_threshold=0.5, probe=probe)
    seen: list[MemoryUsage] = []

    def failing(usage: MemoryUsage) -> None:
        raise RuntimeError("callback bug")

    manager.on_pressure(failing)
    manager.on_pressure(seen.append)
    manager.add_release_hook(lambda: 3, name="h")
    assert manager.check_pressure() is None
    assert seen == []
    probe.set(system_fraction=0.75)
    report = manager.check_pressure()
    assert report is not None and report.hooks == {"h": 3}
    assert seen == [MemoryUsage(0.75, 0)]
    assert manager.check_pressure(release=False) is not None
    assert len(seen) == 2


def test_get_instance_is_one_object_across_threads() -> None:
    MemoryManager._forget_instance()
    barrier = threading.Barrier(16)
    found: list[MemoryManager] = []

    def grab() -> None:
        barrier.wait()
        found.append(MemoryManager.get_instance())

    threads = [threading.Thread(target=grab) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 16
    assert all(m is found[0] for m in found)


def _child_report(parent: MemoryManager, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    child = MemoryManager.get_instance()
    queue.put((child is parent, child.tracked_count()))


def test_a_forked_child_gets_a_fresh_instance() -> None:
    parent = MemoryManager.get_instance()
    array = np.zeros(100)
    parent.track_allocation(array)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_report, args=(parent, queue))
    proc.start()
    same, count = queue.get(timeout=30)
    proc.join(timeout=30)
    assert proc.exitcode == 0
    assert same is False
    assert count == 0
    assert parent.untrack(array)


def test_errors_share_the_library_root() -> None:
    with pytest.raises(AdmfPerfError):
        MemoryManager(system_threshold=2.0)


def test_trim_heap_reports_whether_it_could_trim() -> None:
    import platform

    from admf_perf.resources.memory import trim_heap

    assert trim_heap() is (platform.libc_ver()[0] == "glibc")
