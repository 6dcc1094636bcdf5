"""The in-process store: entries in ordered dicts, following the strategy's ordering.

Thread safe (one lock per cache). Values are kept as the objects given, not copied or
encoded, as with ``functools.lru_cache``: treat cached values as immutable.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import OrderedDict
from typing import Any

from admf_perf.caching.entry import CacheEntry
from admf_perf.caching.patterns import glob_to_regex
from admf_perf.caching.stats import CacheStats
from admf_perf.stores.base import MISSING, CacheSpec


class _Order:
    """Eviction order of LRU, TLRU, FIFO and UNBOUNDED: one ordered dict, front goes first."""

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()

    def written(self, key: str, entry: CacheEntry, is_new: bool) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)

    def read(self, key: str, entry: CacheEntry) -> None:
        self._keys.move_to_end(key)

    def removed(self, key: str, entry: CacheEntry) -> None:
        del self._keys[key]

    def victim(self) -> str:
        return next(iter(self._keys))


class _FrequencyOrder:
    """LFU: fewest reads first, ties by least recent use; one ordered dict per read count."""

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: dict[int, OrderedDict[str, None]] = {}

    def written(self, key: str, entry: CacheEntry, is_new: bool) -> None:
        bucket = self._buckets.setdefault(entry.access_count, OrderedDict())
        bucket[key] = None
        bucket.move_to_end(key)

    def read(self, key: str, entry: CacheEntry) -> None:
        # ``entry.access_count`` is already incremented
        self._discard(key, entry.access_count - 1)
        self._buckets.setdefault(entry.access_count, OrderedDict())[key] = None

    def removed(self, key: str, entry: CacheEntry) -> None:
        self._discard(key, entry.access_count)

    def _discard(self, key: str, count: int) -> None:
        bucket = self._buckets[count]
        del bucket[key]
        if not bucket:
            del self._buckets[count]

    def victim(self) -> str:
        return next(iter(self._buckets[min(self._buckets)]))


class MemoryStore:
    """One cache's entries in this process."""

    def __init__(self, spec: CacheSpec) -> None:
        self.spec = spec
        ordering = spec.strategy.ordering
        self._touch = ordering.touch_on_read
        self._limit = spec.max_size if ordering.bounded else None
        self._order: _Order | _FrequencyOrder = (
            _FrequencyOrder() if ordering.by_frequency else _Order()
        )
        self._on_read = self._order.read if self._touch else None
        self._entries: dict[str, CacheEntry] = {}
        self._expiries: list[tuple[float, int, str, CacheEntry]] = []  # heap
        self._seq = 0
        self._lock = threading.Lock()
        self._hits = self._misses = self._sets = 0
        self._evictions = self._expirations = self._invalidations = 0

    # -- reads --------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        now = time.time()
        with self._lock:
            if self._expiries and self._expiries[0][0] <= now:
                self._purge_expired(now)
            entry = self._entries.get(key)
            if entry is None:
                self._misses += 1
                return MISSING
            entry.last_accessed = now
            entry.access_count += 1
            if self._on_read is not None:
                self._on_read(key, entry)
            self._hits += 1
            return entry.value

    def lookup(self, key: str) -> tuple[Any, float | None, float] | None:
        """A hit as ``(value, seconds until expiry or None, compute seconds)``, else None."""
        value = self.get(key)
        if value is MISSING:
            return None
        entry = self._entries.get(key)
        if entry is None or entry.value is not value:
            return value, None, 0.0
        expires_in = entry.expires_at - time.time() if entry.expires_at is not None else None
        return value, expires_in, entry.compute_time

    def contains(self, key: str) -> bool:
        entry = self._entries.get(key)
        return entry is not None and not entry.is_expired(time.time())

    def entry(self, key: str) -> CacheEntry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.is_expired(time.time()):
                return None
            return CacheEntry(
                entry.value,
                entry.created_at,
                entry.last_accessed,
                entry.access_count,
                entry.expires_at,
                entry.compute_time,
            )

    def size(self) -> int:
        with self._lock:
            self._purge_expired(time.time())
            return len(self._entries)

    def list_keys(self) -> list[str]:
        with self._lock:
            self._purge_expired(time.time())
            return list(self._entries)

    def stats(self) -> CacheStats:
        with self._lock:
            self._purge_expired(time.time())
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                sets=self._sets,
                evictions=self._evictions,
                expirations=self._expirations,
                invalidations=self._invalidations,
                size=len(self._entries),
                max_size=self._limit,
            )

    # -- writes -------------------------------------------------------------------------
    def set(
        self, key: str, value: Any, ttl: float | None = None, compute_time: float = 0.0
    ) -> None:
        now = time.time()
        ttl = self.spec.ttl if ttl is None else ttl
        expires_at = now + ttl if ttl is not None else None
        with self._lock:
            self._purge_expired(now)
            old = self._entries.get(key)
            if old is None:
                if self._limit is not None:
                    while len(self._entries) >= self._limit:
                        self._remove(self._order.victim())
                        self._evictions += 1
                entry = CacheEntry(value, now, now, 0, expires_at, compute_time)
            else:
                entry = old
                entry.value, entry.created_at, entry.last_accessed = value, now, now
                entry.expires_at, entry.compute_time = expires_at, compute_time
            self._entries[key] = entry
            self._order.written(key, entry, old is None)
            if expires_at is not None:
                self._seq += 1
                heapq.heappush(self._expiries, (expires_at, self._seq, key, entry))
            self._sets += 1

    def delete(self, key: str) -> bool:
        with self._lock:
            self._purge_expired(time.time())
            if key not in self._entries:
                return False
            self._remove(key)
            self._invalidations += 1
            return True

    def delete_matching(self, pattern: str) -> int:
        match = glob_to_regex(pattern).match
        with self._lock:
            self._purge_expired(time.time())
            doomed = [k for k in self._entries if match(k)]
            for key in doomed:
                self._remove(key)
            self._invalidations += len(doomed)
            return len(doomed)

    def count_matching(self, pattern: str) -> int:
        match = glob_to_regex(pattern).match
        with self._lock:
            self._purge_expired(time.time())
            return sum(1 for k in self._entries if match(k))

    def clear(self) -> int:
        return self.delete_matching("*")

    # -- internals ----------------------------------------------------------------------
    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key)
        self._order.removed(key, entry)

    def _purge_expired(self, now: float) -> None:
        heap = self._expiries
        while heap and heap[0][0] <= now:
            expires_at, _, key, entry = heapq.heappop(heap)
            # skip stale heap items: the entry was removed, replaced or re-timed since
            if self._entries.get(key) is entry and entry.expires_at == expires_at:
                self._remove(key)
                self._expirations += 1
        if len(heap) > 64 and len(heap) > 2 * len(self._entries):
            live = [
                item
                for item in heap
                if self._entries.get(item[2]) is item[3] and item[3].expires_at == item[0]
            ]
            heapq.heapify(live)
            self._expiries = live


class MemoryBackend:
    """Entries in this process's memory; each process has its own."""

    def open(self, spec: CacheSpec) -> MemoryStore:
        return MemoryStore(spec)

    def describe(self) -> str:
        return "memory"
