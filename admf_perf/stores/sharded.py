"""A large Redis cache split into shards, each its own hash slot and share of max_size,
so that one cache spreads over the masters of a Redis Cluster.

A key's shard is a fixed function of the key (xxh3), the same in every process. Each
shard is an ordinary cache named ``name#i``; eviction is exact within a shard, so the
whole cache holds at most ``max_size`` entries and evicts by the strategy per shard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import xxhash

from admf_perf.caching.entry import CacheEntry
from admf_perf.caching.stats import CacheStats
from admf_perf.stores.base import CacheSpec
from admf_perf.stores.redis_store import RedisStore


class _ShardedFlight:
    def __init__(self, owner: ShardedStore) -> None:
        self._owner = owner

    def run(self, key: str, compute: Callable[[], Any]) -> Any:
        return self._owner.shard(key).flight.run(key, compute)


class ShardedStore:
    """``shards`` RedisStores behind the Store interface."""

    def __init__(self, spec: CacheSpec, open_shard: Callable[[CacheSpec], RedisStore]) -> None:
        self.spec = spec
        n = spec.shards
        limit = spec.max_size
        self.shards = [
            open_shard(
                replace(
                    spec,
                    name=f"{spec.name}#{i}",
                    shards=1,
                    max_size=None if limit is None else limit // n + (1 if i < limit % n else 0),
                    local_size=spec.local_size // n + (1 if i < spec.local_size % n else 0),
                )
            )
            for i in range(n)
        ]
        self.flight = _ShardedFlight(self)

    def shard(self, key: str) -> RedisStore:
        digest = xxhash.xxh3_64_intdigest(key.encode("utf-8", "surrogateescape"))
        return self.shards[digest % len(self.shards)]

    def get(self, key: str) -> Any:
        return self.shard(key).get(key)

    def set(
        self, key: str, value: Any, ttl: float | None = None, compute_time: float = 0.0
    ) -> None:
        self.shard(key).set(key, value, ttl, compute_time)

    def delete(self, key: str) -> bool:
        return self.shard(key).delete(key)

    def delete_matching(self, pattern: str) -> int:
        return sum(s.delete_matching(pattern) for s in self.shards)

    def count_matching(self, pattern: str) -> int:
        return sum(s.count_matching(pattern) for s in self.shards)

    def clear(self) -> int:
        return sum(s.clear() for s in self.shards)

    def contains(self, key: str) -> bool:
        return self.shard(key).contains(key)

    def entry(self, key: str) -> CacheEntry | None:
        return self.shard(key).entry(key)

    def list_keys(self) -> list[str]:
        return [k for s in self.shards for k in s.list_keys()]

    def size(self) -> int:
        return sum(s.size() for s in self.shards)

    def stats(self) -> CacheStats:
        total = sum((s.stats() for s in self.shards), CacheStats(max_size=0))
        return replace(total, max_size=self.spec.max_size)
