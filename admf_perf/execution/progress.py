"""A progress bar for long maps, on a terminal only (rich.progress on stderr).

``progress=None`` (the default) shows the bar once a map has run for a second, so
short maps print nothing; ``True`` shows it at once; ``False`` never. When stderr is
not a terminal (CI logs, pipes, worker output) there is never a bar.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

DELAY = 1.0
"""Seconds a map with ``progress=None`` runs before its bar appears."""


class MapProgress:
    """Counts finished items and draws them when allowed; cheap when it draws nothing."""

    def __init__(self, total: int, description: str, progress: bool | None) -> None:
        self.total = total
        self.description = description
        self.done = 0
        self._start = time.monotonic()
        self._delay = 0.0 if progress else DELAY
        self._bar: Progress | None = None
        self._task: object = None
        self._enabled = progress is not False and total > 0 and _stderr_is_terminal()
        if self._enabled and progress:
            self._open()

    def _open(self) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(self.description, total=self.total, completed=self.done)

    def advance(self, count: int = 1) -> None:
        self.done += count
        if not self._enabled:
            return
        if self._bar is None:
            if time.monotonic() - self._start < self._delay:
                return
            self._open()
        assert self._bar is not None
        self._bar.update(self._task, completed=self.done)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        self._enabled = False


def _stderr_is_terminal() -> bool:
    return Console(stderr=True).is_terminal
