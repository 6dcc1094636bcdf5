"""Near-cache: the hottest entries of a Redis cache also kept in this process (L1).

A hit in L1 is an in-process lookup. Every change of an entry anywhere in the fleet
(write, invalidation, clear, eviction, expiry) is published by the cache's Lua scripts
on ``ns:{name}:inv``; the process's ``Notifier`` hands the keys to ``NearCache``, which
drops its copies. We publish from the scripts rather than use Redis client-side caching
(``CLIENT TRACKING``) because tracking also fires on the metadata every *read* touches,
which would empty L1 on every remote hit; our messages fire only on real changes.

Two races are closed: a value read from Redis is kept only if no change of its key
arrived while it was being read (an epoch check), and L1 is bypassed and emptied while
the notifier is disconnected (messages may have been missed).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

import msgpack

from admf_perf.stores.base import MISSING
from admf_perf.stores.notify import Notifier

_RECENT_LIMIT = 4096


class NearCache:
    """At most ``size`` entries in process memory, least recently used evicted first."""

    def __init__(self, size: int, notifier: Notifier, channel: str) -> None:
        self.size = size
        self.hits = 0
        self._notifier = notifier
        self._entries: OrderedDict[str, tuple[Any, float | None]] = OrderedDict()
        self._epoch = 0
        self._recent: OrderedDict[str, int] = OrderedDict()  # key -> epoch of its last change
        self._floor = 0  # changes older than the recent window happened at or before this
        self._lock = threading.Lock()
        notifier.subscribe(channel, self._on_change)
        notifier.on_reset(self.clear)

    def get(self, key: str) -> Any:
        if not self._notifier.connected:
            return MISSING
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return MISSING
            value, expires_at = found
            if expires_at is not None and expires_at <= time.monotonic():
                del self._entries[key]
                return MISSING
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def epoch(self) -> int:
        """Take before reading Redis; pass to :meth:`offer` with what was read."""
        return self._epoch

    def offer(self, key: str, value: Any, expires_in: float | None, read_epoch: int) -> None:
        """Keep ``value`` unless ``key`` changed since ``read_epoch`` or we're deaf."""
        if not self._notifier.connected:
            return
        with self._lock:
            changed = self._recent.get(key, self._floor if read_epoch < self._floor else -1)
            if changed > read_epoch:
                return
            expires_at = time.monotonic() + expires_in if expires_in is not None else None
            self._entries[key] = (value, expires_at)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._epoch += 1
            self._floor = self._epoch

    def __len__(self) -> int:
        return len(self._entries)

    def _on_change(self, message: bytes) -> None:
        keys = [k.decode("utf-8", "surrogateescape") for k in msgpack.unpackb(message, raw=True)]
        with self._lock:
            self._epoch += 1
            for key in keys:
                self._entries.pop(key, None)
                self._recent[key] = self._epoch
                self._recent.move_to_end(key)
            while len(self._recent) > _RECENT_LIMIT:
                _, epoch = self._recent.popitem(last=False)
                self._floor = max(self._floor, epoch)
