"""Per-task-name execution statistics: count, failures, total/min/max/avg seconds.

Times are measured where the task ran (pool thread, pool process or RQ worker) and
cover all attempts of an item, so queueing and transport are not counted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class TaskStats:
    """Counters of one task name."""

    count: int = 0
    failures: int = 0
    total_time: float = 0.0
    min_time: float = 0.0
    max_time: float = 0.0

    @property
    def avg_time(self) -> float:
        return self.total_time / self.count if self.count else 0.0

    def add(self, seconds: float, ok: bool) -> None:
        self.min_time = seconds if self.count == 0 else min(self.min_time, seconds)
        self.max_time = max(self.max_time, seconds)
        self.count += 1
        self.total_time += seconds
        if not ok:
            self.failures += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "failures": self.failures,
            "total_time": self.total_time,
            "min_time": self.min_time,
            "max_time": self.max_time,
            "avg_time": self.avg_time,
        }


class StatsBook:
    """Thread-safe :class:`TaskStats` by task name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, TaskStats] = {}

    def record(self, name: str, seconds: float, ok: bool) -> None:
        with self._lock:
            stats = self._by_name.get(name)
            if stats is None:
                stats = self._by_name[name] = TaskStats()
            stats.add(seconds, ok)

    def record_many(self, name: str, entries: list[tuple[float, bool]]) -> None:
        with self._lock:
            stats = self._by_name.get(name)
            if stats is None:
                stats = self._by_name[name] = TaskStats()
            for seconds, ok in entries:
                stats.add(seconds, ok)

    def get(self, name: str) -> dict[str, Any]:
        with self._lock:
            return (self._by_name.get(name) or TaskStats()).to_dict()

    def all(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: s.to_dict() for name, s in sorted(self._by_name.items())}

    def reset(self) -> None:
        with self._lock:
            self._by_name.clear()
