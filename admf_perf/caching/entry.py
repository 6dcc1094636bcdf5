"""CacheEntry: a value with the metadata the strategies and TTLs use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class CacheEntry:
    """A cached value and its metadata. Times are Unix seconds (floats).

    ``access_count`` counts reads (hits), not writes; ``expires_at`` is ``None`` for an
    entry without TTL. For the Redis store the times are the server's clock.
    """

    value: Any
    created_at: float
    last_accessed: float
    access_count: int = 0
    expires_at: float | None = None
    compute_time: float = 0.0
    """Seconds the value took to compute (0.0 when not known); drives early refresh."""

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now
