"""A deliberately simple reference model of the strategies (lists, linear scans), written
from the table in ``admf_perf.caching.strategy``; the stores must agree with it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelCache:
    strategy: str  # lru, lfu, fifo, unbounded (no TTL in the model)
    max_size: int
    entries: dict[str, object] = field(default_factory=dict)
    reads: dict[str, int] = field(default_factory=dict)
    last_use: dict[str, int] = field(default_factory=dict)
    clock: int = 0
    hits: int = 0
    misses: int = 0
    sets: int = 0
    evictions: int = 0
    invalidations: int = 0

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    def get(self, key: str) -> object:
        if key not in self.entries:
            self.misses += 1
            return None
        self.hits += 1
        self.reads[key] += 1
        if self.strategy in ("lru", "lfu"):
            self.last_use[key] = self._tick()
        return self.entries[key]

    def set(self, key: str, value: object) -> None:
        if key not in self.entries and self.strategy != "unbounded":
            while len(self.entries) >= self.max_size:
                self._remove(self._victim())
                self.evictions += 1
        self.reads.setdefault(key, 0)
        self.entries[key] = value
        self.last_use[key] = self._tick()
        self.sets += 1

    def delete(self, key: str) -> bool:
        if key in self.entries:
            self._remove(key)
            self.invalidations += 1
            return True
        return False

    def _victim(self) -> str:
        if self.strategy == "lfu":
            return min(self.entries, key=lambda k: (self.reads[k], self.last_use[k]))
        return min(self.entries, key=lambda k: self.last_use[k])

    def _remove(self, key: str) -> None:
        del self.entries[key], self.reads[key], self.last_use[key]
