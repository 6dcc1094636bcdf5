"""The local backend: a shared thread pool and a shared process pool in this process.

Maps go to the pools in chunks (:func:`~admf_perf.execution.calls.run_items`), so a
process pool pays one pickle round trip per chunk, not per item; a task that raises
becomes that item's outcome and the chunk goes on. Chunks are cut by
:mod:`~admf_perf.execution.chunking` (guided sizes on process pools by default).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from typing import Any

from admf_perf.errors import ConfigurationError
from admf_perf.execution.calls import Outcome, error_info, run_items
from admf_perf.execution.runs import MapRun


class LocalPools:
    """The thread and process pools of one :class:`CPUManager`, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: ThreadPoolExecutor | None = None
        self._processes: ProcessPoolExecutor | None = None
        self.thread_workers = min(32, (os.cpu_count() or 1) + 4)
        self.process_workers = os.cpu_count() or 1

    def init_thread_pool(self, max_workers: int | None = None) -> ThreadPoolExecutor:
        workers = _check_workers(max_workers, self.thread_workers)
        with self._lock:
            old, self._threads = self._threads, None
            self.thread_workers = workers
            self._threads = ThreadPoolExecutor(workers, thread_name_prefix="admf-cpu")
        if old is not None:
            old.shutdown(wait=False)
        return self._threads

    def init_process_pool(self, max_workers: int | None = None) -> ProcessPoolExecutor:
        workers = _check_workers(max_workers, self.process_workers)
        with self._lock:
            old, self._processes = self._processes, None
            self.process_workers = workers
            self._processes = ProcessPoolExecutor(workers)
        if old is not None:
            old.shutdown(wait=False)
        return self._processes

    def pool(self, use_process: bool) -> Executor:
        with self._lock:
            current: Executor | None = self._processes if use_process else self._threads
        if current is not None:
            return current
        if use_process:
            return self.init_process_pool(self.process_workers)
        return self.init_thread_pool(self.thread_workers)

    def workers(self, use_process: bool) -> int:
        return self.process_workers if use_process else self.thread_workers

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        with self._lock:
            pools: list[Executor | None] = [self._threads, self._processes]
            self._threads = self._processes = None
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def _check_workers(value: int | None, default: int) -> int:
    workers = default if value is None else value
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigurationError(f"max_workers must be an int >= 1, got {value!r}")
    return workers


class LocalMapRun(MapRun):
    """A map on a local pool: one future per chunk."""

    def __init__(
        self,
        pool: Executor,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        mode: int,
        chunks: list[range],
        timeout: float | None,
        retries: int,
        backoff: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(items, **kwargs)
        self._pending: dict[Future[list[Outcome]], range] = {}
        for indices in chunks:
            chunk = [items[i] for i in indices]
            future = pool.submit(run_items, fn, chunk, mode, timeout, retries, backoff)
            self._pending[future] = indices
        if not items:
            self._close()

    def _collect(self, timeout: float) -> list[tuple[int, Outcome]]:
        done, _ = wait(self._pending, timeout=timeout, return_when=FIRST_COMPLETED)
        batch: list[tuple[int, Outcome]] = []
        for future in done:
            indices = self._pending.pop(future)
            try:
                outcomes = future.result()
            except BaseException as exc:  # the pool broke, or fn/items did not pickle
                failed: Outcome = (False, error_info(exc), 0.0, 1)
                outcomes = [failed] * len(indices)
            batch.extend(zip(indices, outcomes, strict=True))
        return batch

    def _cancel_pending(self) -> None:
        for future in self._pending:
            future.cancel()

    def _release(self) -> None:
        self._pending.clear()


def timed_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``fn(*args, **kwargs)`` with its run time: ``(ok, value or exception, seconds)``."""
    start = time.perf_counter()
    try:
        value = fn(*args, **kwargs)
    except Exception as exc:
        return False, exc, time.perf_counter() - start
    return True, value, time.perf_counter() - start


def submit_local(
    pool: Executor,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    on_done: Callable[[float, bool], None],
) -> Future[Any]:
    """A future of ``fn(*args, **kwargs)`` on ``pool`` that raises the task's own
    exception; ``on_done(seconds, ok)`` feeds the statistics."""
    inner = pool.submit(timed_call, fn, args, kwargs)
    outer: Future[Any] = Future()

    def finish(done: Future[Any]) -> None:
        if outer.cancelled():
            return
        try:
            ok, value, seconds = done.result()
        except BaseException as exc:  # cancelled, broken pool, unpicklable call
            _settle(outer, None, exc)
            return
        on_done(seconds, ok)
        if ok:
            _settle(outer, value, None)
        else:
            _settle(outer, None, value)

    def propagate_cancel(done: Future[Any]) -> None:
        if done.cancelled():
            inner.cancel()

    outer.add_done_callback(propagate_cancel)
    inner.add_done_callback(finish)
    return outer


def _settle(future: Future[Any], value: Any, exc: BaseException | None) -> None:
    try:
        if exc is None:
            future.set_result(value)
        else:
            future.set_exception(exc)
    except Exception:  # InvalidStateError: cancelled meanwhile
        pass
