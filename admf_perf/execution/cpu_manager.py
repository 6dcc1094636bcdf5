"""CPUManager: one place to run tasks in parallel, on local pools or on an RQ fleet.

The same call runs on either backend. ``backend=`` on the call wins over the manager's
own default, which wins over the settings (``configure(executor="rq")`` or
``ADMF_EXECUTOR=rq``, with ``redis_url``): ``"local"``, ``"rq"``, a Redis URL, or an
:class:`RQBackend` built with its own queue and tuning. Statistics are kept per task
name (``task_name``, else the function's import path) whatever ran the task.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any

import psutil

from admf_perf.config import get_settings
from admf_perf.errors import ConfigurationError
from admf_perf.execution import chunking
from admf_perf.execution.calls import MODE_CALL, MODE_ONE
from admf_perf.execution.local import LocalMapRun, LocalPools, submit_local
from admf_perf.execution.rq_backend import RQBackend
from admf_perf.execution.runs import MapRun
from admf_perf.execution.serializer import function_path
from admf_perf.execution.stats import StatsBook
from admf_perf.execution.tracker import CallOptions

Backend = str | RQBackend | None


class CPUManager:
    """Thread pool, process pool and RQ fleet behind one API; a process-wide singleton.

    ``CPUManager.get_instance()`` is shared by the whole process (a child process after
    ``fork`` gets a fresh one); ``CPUManager()`` builds a private one. Pools start on first
    use; :meth:`shutdown` stops them and a later call starts them again.
    """

    _instance: CPUManager | None = None
    _instance_lock = threading.Lock()

    def __init__(self, backend: Backend = None) -> None:
        self.backend = backend
        self._pools = LocalPools()
        self._stats = StatsBook()
        self._lock = threading.Lock()
        self._backends: dict[tuple[str, str, str], RQBackend] = {}
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first reading is meaningless: prime it
        psutil.cpu_percent(None)

    @classmethod
    def get_instance(cls) -> CPUManager:
        """The process-wide manager (created on first use; thread safe)."""
        instance = cls._instance
        if instance is None:
            with cls._instance_lock:
                instance = cls._instance
                if instance is None:
                    instance = cls._instance = cls()
        return instance

    @classmethod
    def _forget_after_fork(cls) -> None:
        cls._instance = None
        cls._instance_lock = threading.Lock()

    # -- pools ---------------------------------------------------------------------------
    def init_thread_pool(self, max_workers: int | None = None) -> None:
        """(Re)create the thread pool with ``max_workers`` threads."""
        self._pools.init_thread_pool(max_workers)

    def init_process_pool(self, max_workers: int | None = None) -> None:
        """(Re)create the process pool with ``max_workers`` processes."""
        self._pools.init_process_pool(max_workers)

    def rq_backend(self, backend: Backend = None) -> RQBackend | None:
        """The RQ backend a call with ``backend=`` would use, or ``None`` for local pools."""
        choice = backend if backend is not None else self.backend
        if isinstance(choice, RQBackend):
            return choice
        settings = get_settings()
        if choice is None:
            choice = settings.executor
        if choice == "local":
            return None
        if choice == "rq":
            url = settings.redis_url
            if not url:
                raise ConfigurationError(
                    "executor 'rq' needs a Redis server: configure(redis_url=...) or ADMF_REDIS_URL"
                )
        elif isinstance(choice, str) and "://" in choice:
            url = choice
        else:
            raise ConfigurationError(
                f"backend {choice!r} is unknown: use 'local', 'rq', a Redis URL or an RQBackend"
            )
        key = (url, settings.queue, settings.namespace)
        with self._lock:
            found = self._backends.get(key)
            if found is None:
                found = self._backends[key] = RQBackend(
                    url, settings.queue, namespace=settings.namespace
                )
            return found

    # -- single tasks --------------------------------------------------------------------
    def submit_task(
        self,
        fn: Callable[..., Any],
        *args: Any,
        use_process: bool = False,
        task_name: str | None = None,
        backend: Backend = None,
        **kwargs: Any,
    ) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` on a pool thread, a pool process or an RQ worker.

        On RQ the future raises :class:`~admf_perf.execution.errors.TaskItemError` (with
        the remote traceback) when the task raises; locally it raises the task's own
        exception. ``backend`` is reserved for the manager, not passed to ``fn``. On RQ,
        cancelling the future takes the call off the queue if no worker has taken it yet.
        """
        rq = self.rq_backend(backend)
        if rq is not None:
            path = function_path(fn)
            options = CallOptions(path, MODE_CALL, task_name or path)
            return rq.submit(options, args, kwargs, self._stats)
        name = task_name or _name_of(fn)

        def record(seconds: float, ok: bool) -> None:
            self._stats.record(name, seconds, ok)

        return submit_local(self._pools.pool(use_process), fn, args, kwargs, record)

    # -- maps ----------------------------------------------------------------------------
    def map_async(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        use_process: bool = False,
        task_name: str | None = None,
        chunksize: int | None = None,
        *,
        backend: Backend = None,
        timeout: float | None = None,
        retries: int = 0,
        retry_backoff: float = 0.5,
        return_exceptions: bool = False,
        progress: bool | None = None,
        with_index: bool = False,
    ) -> MapRun:
        """Start a map and return its :class:`~admf_perf.execution.runs.MapRun` handle:
        iterate it for results as they finish, ``result()`` for all in order, ``cancel()``."""
        seq: Sequence[Any] = items if isinstance(items, list | tuple | range) else list(items)
        _check_options(chunksize, timeout, retries, retry_backoff)
        rq = self.rq_backend(backend)
        common: dict[str, Any] = {
            "return_exceptions": return_exceptions,
            "stats": self._stats,
            "progress": progress,
            "with_index": with_index,
        }
        if rq is not None:
            path = function_path(fn)
            options = CallOptions(
                path, MODE_ONE, task_name or path, timeout, retries, retry_backoff
            )
            return rq.map(
                path,
                seq,
                options=options,
                chunksize=chunksize,
                task_name=options.task_name,
                **common,
            )
        pool = self._pools.pool(use_process)
        if chunksize is None and use_process:
            chunks = chunking.guided(len(seq), self._pools.workers(use_process))
        else:
            chunks = chunking.fixed(len(seq), chunksize or 1)
        return LocalMapRun(
            pool,
            fn,
            seq,
            mode=MODE_ONE,
            chunks=chunks,
            timeout=timeout,
            retries=retries,
            backoff=retry_backoff,
            task_name=task_name or _name_of(fn),
            **common,
        )

    def map_tasks(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        use_process: bool = False,
        task_name: str | None = None,
        chunksize: int | None = None,
        **options: Any,
    ) -> list[Any]:
        """``[fn(item) for item in items]`` in parallel, in item order.

        ``chunksize=None`` picks guided sizes (large chunks first, small ones last;
        1 item per chunk on threads). Options:
        ``backend``, ``timeout`` (seconds per item), ``retries`` and ``retry_backoff``
        (seconds, doubled per retry), ``return_exceptions`` (a failed item's
        :class:`TaskItemError` in its place instead of raising the first one after all
        items ran), ``progress`` (``None``: a bar on a terminal after a second).
        Ctrl-C cancels the map's pending work before it propagates. On RQ, items and
        results travel through :mod:`admf_perf.codec` (numpy arrays arrive read-only:
        copy one before mutating it) and ``fn`` must be importable by the workers.
        """
        options.pop("with_index", None)
        run = self.map_async(fn, items, use_process, task_name, chunksize, **options)
        with run:
            return run.result()

    def imap_unordered(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        use_process: bool = False,
        task_name: str | None = None,
        chunksize: int | None = None,
        **options: Any,
    ) -> MapRun:
        """Results as they finish (``with_index=True``: ``(index, result)`` pairs); takes
        the options of :meth:`map_tasks`. The returned run also has ``cancel()``."""
        return self.map_async(fn, items, use_process, task_name, chunksize, **options)

    # -- monitoring ----------------------------------------------------------------------
    def get_cpu_usage(self) -> dict[str, Any]:
        """CPU percent of the system and of this process since the previous call (psutil)."""
        load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
        return {
            "system": float(psutil.cpu_percent(None)),
            "process": float(self._process.cpu_percent(None)),
            "per_cpu": [float(p) for p in psutil.cpu_percent(None, percpu=True)],
            "cpu_count": psutil.cpu_count() or 1,
            "load_average": list(load),
        }

    def get_task_stats(self, task_name: str | None = None) -> dict[str, Any]:
        """``count, failures, total_time, min_time, max_time, avg_time`` of one task name,
        or of every name (``{name: stats}``) when ``task_name`` is ``None``."""
        if task_name is None:
            return self._stats.all()
        return self._stats.get(task_name)

    def reset_task_stats(self) -> None:
        self._stats.reset()

    # -- ending --------------------------------------------------------------------------
    def shutdown(self, wait: bool = True) -> None:
        """Stop the pools and close RQ connections (pending submitted calls are cancelled)."""
        self._pools.shutdown(wait=wait)
        with self._lock:
            backends = list(self._backends.values())
            self._backends.clear()
        for backend in backends:
            backend.close(cancel=not wait)

    def __enter__(self) -> CPUManager:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()


os.register_at_fork(after_in_child=CPUManager._forget_after_fork)


def _name_of(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return f"{module}.{name}" if module and name else repr(fn)


def _check_options(
    chunksize: int | None, timeout: float | None, retries: int, backoff: float
) -> None:
    if chunksize is not None and (not isinstance(chunksize, int) or chunksize < 1):
        raise ConfigurationError(f"chunksize must be an int >= 1 or None, got {chunksize!r}")
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise ConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"retries must be an int >= 0, got {retries!r}")
    if not isinstance(backoff, int | float) or backoff < 0:
        raise ConfigurationError(f"retry_backoff must be >= 0 seconds, got {backoff!r}")
