"""The Redis store: one cache's entries shared by every process that uses the server.

Each ``get`` and ``set`` is one ``EVALSHA`` of a script in ``stores/lua`` (one round
trip), which keeps the eviction order, TTL index and stats exact under any number of
concurrent clients. Pattern invalidation and ``clear`` walk the cache's own index with
``ZSCAN`` (never ``KEYS``, never ``FLUSHDB``) and remove in batches. Every key starts
with the namespace and carries the cache's hash tag: ``admf:{name}:...``.

When the server is unreachable, reads are misses and writes are dropped (logged once by
``Health``); a payload that can't be decoded is a counted miss, never an exception.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import redis

from admf_perf import codec
from admf_perf.caching.entry import CacheEntry
from admf_perf.caching.stats import CacheStats
from admf_perf.config import Settings, get_settings, redact_url
from admf_perf.errors import CodecError, ConfigurationError
from admf_perf.stores.base import MISSING, CacheSpec
from admf_perf.stores.connection import UNAVAILABLE_ERRORS, Health, connect
from admf_perf.stores.flight import SingleFlight
from admf_perf.stores.near import NearCache
from admf_perf.stores.notify import Notifier
from admf_perf.stores.payload import Payloads
from admf_perf.stores.scripts import script

if TYPE_CHECKING:
    from admf_perf.stores.sharded import ShardedStore

log = logging.getLogger("admf_perf")

BATCH = 500
"""Entries removed per script call by pattern operations (bounds every script's run time)."""
_LFU_PREFIX_GLOB = "?" * 16 + ":"


def cache_prefix(namespace: str, name: str) -> str:
    """``ns:{name}:`` — the start of every key of one cache (hash tag = the name)."""
    return f"{namespace}:{{{name}}}:"


def registry_key(namespace: str) -> str:
    """Hash of every cache known in the namespace: name -> strategy, max_size, ttl."""
    return f"{namespace}:caches"


class RedisStore:
    """One cache in Redis. Made by :class:`RedisBackend`, not directly."""

    def __init__(self, spec: CacheSpec, backend: RedisBackend) -> None:
        self.spec = spec
        self.backend = backend
        self.client = self._client = backend.client
        self._health = backend.health
        prefix = cache_prefix(backend.namespace, spec.name)
        self.prefix = prefix
        self._entry_prefix = prefix + "e:"
        self._keys = [prefix + "idx", prefix + "exp", prefix + "stats", prefix + "lfu"]
        ordering = spec.strategy.ordering
        self._by_freq = "1" if ordering.by_frequency else "0"
        self._touch = "1" if ordering.touch_on_read else "0"
        self._limit = spec.max_size if ordering.bounded and spec.max_size else 0
        self._args = [self._entry_prefix, self._by_freq]
        self._get, self._set = script("get"), script("set")
        self._registered = False
        self._rejected = False
        self.near = (
            NearCache(spec.local_size, backend.notifier(), prefix + "inv")
            if spec.local_size
            else None
        )
        self.flight = SingleFlight(self, spec.lease)
        self.payloads = Payloads(backend.settings, backend.namespace, spec.name, spec.version)

    # -- the two hot paths: one round trip each ----------------------------------------
    def get(self, key: str) -> Any:
        if not self._health.available():
            return MISSING
        near = self.near
        if near is None:
            found = self.lookup(key)
            return MISSING if found is None else found[0]
        value = near.get(key)
        if value is not MISSING:
            return value
        epoch = near.epoch()
        found = self.lookup(key)
        if found is None:
            return MISSING
        near.offer(key, found[0], found[1], epoch)
        return found[0]

    def lookup(self, key: str) -> tuple[Any, float | None, float] | None:
        """A hit as ``(value, seconds until expiry or None, compute seconds)``, else None."""
        try:
            found = self._get(
                self._client,
                [*self._keys, self._entry_prefix + key],
                [*self._args, key, self._touch, self.spec.version, int(time.time() * 1000)],
            )
        except UNAVAILABLE_ERRORS as exc:
            self._health.failed(exc)
            return None
        self._health.succeeded()
        if found is None:
            return None
        payload, remaining_ms, compute_ms = found
        try:
            value = self.payloads.loads(key, payload)
        except CodecError as exc:
            self._reject(key, exc)
            return None
        expires_in = remaining_ms / 1000 if remaining_ms >= 0 else None
        return value, expires_in, compute_ms / 1000

    def set(
        self, key: str, value: Any, ttl: float | None = None, compute_time: float = 0.0
    ) -> None:
        payload = self.payloads.dumps(key, value)  # unencodable: the caller's error, raise
        if not self._health.available():
            return
        ttl = self.spec.ttl if ttl is None else ttl
        ttl_ms = max(1, round(ttl * 1000)) if ttl is not None else 0
        try:
            self._register()
            self._set(
                self._client,
                [*self._keys, self._entry_prefix + key],
                [
                    *self._args,
                    key,
                    payload,
                    ttl_ms,
                    self._limit,
                    round(compute_time * 1000),
                    self.spec.version,
                ],
            )
        except UNAVAILABLE_ERRORS as exc:
            self._health.failed(exc)
            return
        self._health.succeeded()

    # -- everything else ------------------------------------------------------------------
    def delete(self, key: str) -> bool:
        return self._delete_keys([key], "invalidations") == 1

    def delete_matching(self, pattern: str) -> int:
        return sum(self._delete_keys(page, "invalidations") for page in self._pages(pattern))

    def count_matching(self, pattern: str) -> int:
        """How many live entries ``delete_matching(pattern)`` would remove now."""
        self.size()  # purge the expired first
        return len({key for page in self._pages(pattern) for key in page})

    def _pages(self, pattern: str) -> Iterator[list[str]]:
        """Keys of the index matching ``pattern``, a ZSCAN page at a time."""
        match = (_LFU_PREFIX_GLOB if self._by_freq == "1" else "") + pattern
        cut = 17 if self._by_freq == "1" else 0
        cursor = 0
        while True:
            cursor, page = self._call(
                self._client.zscan, self._keys[0], cursor, match=match, count=BATCH
            )
            if page:
                yield [m.decode("utf-8", "surrogateescape")[cut:] for m, _ in page]
            if cursor == 0:
                return

    def clear(self) -> int:
        return self.delete_matching("*")

    def contains(self, key: str) -> bool:
        return bool(self._call(self._client.exists, self._entry_prefix + key))

    def entry(self, key: str) -> CacheEntry | None:
        fields = self._call(
            self._client.hmget, self._entry_prefix + key, ["v", "c", "a", "n", "x", "d"]
        )
        if fields[0] is None:
            return None
        try:
            value = self.payloads.loads(key, fields[0])
        except CodecError:
            return None
        expires = int(fields[4] or 0)
        return CacheEntry(
            value=value,
            created_at=int(fields[1]) / 1000,
            last_accessed=int(fields[2]) / 1000,
            access_count=int(fields[3]),
            expires_at=expires / 1000 if expires else None,
            compute_time=int(fields[5] or 0) / 1000,
        )

    def size(self) -> int:
        return self.stats().size

    def list_keys(self) -> list[str]:
        """Every live key (walks the index; for tests and tools, not hot paths)."""
        self.size()  # purge the expired first
        members = self._call(self._client.zrange, self._keys[0], 0, -1)
        cut = 17 if self._by_freq == "1" else 0
        return [m.decode("utf-8", "surrogateescape")[cut:] for m in members]

    def stats(self) -> CacheStats:
        stats_script = script("stats")
        while True:
            size, more, flat = self._call(
                stats_script, self._client, self._keys, [*self._args, 1000]
            )
            if not more:
                break
        counts = {flat[i].decode(): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        return CacheStats(
            hits=counts.get("hits", 0),
            misses=counts.get("misses", 0),
            sets=counts.get("sets", 0),
            evictions=counts.get("evictions", 0),
            expirations=counts.get("expirations", 0),
            invalidations=counts.get("invalidations", 0),
            size=int(size),
            max_size=self._limit or None,
            corrupt=counts.get("corrupt", 0),
            local_hits=self.near.hits if self.near is not None else 0,  # an empty L1 is falsy
        )

    # -- internals --------------------------------------------------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a non-hot-path command; an unreachable server raises BackendUnavailableError."""
        return self.backend.call(fn, *args, **kwargs)

    def _delete_keys(self, keys: list[str], counter: str) -> int:
        removed = 0
        for i in range(0, len(keys), BATCH):
            chunk = keys[i : i + BATCH]
            removed += self._call(
                script("delete"),
                self._client,
                [*self._keys, *(self._entry_prefix + k for k in chunk)],
                [*self._args, counter, *chunk],
            )
        return removed

    def _reject(self, key: str, exc: CodecError) -> None:
        # the first unreadable entry of a cache is a warning; the rest are counted in
        # stats().corrupt and logged at debug level, so a bad writer can't flood the log
        level = logging.DEBUG if self._rejected else logging.WARNING
        self._rejected = True
        log.log(
            level,
            "cache %s: entry %r is unreadable (%s); treating it as a miss (counted in stats().corrupt)",
            self.spec.name,
            key,
            exc,
        )
        try:
            script("reject")(
                self._client, [*self._keys, self._entry_prefix + key], [*self._args, key]
            )
        except UNAVAILABLE_ERRORS as err:
            self._health.failed(err)

    def _register(self) -> None:
        if self._registered:
            return
        spec = self.spec
        self._client.hset(  # the registry the CLI lists caches from
            registry_key(self.backend.namespace),
            spec.name,
            codec.encode(
                {"strategy": spec.strategy.value, "max_size": spec.max_size, "ttl": spec.ttl}
            ),
        )
        self._registered = True


class RedisBackend:
    """Caches in one Redis server, under one namespace; shares a connection pool."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        namespace: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        settings = settings or get_settings()
        if client is None:
            url = url or settings.redis_url
            if not url:
                raise ConfigurationError(
                    "redis_url is not set: pass a URL or configure(redis_url=...)"
                )
            client = connect(url, settings)
        self.url = url or _client_url(client)
        self.client = client
        self.namespace = namespace or settings.namespace
        self.settings = settings
        self.health = Health(self.url, settings.retry_after)
        self._notifier: Notifier | None = None
        self._notifier_lock = threading.Lock()
        self._checked = False
        self._check_lock = threading.Lock()

    def notifier(self) -> Notifier:
        """This process's pub/sub listener for the namespace (started on first use)."""
        with self._notifier_lock:
            if self._notifier is None:
                self._notifier = Notifier(self.client, self.namespace)
            return self._notifier

    def open(self, spec: CacheSpec) -> RedisStore | ShardedStore:
        if "{" in spec.name or "}" in spec.name:
            raise ConfigurationError(f"cache name {spec.name!r} must not contain '{{' or '}}'")
        self.check_server()
        if spec.shards > 1:
            from admf_perf.stores.sharded import ShardedStore

            return ShardedStore(spec, lambda shard: RedisStore(shard, self))
        return RedisStore(spec, self)

    def describe(self) -> str:
        return f"redis {redact_url(self.url)} namespace {self.namespace}"

    def check_server(self) -> list[str]:
        """Log what :func:`~admf_perf.stores.checks.check_server` finds, once per backend
        (tried again at the next use while the server is unreachable)."""
        if self._checked or not self.health.available():
            return []
        from admf_perf.stores.checks import check_server

        with self._check_lock:
            if self._checked:
                return []
            try:
                found = check_server(self.client, self.url)
            except UNAVAILABLE_ERRORS as exc:
                self.health.failed(exc)
                return []
            except redis.exceptions.ResponseError as exc:  # INFO not allowed: nothing to say
                log.debug("server checks skipped: %s", exc)
                found = []
            self._checked = True
        for warning in found:
            log.warning("%s", warning)
        return found

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a command that must not fail silently; raises BackendUnavailableError."""
        from admf_perf.errors import BackendUnavailableError

        try:
            result = fn(*args, **kwargs)
        except UNAVAILABLE_ERRORS as exc:
            self.health.failed(exc)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BackendUnavailableError(
                f"Redis at {redact_url(self.url)} is unavailable: {reason}"
            ) from None
        self.health.succeeded()
        return result

    def close(self) -> None:
        self.client.close()


def _client_url(client: redis.Redis) -> str:
    kw = client.connection_pool.connection_kwargs
    if "path" in kw:
        return f"unix://{kw['path']}?db={kw.get('db', 0)}"
    return f"redis://{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"
