"""RQExecutor: the RQ fleet as a ``concurrent.futures.Executor``.

Code written for ``ProcessPoolExecutor`` runs on the fleet unchanged: ``submit`` returns
a future, ``map`` yields results in order (chunked: ``chunksize=None`` picks guided
chunk sizes), ``shutdown`` waits or cancels. The function must be importable by
the workers (a module-level ``def``); a failed call raises
:class:`~admf_perf.execution.errors.TaskItemError` carrying the remote traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_futures
from typing import Any

from admf_perf.execution.calls import MODE_CALL, MODE_ONE, MODE_STAR
from admf_perf.execution.rq_backend import RQBackend
from admf_perf.execution.runs import MapRun
from admf_perf.execution.serializer import function_path
from admf_perf.execution.stats import StatsBook
from admf_perf.execution.tracker import CallOptions


class RQExecutor(Executor):
    """An ``Executor`` over RQ workers: ``RQExecutor(url, queue)`` or ``RQExecutor(backend=...)``.

    ``timeout`` and ``retries`` apply to every call (seconds per call, re-runs of a call
    that raised); ``task_name`` labels the jobs in RQ's tools and the statistics.
    """

    def __init__(
        self,
        url: str | None = None,
        queue: str | None = None,
        *,
        backend: RQBackend | None = None,
        task_name: str | None = None,
        timeout: float | None = None,
        retries: int = 0,
        retry_backoff: float = 0.5,
        progress: bool | None = False,
        **backend_options: Any,
    ) -> None:
        self.backend = backend or RQBackend(url, queue, **backend_options)
        self._owns_backend = backend is None
        self.task_name = task_name
        self.timeout = timeout
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.progress = progress
        self.stats = StatsBook()
        self._futures: set[Future[Any]] = set()
        self._runs: list[MapRun] = []
        self._shutdown = False

    def _options(self, fn: Callable[..., Any] | str, mode: int) -> CallOptions:
        path = function_path(fn)  # type: ignore[arg-type]
        return CallOptions(
            path, mode, self.task_name or path, self.timeout, self.retries, self.retry_backoff
        )

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        future = self.backend.submit(self._options(fn, MODE_CALL), args, kwargs, self.stats)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        return future

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int | None = None,
    ) -> Iterator[Any]:
        """Results of ``fn(*args)`` for ``args`` in ``zip(*iterables)``, in order;
        ``timeout`` (seconds from this call) bounds the whole iteration."""
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        deadline = None if timeout is None else time.monotonic() + timeout
        run = self.map_run(
            fn, list(zip(*iterables, strict=False)), mode=MODE_STAR, chunksize=chunksize
        )
        return _ordered(run, deadline)

    def imap_unordered(
        self, fn: Callable[..., Any], items: Iterable[Any], chunksize: int | None = None
    ) -> MapRun:
        """Results of ``fn(item)`` as they finish; the run also has ``cancel()``."""
        return self.map_run(fn, list(items), mode=MODE_ONE, chunksize=chunksize)

    def map_run(
        self,
        fn: Callable[..., Any],
        items: list[Any],
        *,
        mode: int = MODE_ONE,
        chunksize: int | None = None,
        return_exceptions: bool = False,
    ) -> MapRun:
        options = self._options(fn, mode)
        run = self.backend.map(
            options.fn_path,
            items,
            options=options,
            chunksize=chunksize,
            task_name=options.task_name,
            return_exceptions=return_exceptions,
            stats=self.stats,
            progress=self.progress,
        )
        self._runs = [r for r in self._runs if not r.done()] + [run]
        return run

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True
        if cancel_futures:
            for future in list(self._futures):
                future.cancel()
            for run in self._runs:
                run.cancel()
        if wait:
            wait_futures(list(self._futures))
        if self._owns_backend:
            self.backend.close(cancel=cancel_futures)


def _ordered(run: MapRun, deadline: float | None) -> Iterator[Any]:
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        yield from run.iter_ordered(remaining)
    finally:
        if not run.done():
            run.cancel()
