"""CacheStats: what a cache has done, and how many entries it holds now."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class CacheStats:
    """Counts since the cache was created (Redis store: by every process that uses it).

    ``size`` is the number of live entries at the moment of the call; ``corrupt`` counts
    payloads that could not be decoded or verified (each also counted as a miss);
    ``local_hits`` are this process's near-cache hits, which never reach Redis.
    """

    hits: int = 0
    misses: int = 0
    sets: int = 0
    evictions: int = 0
    expirations: int = 0
    invalidations: int = 0
    size: int = 0
    max_size: int | None = None
    corrupt: int = 0
    local_hits: int = 0

    @property
    def hit_rate(self) -> float:
        """Hits (shared and local) over lookups, 0.0 before the first lookup."""
        hits = self.hits + self.local_hits
        lookups = hits + self.misses
        return hits / lookups if lookups else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hit_rate": self.hit_rate}

    def __add__(self, other: CacheStats) -> CacheStats:
        """Totals over several caches (``max_size`` adds up; ``None`` means unbounded)."""
        bounded = self.max_size is not None and other.max_size is not None
        return CacheStats(
            hits=self.hits + other.hits,
            misses=self.misses + other.misses,
            sets=self.sets + other.sets,
            evictions=self.evictions + other.evictions,
            expirations=self.expirations + other.expirations,
            invalidations=self.invalidations + other.invalidations,
            size=self.size + other.size,
            max_size=(self.max_size or 0) + (other.max_size or 0) if bounded else None,
            corrupt=self.corrupt + other.corrupt,
            local_hits=self.local_hits + other.local_hits,
        )
