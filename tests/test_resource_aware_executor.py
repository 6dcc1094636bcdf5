"""ResourceAwareExecutor: order, sequential choice, and parallelism following memory pressure.

Pressure comes from a MemoryManager built with a ``probe`` the test controls (its
documented parameter) and release hooks standing in for a cache that frees memory.
"""

from __future__ import annotations

import threading

import pytest

from admf_perf.errors import ConfigurationError
from admf_perf.resources import (
    MemoryManager,
    MemoryUsage,
    PressureEvent,
    ResourceAwareExecutor,
)

HIGH = 10_000
"""RSS threshold (bytes) of the test managers; the probe reports 0 or HIGH."""


class Pressure:
    """The controllable pressure source: ``high`` flips the probe's RSS over the threshold."""

    def __init__(self) -> None:
        self.high = False
        self.lock = threading.Lock()

    def probe(self) -> MemoryUsage:
        with self.lock:
            return MemoryUsage(system_fraction=0.0, rss=HIGH if self.high else 0)

    def set(self, high: bool) -> None:
        with self.lock:
            self.high = high


def square(x: int) -> int:
    return x * x


def make(pressure: Pressure, **kw: object) -> tuple[ResourceAwareExecutor, MemoryManager]:
    manager = MemoryManager(system_threshold=None, rss_threshold=HIGH, probe=pressure.probe)
    options: dict[str, object] = {
        "max_workers": 4,
        "use_process": False,
        "memory_manager": manager,
        "cpu_probe": lambda: 0.0,
        "batch_size": 4,
        "min_task_seconds": 0.0,
    }
    options.update(kw)
    return ResourceAwareExecutor(**options), manager  # type: ignore[arg-type]


def test_results_come_back_in_task_order_from_pool_threads() -> None:
    executor, _ = make(Pressure())
    seen: set[int] = set()

    def work(x: int) -> int:
        seen.add(threading.get_ident())
        return square(x)

    assert executor.run(work, range(40)) == [x * x for x in range(40)]
    assert threading.get_ident() not in seen
    assert executor.parallelism_history == [4] * 10


def test_parallelism_halves_under_pressure_and_recovers() -> None:
    pressure = Pressure()
    executor, manager = make(pressure)
    freed: list[int] = []

    def release_cache() -> int:  # the cache frees its local copies: pressure goes away
        pressure.set(False)
        freed.append(1)
        return 123

    manager.add_release_hook(release_cache, name="cache")
    events: list[PressureEvent] = []
    executor.on_pressure(events.append)
    warned: list[MemoryUsage] = []
    manager.on_pressure(warned.append)

    def backtest(x: int) -> int:
        if x == 5:  # one backtest of the second batch blows memory up
            pressure.set(True)
        return square(x)

    assert executor.run(backtest, range(36)) == [x * x for x in range(36)]
    # batches: [0-3] at 4, [4-7] at 4 -> pressure seen -> 2, then +1 per calm batch.
    history = executor.parallelism_history
    assert history[:5] == [4, 4, 2, 3, 4]
    assert all(p == 4 for p in history[5:])
    assert len(events) == 1 and len(warned) == 1 and freed == [1]
    event = events[0]
    assert (event.parallelism_before, event.parallelism_after) == (4, 2)
    assert event.report is not None and event.report.hooks == {"cache": 123}


def test_persistent_pressure_goes_down_to_min_workers() -> None:
    pressure = Pressure()
    pressure.set(True)
    executor, _ = make(pressure, max_workers=8, min_workers=2, batch_size=2)
    assert executor.run(square, range(12)) == [x * x for x in range(12)]
    assert executor.parallelism_history == [4, 2, 2, 2, 2, 2]
    pressure.set(False)
    executor.run(square, range(8))
    assert executor.parallelism_history[6:] == [3, 4, 5, 6]


def test_high_cpu_holds_parallelism() -> None:
    pressure = Pressure()
    pressure.set(True)
    cpu = {"percent": 0.0}
    executor, _ = make(pressure, cpu_probe=lambda: cpu["percent"], cpu_high=80.0)
    executor.run(square, range(4))
    pressure.set(False)
    cpu["percent"] = 95.0
    executor.run(square, range(12))
    assert executor.parallelism_history == [2, 2, 2, 2]
    cpu["percent"] = 10.0
    executor.run(square, range(4))
    assert executor.parallelism_history[-1] == 3


def test_tiny_task_lists_run_sequentially_in_the_caller() -> None:
    executor, _ = make(Pressure(), sequential_below=5)
    threads: set[int] = set()

    def work(x: int) -> int:
        threads.add(threading.get_ident())
        return x + 1

    assert executor.run(work, [1, 2, 3]) == [2, 3, 4]
    assert threads == {threading.get_ident()}
    assert executor.parallelism_history == [1]
    assert executor.run(work, []) == []


def test_short_tasks_switch_to_sequential_after_the_first_batch() -> None:
    executor, _ = make(Pressure(), min_task_seconds=10.0)
    threads: list[int] = []

    def work(x: int) -> int:
        threads.append(threading.get_ident())
        return x

    assert executor.run(work, range(12)) == list(range(12))
    assert executor.parallelism_history == [4, 1, 1]
    assert threads[4:] == [threading.get_ident()] * 8


def test_a_failing_task_raises_after_in_flight_tasks_finish() -> None:
    executor, _ = make(Pressure())
    started: list[int] = []

    def work(x: int) -> int:
        started.append(x)
        if x == 6:
            raise ValueError("bad parameters")
        return x

    with pytest.raises(ValueError, match="bad parameters"):
        executor.run(work, range(40))
    assert max(started) < 8  # nothing after the failing batch was submitted


def test_process_pool_tasks_with_the_cpu_managers_cpu_reading() -> None:
    executor, _ = make(Pressure(), use_process=True, max_workers=2, cpu_probe=None)
    assert executor.run(square, range(10)) == [x * x for x in range(10)]
    assert 0.0 <= executor.cpu_probe() <= 100.0


@pytest.mark.parametrize(
    "kw",
    [{"max_workers": 0}, {"min_workers": 9}, {"batch_size": 0}, {"min_task_seconds": -1.0}],
)
def test_bad_arguments_raise(kw: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        make(Pressure(), **kw)
