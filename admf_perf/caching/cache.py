"""Cache: one named cache, in process memory or in Redis, with the same API either way."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from admf_perf import config
from admf_perf.caching.entry import CacheEntry
from admf_perf.caching.keys import CacheKey, check_key_text
from admf_perf.caching.manager import CacheManager
from admf_perf.caching.stats import CacheStats
from admf_perf.caching.strategy import CacheStrategy
from admf_perf.config import Settings, get_settings
from admf_perf.errors import ConfigurationError
from admf_perf.stores import MISSING, CacheSpec, RedisBackend, Store, resolve_backend


def _check_size(max_size: object) -> int:
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
        raise ConfigurationError(f"max_size must be a positive integer, got {max_size!r}")
    return max_size


def _check_ttl(ttl: object, setting: str = "ttl") -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
        raise ConfigurationError(
            f"{setting} must be a positive number of seconds or None, got {ttl!r}"
        )
    return float(ttl)


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name or any(c in name for c in "{}\n\r\t "):
        raise ConfigurationError(
            f"cache name {name!r} is invalid: a non-empty string without spaces, '{{' or '}}'"
        )
    return name


class Cache:
    """A named cache. ``backend``: ``"memory"``, a Redis URL, a backend object, or
    ``None`` for the configured default (``configure(redis_url=...)`` / ``ADMF_REDIS_URL``,
    else memory). With the default, the cache follows later ``configure`` calls.

    Caches with the same name on the same Redis server are one cache, whoever uses them.

    Redis only: ``local_size`` keeps that many hot entries in process memory too
    (invalidated fleet-wide within milliseconds); ``single_flight`` lets one caller
    compute a missing entry of a cached function while the others wait (``lease`` seconds
    of lock without renewal before a waiter takes over); ``version`` tags entries so that
    entries written by other code versions are misses; ``shards`` splits a large cache
    into that many hash slots, so it spreads over the masters of a Redis Cluster.
    """

    def __init__(
        self,
        name: str,
        max_size: int = 128,
        strategy: CacheStrategy | str = CacheStrategy.LRU,
        ttl: float | None = None,
        backend: object = None,
        *,
        local_size: int = 0,
        single_flight: bool = True,
        lease: float = 30.0,
        version: str = "",
        shards: int = 1,
    ) -> None:
        self.name = _check_name(name)
        self.strategy = CacheStrategy.parse(strategy)
        self.max_size = _check_size(max_size)
        self.ttl = _check_ttl(ttl)
        if isinstance(local_size, bool) or not isinstance(local_size, int) or local_size < 0:
            raise ConfigurationError(
                f"local_size must be a non-negative integer, got {local_size!r}"
            )
        self.local_size = local_size
        self.single_flight = bool(single_flight)
        self.lease = float(_check_ttl(lease, "lease") or 30.0)
        if not isinstance(version, str):
            raise ConfigurationError(f"version must be a string, got {version!r}")
        self.version = version
        if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
            raise ConfigurationError(f"shards must be a positive integer, got {shards!r}")
        if shards > self.max_size:
            raise ConfigurationError(
                f"shards ({shards}) must not exceed max_size ({self.max_size})"
            )
        self.shards = shards
        if self.strategy.ordering.requires_ttl and self.ttl is None:
            raise ConfigurationError(f"strategy TLRU needs a ttl (cache {name!r})")
        self._backend_arg = backend
        self._pinned = backend is not None
        if backend is not None:
            resolve_backend(backend, get_settings())  # a bad backend fails here, not later
        self._store: Store | None = None
        self._settings: Settings | None = None
        self._lock = threading.Lock()
        CacheManager.get_instance().register(name, self)

    @property
    def spec(self) -> CacheSpec:
        limit = self.max_size if self.strategy.ordering.bounded else None
        return CacheSpec(
            self.name,
            limit,
            self.strategy,
            self.ttl,
            version=self.version,
            local_size=self.local_size,
            lease=self.lease,
            shards=self.shards,
        )

    @property
    def store(self) -> Store:
        """The store in use; resolved at first use and again after ``configure`` changes."""
        store = self._store
        if store is not None and (self._pinned or self._settings is config._current):
            return store
        settings = get_settings()
        with self._lock:
            if self._store is None or (
                self._backend_arg is None and settings is not self._settings
            ):
                backend = resolve_backend(self._backend_arg, settings)
                self._store = backend.open(self.spec)
                self._settings = settings
                if isinstance(backend, RedisBackend):
                    CacheManager.get_instance().attach(backend)
            return self._store

    def describe_backend(self) -> str:
        return resolve_backend(self._backend_arg, get_settings()).describe()

    # -- the API -------------------------------------------------------------------------
    def get(self, key: Any, default: Any = None) -> Any:
        """The cached value for ``key``, or ``default`` (also when Redis is unreachable)."""
        value = self.store.get(_key_text(key))
        return default if value is MISSING else value

    def set(
        self,
        key: Any,
        value: Any,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> None:
        """Store ``value`` under ``key`` (``key=None``: the key of ``args``/``kwargs``).

        ``ttl`` overrides the cache's TTL for this entry. An unencodable value for a
        Redis cache raises :class:`~admf_perf.errors.CodecError`; an unreachable server
        drops the write.
        """
        if key is None:
            if args is None and kwargs is None:
                raise ConfigurationError("Cache.set needs a key, or args/kwargs to make one")
            key = CacheKey.generate_key(tuple(args or ()), dict(kwargs or {}))
        self.store.set(_key_text(key), value, _check_ttl(ttl))

    def invalidate(self, key: Any = None, pattern: str | None = None) -> int:
        """Remove ``key`` (literal, never a pattern) or every key matching the glob
        ``pattern``; returns how many entries went."""
        if (key is None) == (pattern is None):
            raise ConfigurationError("invalidate needs exactly one of key= or pattern=")
        if key is not None:
            return int(self.store.delete(_key_text(key)))
        if not isinstance(pattern, str) or not pattern:
            raise ConfigurationError(f"pattern must be a non-empty glob string, got {pattern!r}")
        return self.store.delete_matching(pattern)

    def count(self, pattern: str = "*") -> int:
        """How many live entries match the glob ``pattern`` (what invalidate would remove)."""
        return self.store.count_matching(pattern)

    def clear(self) -> int:
        """Remove every entry of this cache (nothing else); returns the count."""
        return self.store.clear()

    def entry(self, key: Any) -> CacheEntry | None:
        """The entry with its metadata, without touching it or counting a lookup."""
        return self.store.entry(_key_text(key))

    def stats(self) -> CacheStats:
        return self.store.stats()

    def __contains__(self, key: object) -> bool:
        return self.store.contains(_key_text(key))

    def __len__(self) -> int:
        return self.store.size()

    def __repr__(self) -> str:
        return f"<Cache {self.name!r} {self.strategy.name} max_size={self.max_size} ttl={self.ttl}>"


def _key_text(key: object) -> str:
    return check_key_text(key) if isinstance(key, str) else CacheKey.token(key)
