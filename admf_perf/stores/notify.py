"""Messages between the processes of a fleet, over Redis pub/sub.

One ``Notifier`` per Redis backend per process holds one pub/sub connection on a daemon
thread, pattern-subscribed once to every channel of the namespace (``ns:*``; so no
subscription changes race with the reader), and hands each message to the callbacks
registered for its channel. Used for
"this key is ready" (single flight), "drop your local copy" (near-cache) and fleet-wide
commands (enable/disable, invalidate). When the connection drops, every ``on_reset``
callback runs (a near-cache must then forget everything: it may have missed messages)
and the notifier reconnects and resubscribes by itself.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from admf_perf.stores.connection import UNAVAILABLE_ERRORS

log = logging.getLogger("admf_perf")

Callback = Callable[[bytes], None]
_ALL: weakref.WeakSet[Notifier] = weakref.WeakSet()


class Notifier:
    """Subscriptions of this process on one Redis server."""

    def __init__(self, client: Any, namespace: str, retry_after: float = 1.0) -> None:
        self._client = client
        self._pattern = f"{namespace}:*"
        self._retry_after = retry_after
        self._callbacks: dict[str, list[Callback]] = defaultdict(list)
        self._resets: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._pubsub: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._pid = os.getpid()
        _ALL.add(self)

    def subscribe(self, channel: str, callback: Callback, *, wait: bool = True) -> None:
        """Call ``callback(message)`` for every message on ``channel`` from now on;
        ``wait`` blocks (up to 5 s) until the listener is connected, so that no message
        published after this call can be missed."""
        with self._lock:
            self._ensure_thread()
            self._callbacks[channel].append(callback)
        if wait:
            self._ready.wait(timeout=5)

    def unsubscribe(self, channel: str, callback: Callback) -> None:
        with self._lock:
            callbacks = self._callbacks.get(channel, [])
            if callback in callbacks:
                callbacks.remove(callback)
            if not callbacks:
                self._callbacks.pop(channel, None)

    @property
    def connected(self) -> bool:
        return self._pubsub is not None and self._ready.is_set()

    def on_reset(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever messages may have been missed (a reconnect)."""
        self._resets.append(callback)

    def publish(self, channel: str, message: bytes | str) -> int:
        return int(self._client.publish(channel, message))

    # -- the listener thread ---------------------------------------------------------------
    def _after_fork(self) -> None:
        """In a forked child: the parent's thread, socket, lock and event are not ours
        (the lock or the event's condition may have been held by a parent thread)."""
        self._pid, self._thread, self._pubsub = os.getpid(), None, None
        self._lock = threading.Lock()
        self._ready = threading.Event()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="admf-notifier", daemon=True)
            self._thread.start()

    def _connect(self) -> None:
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        pubsub.psubscribe(self._pattern)
        pubsub.get_message(timeout=1.0)  # wait for the subscription's confirmation
        self._pubsub = pubsub

    def _run(self) -> None:
        connected_before = False
        while True:
            try:
                self._connect()
                if connected_before:
                    self._reset_all()
                connected_before = True
                self._ready.set()
                while True:
                    message = self._pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "pmessage":
                        self._dispatch(message)
            except UNAVAILABLE_ERRORS as exc:
                log.debug("notifier lost its connection (%s); reconnecting", exc)
                self._ready.clear()
                self._reset_all()
                time.sleep(self._retry_after)  # reconnect back-off
            except Exception:  # never let a callback bug kill the listener
                log.exception("notifier callback failed")

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        data = message["data"]
        data = data.encode() if isinstance(data, str) else data
        with self._lock:
            callbacks = list(self._callbacks.get(channel, ()))
        for callback in callbacks:
            try:
                callback(data)
            except Exception:
                log.exception("notifier callback for %s failed", channel)

    def _reset_all(self) -> None:
        for callback in list(self._resets):
            try:
                callback()
            except Exception:
                log.exception("notifier reset callback failed")


def _reset_after_fork() -> None:
    for notifier in list(_ALL):
        notifier._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)
