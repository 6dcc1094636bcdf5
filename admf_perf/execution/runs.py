"""A map in flight, whatever runs it: results as they finish, in order, or cancelled.

:class:`MapRun` holds the items and their results; a backend subclass only says how
to wait for the next outcomes (:meth:`MapRun._collect`) and how to drop what has not
started (:meth:`MapRun._cancel_pending`). Outcomes are deduplicated by item index, so
an item run twice (a worker presumed dead finished after all) is returned once.

- iterate the run: results as they finish (``imap_unordered``); a failed item raises
  its :class:`TaskItemError` from ``next()`` and the iteration can go on after it;
- :meth:`MapRun.result`: every result in item order (``map_tasks``);
- :meth:`MapRun.cancel` (or Ctrl-C while waiting): pending work is removed.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

from admf_perf.execution.calls import Outcome
from admf_perf.execution.errors import TaskCancelledError, TaskItemError
from admf_perf.execution.progress import MapProgress
from admf_perf.execution.stats import StatsBook

_MISSING = object()
WAIT_SLICE = 1.0
"""Longest single wait, so Ctrl-C and deadlines are seen promptly."""


class MapRun:
    """Results of ``fn`` over ``items`` as they arrive; see the module doc."""

    def __init__(
        self,
        items: Sequence[Any],
        *,
        task_name: str,
        return_exceptions: bool = False,
        stats: StatsBook | None = None,
        progress: bool | None = None,
        with_index: bool = False,
    ) -> None:
        self.items = items
        self.task_name = task_name
        self.return_exceptions = return_exceptions
        self.with_index = with_index
        self._stats = stats
        self._values: list[Any] = [_MISSING] * len(items)
        self._ok: list[bool] = [True] * len(items)
        self._ready: deque[int] = deque()
        self._finished = 0
        self._closed = False
        self._cancelled = False
        self._progress = MapProgress(len(items), task_name, progress)

    # -- what a backend provides ---------------------------------------------------------
    def _collect(self, timeout: float) -> list[tuple[int, Outcome]]:
        """Outcomes that arrived within ``timeout`` seconds (possibly none)."""
        raise NotImplementedError

    def _cancel_pending(self) -> None:
        """Remove work that has not started; ask running work to stop."""
        raise NotImplementedError

    def _release(self) -> None:
        """Free what the run holds (keys, futures) once it is over."""

    # -- state -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    @property
    def completed(self) -> int:
        """Items with a result (or an error) so far."""
        return self._finished

    def done(self) -> bool:
        return self._finished >= len(self.items) or self._cancelled

    def cancelled(self) -> bool:
        return self._cancelled

    # -- collecting --------------------------------------------------------------------
    def _accept(self, batch: list[tuple[int, Outcome]]) -> None:
        timings: list[tuple[float, bool]] = []
        for index, (ok, payload, seconds, attempts) in batch:
            if self._values[index] is not _MISSING:
                continue
            value = payload
            if not ok:
                exc_type, message, remote_tb = payload
                value = TaskItemError(
                    task_name=self.task_name,
                    index=index,
                    item=self.items[index],
                    exc_type=str(exc_type),
                    message=str(message),
                    remote_traceback=str(remote_tb),
                    attempts=attempts,
                )
            self._values[index] = value
            self._ok[index] = ok
            self._ready.append(index)
            timings.append((seconds, ok))
        if timings:
            self._finished += len(timings)
            if self._stats is not None:
                self._stats.record_many(self.task_name, timings)
            self._progress.advance(len(timings))
        if self._finished >= len(self.items):
            self._close()

    def _pump(self, deadline: float | None) -> None:
        if self._cancelled:
            raise TaskCancelledError(f"map {self.task_name} was cancelled")
        wait = WAIT_SLICE
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
            if wait <= 0:
                raise TimeoutError(
                    f"map {self.task_name}: {len(self.items) - self._finished} items "
                    "still running at the deadline"
                )
        self._accept(self._collect(wait))

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            while not self._ready:
                if self._finished >= len(self.items):
                    raise StopIteration
                self._pump(None)
        except KeyboardInterrupt:
            self.cancel()
            raise
        return self._emit(self._ready.popleft())

    def _emit(self, index: int) -> Any:
        value = self._values[index]
        if not self._ok[index] and not self.return_exceptions:
            raise value
        return (index, value) if self.with_index else value

    def iter_ordered(self, timeout: float | None = None) -> Iterator[Any]:
        """Results in item order, each as soon as it and all before it are in."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for index in range(len(self.items)):
            try:
                while self._values[index] is _MISSING:
                    self._pump(deadline)
            except KeyboardInterrupt:
                self.cancel()
                raise
            yield self._emit(index)

    def result(self, timeout: float | None = None) -> list[Any]:
        """Every result in item order; raises the first failed item's error unless
        ``return_exceptions``. Waits for all items, so one failure affects no other."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while self._finished < len(self.items):
                self._pump(deadline)
        except KeyboardInterrupt:
            self.cancel()  # Ctrl-C: take the map's pending jobs off the queue
            raise
        self._ready.clear()
        if not self.return_exceptions:
            for index, ok in enumerate(self._ok):
                if not ok:
                    raise self._values[index]
        return list(self._values)

    # -- ending ------------------------------------------------------------------------
    def cancel(self) -> bool:
        """Remove the map's pending work; True unless it had already finished."""
        if self._finished >= len(self.items) or self._cancelled:
            return False
        self._cancelled = True
        try:
            self._cancel_pending()
        finally:
            self._close()
        return True

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._progress.close()
            self._release()

    def __enter__(self) -> MapRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.done():
            self.cancel()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True) and not self.done():
            with contextlib.suppress(Exception):
                self.cancel()
