"""ResourceAwareExecutor: run a list of backtests in parallel, backing off under pressure.

Tasks go through :class:`admf_perf.execution.CPUManager` in batches, with at most
``parallelism`` of them in flight. Before each batch the executor reads memory through
its :class:`~admf_perf.resources.MemoryManager` and CPU load through ``cpu_probe``:

- memory pressure high: the manager's callbacks run, memory is released (hooks, pools,
  ``gc.collect()``), parallelism is halved (not below ``min_workers``) and the executor's
  own ``on_pressure`` callbacks get a :class:`PressureEvent`;
- otherwise, CPU below ``cpu_high`` percent: parallelism grows by one, up to
  ``max_workers`` (additive increase, multiplicative decrease: it recovers without
  oscillating straight back into pressure);
- otherwise it stays as it is.

Tiny task lists (fewer than ``sequential_below``) run sequentially in the calling
thread, and so does the rest of a run whose first batch shows tasks shorter than
``min_task_seconds``, where dispatch overhead would dominate. ``parallelism_history``
records the parallelism of every batch (1 for sequential ones).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

from admf_perf.errors import ConfigurationError
from admf_perf.resources.memory import MemoryManager, MemoryUsage, PressureReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PressureEvent:
    """What the executor did about memory pressure before one batch."""

    usage: MemoryUsage
    parallelism_before: int
    parallelism_after: int
    report: PressureReport | None


class ResourceAwareExecutor:
    """Runs ``fn(task)`` for each task, in parallel, adapting to memory and CPU load.

    ``memory_manager`` defaults to ``MemoryManager.get_instance()``; give one built with a
    ``probe`` to drive pressure from elsewhere. ``cpu_probe()`` returns system CPU percent
    (default: ``CPUManager.get_cpu_usage()["system"]``). ``batch_size`` defaults to twice
    the current parallelism. ``use_process`` runs tasks in the CPUManager's process pool
    (``fn`` and tasks must pickle); threads only help tasks that release the GIL. Real
    concurrency is also capped by the CPUManager's pool size (``init_process_pool(n)``).
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        min_workers: int = 1,
        use_process: bool = True,
        memory_manager: MemoryManager | None = None,
        cpu_manager: Any = None,
        cpu_probe: Callable[[], float] | None = None,
        cpu_high: float = 85.0,
        batch_size: int | None = None,
        sequential_below: int = 2,
        min_task_seconds: float = 0.001,
        release_on_pressure: bool = True,
        task_name: str | None = None,
    ) -> None:
        workers = max_workers if max_workers is not None else (os.cpu_count() or 1)
        if not isinstance(workers, int) or workers < 1:
            raise ConfigurationError(f"max_workers must be an int >= 1, got {max_workers!r}")
        if not isinstance(min_workers, int) or not 1 <= min_workers <= workers:
            raise ConfigurationError(
                f"min_workers must be an int in [1, max_workers={workers}], got {min_workers!r}"
            )
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ConfigurationError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if min_task_seconds < 0:
            raise ConfigurationError(f"min_task_seconds must be >= 0, got {min_task_seconds!r}")
        self.max_workers = workers
        self.min_workers = min_workers
        self.use_process = use_process
        self.memory_manager = memory_manager or MemoryManager.get_instance()
        self._cpu_manager = cpu_manager
        self.cpu_probe: Callable[[], float] = cpu_probe or self._system_cpu_percent
        self.cpu_high = cpu_high
        self.batch_size = batch_size
        self.sequential_below = sequential_below
        self.min_task_seconds = min_task_seconds
        self.release_on_pressure = release_on_pressure
        self.task_name = task_name
        self.parallelism = workers
        self.parallelism_history: list[int] = []
        self.pressure_events: list[PressureEvent] = []
        self._callbacks: list[Callable[[PressureEvent], None]] = []

    @property
    def cpu_manager(self) -> Any:
        """The CPUManager tasks go through (the shared instance unless one was given)."""
        if self._cpu_manager is None:
            from admf_perf.execution import CPUManager

            self._cpu_manager = CPUManager.get_instance()
        return self._cpu_manager

    def on_pressure(self, callback: Callable[[PressureEvent], None]) -> None:
        """Call ``callback(event)`` each time memory pressure lowers the parallelism."""
        self._callbacks.append(callback)

    def run(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> list[Any]:
        """``[fn(t) for t in tasks]``, computed in adaptive parallel batches, in task order.

        The first task that raises stops new submissions; tasks in flight finish, then
        its exception is raised.
        """
        items: Sequence[Any] = tasks if isinstance(tasks, Sequence) else list(tasks)
        results: list[Any] = [None] * len(items)
        if len(items) < self.sequential_below:
            self.parallelism_history.append(1)
            return [fn(item) for item in items]
        sequential = False
        start = 0
        while start < len(items):
            self._adapt()
            width = 1 if sequential else self.parallelism
            stop = min(len(items), start + (self.batch_size or 2 * width))
            self.parallelism_history.append(width)
            began = time.perf_counter()
            if sequential:
                for i in range(start, stop):
                    results[i] = fn(items[i])
            else:
                self._run_batch(fn, items, range(start, stop), width, results)
            if start == 0 and self.min_task_seconds > 0:
                per_task = (time.perf_counter() - began) * width / (stop - start)
                sequential = per_task < self.min_task_seconds
            start = stop
        return results

    def _run_batch(
        self,
        fn: Callable[[Any], Any],
        items: Sequence[Any],
        indices: range,
        width: int,
        results: list[Any],
    ) -> None:
        cpu = self.cpu_manager
        todo = iter(indices)
        pending: dict[Future[Any], int] = {}
        error: BaseException | None = None
        while True:
            while error is None and len(pending) < width:
                i = next(todo, None)
                if i is None:
                    break
                future = cpu.submit_task(
                    fn, items[i], use_process=self.use_process, task_name=self.task_name
                )
                pending[future] = i
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                try:
                    results[i] = future.result()
                except BaseException as exc:
                    error = error or exc
        if error is not None:
            raise error

    def _adapt(self) -> None:
        manager = self.memory_manager
        usage = manager.usage()
        if manager.is_memory_pressure_high(usage):
            report = manager.check_pressure(release=self.release_on_pressure, usage=usage)
            before = self.parallelism
            self.parallelism = max(self.min_workers, before // 2)
            event = PressureEvent(usage, before, self.parallelism, report)
            self.pressure_events.append(event)
            log.info("memory pressure: parallelism %d -> %d", before, self.parallelism)
            for callback in list(self._callbacks):
                try:
                    callback(event)
                except Exception:
                    log.exception("pressure callback %r failed", callback)
        elif self.parallelism < self.max_workers and self.cpu_probe() < self.cpu_high:
            self.parallelism += 1

    def _system_cpu_percent(self) -> float:
        """System CPU percent since the previous reading, from the CPUManager."""
        return float(self.cpu_manager.get_cpu_usage()["system"])
