"""Single flight across machines: when many callers miss the same key at once, one
computes and the others wait for its result.

The computer holds a lock (``ns:{name}:lock:KEY``, ``SET NX PX``) with a lease that a
background thread extends while the computation runs; a crashed computer stops
extending, so the lease runs out and a waiter takes over. Waiters don't poll: they
wait for the "done" message on ``ns:{name}:done`` (pub/sub, through the process's
``Notifier``), or for the lease to end, then read the entry.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgpack

from admf_perf.stores.base import MISSING
from admf_perf.stores.connection import UNAVAILABLE_ERRORS
from admf_perf.stores.scripts import script

if TYPE_CHECKING:
    from admf_perf.stores.redis_store import RedisStore

MAX_ROUNDS = 8
"""After this many turns of waiting without a result, a caller computes by itself."""


class SingleFlight:
    """Single-flight computation of one Redis cache's missing entries."""

    def __init__(self, store: RedisStore, lease: float) -> None:
        self.store = store
        self.lease_ms = max(100, round(lease * 1000))
        self.lock_prefix = store.prefix + "lock:"
        self.channel = store.prefix + "done"

    def run(self, key: str, compute: Callable[[], Any]) -> Any:
        """The value of ``key``: computed here (and stored) or by whoever holds the lock."""
        if not self.store.backend.health.available():  # known down: don't wait on it
            return self._timed(compute)[0]
        client = self.store.client
        lock = self.lock_prefix + key
        done = threading.Event()
        wanted = key.encode("utf-8", "surrogateescape")

        def on_done(message: bytes) -> None:
            if msgpack.unpackb(message)[0] == wanted:
                done.set()

        notifier = None
        try:
            for _ in range(MAX_ROUNDS):
                token = secrets.token_hex(8)
                if client.set(lock, token, nx=True, px=self.lease_ms):
                    return self._compute(key, lock, token, compute)
                if notifier is None:
                    notifier = self.store.backend.notifier()
                    notifier.subscribe(self.channel, on_done)
                    continue  # look again now that no "done" message can be missed
                value = self.store.get(key)
                if value is not MISSING:
                    return value
                remaining_ms = client.pttl(lock)
                if remaining_ms > 0:
                    done.wait(remaining_ms / 1000 + 0.05)
                done.clear()
                value = self.store.get(key)
                if value is not MISSING:
                    return value
        except UNAVAILABLE_ERRORS as exc:
            self.store.backend.health.failed(exc)
        finally:
            if notifier is not None:
                notifier.unsubscribe(self.channel, on_done)
        return self._timed(compute)[0]

    def refresh(self, key: str, compute: Callable[[], Any]) -> Any:
        """Recompute ``key`` if no one else is computing it; returns the new value or
        ``MISSING`` when another caller holds the lock (early refresh never waits)."""
        if not self.store.backend.health.available():
            return MISSING
        lock = self.lock_prefix + key
        token = secrets.token_hex(8)
        try:
            if not self.store.client.set(lock, token, nx=True, px=self.lease_ms):
                return MISSING
        except UNAVAILABLE_ERRORS as exc:
            self.store.backend.health.failed(exc)
            return MISSING
        return self._compute(key, lock, token, compute, recheck=False)

    def _compute(
        self, key: str, lock: str, token: str, compute: Callable[[], Any], recheck: bool = True
    ) -> Any:
        # the previous holder may have stored the value and released the lock between our
        # miss and our lock: look again (without counting a miss) before computing
        if recheck and self.store.contains(key):
            value = self.store.get(key)
            if value is not MISSING:
                self._release(key, lock, token, b"ok")
                return value
        stop = threading.Event()
        keeper = threading.Thread(
            target=self._keep_lease, args=(lock, token, stop), name="admf-lease", daemon=True
        )
        keeper.start()
        status = b"failed"
        try:
            value, elapsed = self._timed(compute)
            self.store.set(key, value, compute_time=elapsed)
            status = b"ok"
            return value
        finally:
            stop.set()
            keeper.join()
            self._release(key, lock, token, status)

    def _release(self, key: str, lock: str, token: str, status: bytes) -> None:
        message = msgpack.packb([key.encode("utf-8", "surrogateescape"), status])
        try:
            script("lock_release")(self.store.client, [lock], [token, self.channel, message])
        except UNAVAILABLE_ERRORS as exc:
            self.store.backend.health.failed(exc)

    def _keep_lease(self, lock: str, token: str, stop: threading.Event) -> None:
        extend = script("lock_extend")
        while not stop.wait(self.lease_ms / 3000):
            try:
                if not extend(self.store.client, [lock], [token, self.lease_ms]):
                    return  # lost the lock (lease ran out while we were stalled)
            except UNAVAILABLE_ERRORS:
                return

    @staticmethod
    def _timed(compute: Callable[[], Any]) -> tuple[Any, float]:
        start = time.perf_counter()
        value = compute()
        return value, time.perf_counter() - start
