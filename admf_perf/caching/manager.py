"""CacheManager: every cache of the process in one place, to see and steer them together.

Steering can reach the whole fleet: ``disable(fleet=True)`` and friends publish a
command on ``ns:control`` that every process using the namespace's Redis server acts on
within milliseconds, and record the switch in ``ns:enabled`` so that processes started
later follow it too.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

import msgpack

from admf_perf.caching.patterns import glob_class, glob_to_regex
from admf_perf.caching.stats import CacheStats
from admf_perf.stores.connection import UNAVAILABLE_ERRORS

if TYPE_CHECKING:
    from admf_perf.stores.redis_store import RedisBackend

log = logging.getLogger("admf_perf")


class CacheManager:
    """Process-wide registry of caches (and other named cached objects).

    Every ``Cache`` and ``@cached`` function registers itself; entries are held weakly,
    so a cache that nobody uses any more leaves the registry.
    """

    _instance: ClassVar[CacheManager | None] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._objects: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
        self._lock = threading.RLock()
        self.enabled = True
        self._backends: weakref.WeakSet[RedisBackend] = weakref.WeakSet()

    @classmethod
    def get_instance(cls) -> CacheManager:
        if cls._instance is None:
            with cls._instance_lock:
                if cls._instance is None:
                    cls._instance = cls()
                    from admf_perf.resources import MemoryManager

                    MemoryManager.get_instance().add_release_hook(
                        cls._instance.drop_local_copies, name="caches"
                    )
        return cls._instance

    def register(self, name: str, obj: Any) -> None:
        """Make ``obj`` known under ``name`` (a later registration of the name wins)."""
        with self._lock:
            self._objects[name] = obj

    def get(self, name: str) -> Any:
        """The object registered as ``name``, or ``None``."""
        return self._objects.get(name)

    def names(self) -> list[str]:
        return sorted(self._objects.keys())

    def caches(self) -> list[Any]:
        """Registered objects that behave as caches (have ``stats`` and ``invalidate``)."""
        with self._lock:
            objs = list(self._objects.values())
        return [o for o in objs if hasattr(o, "stats") and hasattr(o, "invalidate")]

    def get_stats(self) -> dict[str, Any]:
        """``{"caches": {name: stats dict}, "totals": stats dict}``; Redis caches report
        the counts of every process that uses them."""
        per_cache = {c.name: c.stats() for c in self.caches()}
        total = sum(per_cache.values(), CacheStats(max_size=0))
        return {
            "caches": {name: s.to_dict() for name, s in sorted(per_cache.items())},
            "totals": total.to_dict(),
        }

    def clear_all(self) -> int:
        """Clear every registered cache; returns the entries removed."""
        return sum(c.clear() for c in self.caches())

    def invalidate_by_pattern(self, pattern: str, *, fleet: bool = False) -> int:
        """Remove entries whose ``"<cache name>:<key>"`` matches the glob ``pattern``;
        returns the count removed here. ``fleet=True`` also tells every other process of
        the namespace to do the same to its in-process caches (Redis caches are shared
        and done once, here)."""
        total = 0
        for cache in self.caches():
            total += _invalidate_matching(cache, pattern)
        if fleet:
            self._broadcast({"op": "invalidate", "pattern": pattern})
        return total

    def enable(self, *, fleet: bool = False) -> None:
        """Cache again; ``fleet=True``: in every process of the namespace."""
        self.enabled = True
        if fleet:
            self._broadcast({"op": "enable"}, enabled=True)

    def disable(self, *, fleet: bool = False) -> None:
        """Every cached function just computes; nothing is read or written.
        ``fleet=True``: in every process of the namespace, including ones started later."""
        self.enabled = False
        if fleet:
            self._broadcast({"op": "disable"}, enabled=False)

    # -- the fleet ------------------------------------------------------------------------
    def attach(self, backend: RedisBackend) -> None:
        """Follow the fleet-wide switches of ``backend``'s namespace (once per backend)."""
        with self._lock:
            if backend in self._backends:
                return
            self._backends.add(backend)
        if backend.health.available():
            try:
                if backend.client.get(f"{backend.namespace}:enabled") == b"0":
                    self.enabled = False
            except UNAVAILABLE_ERRORS as exc:  # the server is away: caches will say so
                backend.health.failed(exc)
        # best effort and never blocking: a process that misses a switch while the
        # server is away still reads ns:enabled on its next start
        backend.notifier().subscribe(f"{backend.namespace}:control", self._on_command, wait=False)

    def _broadcast(self, command: dict[str, Any], enabled: bool | None = None) -> None:
        from admf_perf.config import get_settings
        from admf_perf.stores import resolve_backend
        from admf_perf.stores.redis_store import RedisBackend

        settings = get_settings()
        targets = set(self._backends)
        default = None
        if settings.redis_url:
            default = resolve_backend(None, settings)
            if isinstance(default, RedisBackend):
                targets.add(default)
        if not targets:
            from admf_perf.errors import ConfigurationError

            raise ConfigurationError("fleet commands need a Redis server: set redis_url")
        message = msgpack.packb({**command, "from": os.getpid()})
        failed: list[Exception] = []
        for backend in targets:
            try:
                if enabled is not None:
                    backend.call(backend.client.set, f"{backend.namespace}:enabled", int(enabled))
                backend.call(backend.client.publish, f"{backend.namespace}:control", message)
            except Exception as exc:  # a cluster client that can't connect raises its own
                # the configured server must get the command; another server this process
                # once used (gone now, or no longer in use) only costs a warning
                if backend is default:
                    raise
                failed.append(exc)
        if failed and len(failed) == len(targets):
            raise failed[0]
        for error in failed:
            log.warning("fleet command %s not sent to a server: %s", command.get("op"), error)

    def _on_command(self, message: bytes) -> None:
        command = msgpack.unpackb(message)
        if command.get("from") == os.getpid():
            return
        op = command.get("op")
        if op == "disable":
            self.enabled = False
        elif op == "enable":
            self.enabled = True
        elif op == "invalidate":
            for cache in self.caches():
                if cache.describe_backend() == "memory":
                    _invalidate_matching(cache, command["pattern"])
        elif op == "release" and command.get("host") in (None, socket.gethostname()):
            from admf_perf.resources import MemoryManager

            MemoryManager.get_instance().release_memory_pressure()
        log.info("fleet command %s applied", op)

    def drop_local_copies(self) -> int:
        """Drop what this process holds only for speed: in-process caches and near-cache
        copies. A MemoryManager release hook; returns the entries dropped."""
        dropped = 0
        for cache in self.caches():
            store = cache.store
            if cache.describe_backend() == "memory":
                dropped += cache.clear()
            for part in getattr(store, "shards", [store]):
                near = getattr(part, "near", None)
                if near is not None:
                    dropped += len(near)
                    near.clear()
        return dropped

    def _after_fork(self) -> None:
        self._lock = threading.RLock()


def _invalidate_matching(cache: Any, pattern: str) -> int:
    total = 0
    for rest in key_patterns_for(pattern, cache.name):
        # an empty rest is the empty key (a cached function without arguments)
        total += cache.invalidate(pattern=rest) if rest else cache.invalidate(key="")
    return total


def key_patterns_for(pattern: str, name: str) -> list[str]:
    """Globs over one cache's keys equivalent to ``pattern`` over ``"<name>:<key>"``.

    The pattern is matched against the literal prefix ``name:``; what remains of the
    pattern at each way of consuming that prefix is a glob over the key (a key matching
    several is removed once). Returns ``[]`` when no key of the cache can match.
    """
    tokens = _tokens(pattern)
    prefix = name + ":"
    states = {0}
    for char in prefix:
        nxt: set[int] = set()
        for i in _closure(states, tokens):
            if i < len(tokens) and tokens[i] != "*" and _token_matches(tokens[i], char):
                nxt.add(i + 1)
            if i < len(tokens) and tokens[i] == "*":
                nxt.add(i)
        states = nxt
        if not states:
            return []
    return sorted({"".join(tokens[i:]) for i in _closure(states, tokens)})


def _closure(states: set[int], tokens: list[str]) -> set[int]:
    """States reachable by letting '*' match nothing."""
    out = set(states)
    stack = list(states)
    while stack:
        i = stack.pop()
        if i < len(tokens) and tokens[i] == "*" and i + 1 not in out:
            out.add(i + 1)
            stack.append(i + 1)
    return out


def _tokens(pattern: str) -> list[str]:
    """Split a glob into one-character tokens: '*', '?', a '[...]' class, or a literal."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
        elif c == "[":
            end = glob_class(pattern, i + 1)[1]  # where Redis's scan of the class ends
            out.append(pattern[i:end])
            i = end
        else:
            out.append(c)
            i += 1
    return out


def _token_matches(token: str, char: str) -> bool:
    return bool(glob_to_regex(token).match(char))


def _reset_after_fork() -> None:
    if CacheManager._instance is not None:
        CacheManager._instance._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)
