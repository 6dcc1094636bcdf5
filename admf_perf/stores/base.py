"""The narrow contract between a cache and where its entries live.

A *backend* (memory, or one Redis server) opens one *store* per cache. Stores hold
decoded values (memory) or encoded payloads (Redis) behind the same methods, follow the
strategy's ordering (``admf_perf.caching.strategy``) and keep the stats. Keys are the
text keys made by ``CacheKey``; patterns are Redis globs over those keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from admf_perf.caching.entry import CacheEntry
from admf_perf.caching.stats import CacheStats
from admf_perf.caching.strategy import CacheStrategy


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What ``Store.get`` returns for a miss (``None`` is a value that can be cached)."""


@dataclass(frozen=True)
class CacheSpec:
    """What a store needs to know about its cache."""

    name: str
    max_size: int | None
    strategy: CacheStrategy
    ttl: float | None
    version: str = ""
    """Code version of the values: an entry written under another version is a miss."""
    local_size: int = 0
    """Redis store: also keep this many hot entries in process memory (near-cache)."""
    lease: float = 30.0
    """Redis store: seconds a single-flight computer holds its lock without renewing it."""
    shards: int = 1
    """Redis store: split into this many caches, each its own cluster hash slot."""


class Store(Protocol):
    """One cache's entries, metadata and stats."""

    spec: CacheSpec

    def get(self, key: str) -> Any:
        """The value (a hit, which touches the entry) or ``MISSING`` (counted as a miss)."""

    def set(
        self, key: str, value: Any, ttl: float | None = None, compute_time: float = 0.0
    ) -> None:
        """Store ``value``, evicting by the strategy if the cache is full; ``compute_time``
        (seconds it took to compute) lets readers refresh hot entries early."""

    def delete(self, key: str) -> bool:
        """Remove one entry (the key is literal, never a pattern); True if it was there."""

    def delete_matching(self, pattern: str) -> int:
        """Remove every entry whose key matches the glob ``pattern``; returns the count."""

    def count_matching(self, pattern: str) -> int:
        """How many live entries match the glob ``pattern`` (for dry runs)."""

    def clear(self) -> int:
        """Remove every entry; returns the count."""

    def contains(self, key: str) -> bool:
        """True if a live entry exists (no touch, no stats)."""

    def entry(self, key: str) -> CacheEntry | None:
        """The entry with its metadata, or ``None`` (no touch, no stats)."""

    def size(self) -> int:
        """Live entries now."""

    def stats(self) -> CacheStats:
        """Counts and the live size."""


@runtime_checkable
class Backend(Protocol):
    """Opens stores: ``MemoryBackend`` or ``RedisBackend``."""

    def open(self, spec: CacheSpec) -> Store: ...

    def describe(self) -> str:
        """Where entries live, for stats and logs (no passwords)."""
