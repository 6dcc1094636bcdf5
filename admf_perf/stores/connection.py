"""Redis connections and what to do when the server is away.

``connect(url)`` makes a client with bounded timeouts and one retry on a broken
connection (never on a timeout: a timed-out write may have happened). ``Health`` is a
small circuit breaker shared by every cache on one server: after a failure it logs one
warning and answers "unavailable" for ``retry_after`` seconds, so a hundred cached calls
don't each wait for a connect timeout; the first call after that tries again, and a
success logs that the server is back.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from admf_perf.config import Settings, is_sentinel_url, parse_sentinel_url, redact_url
from admf_perf.errors import ConfigurationError

log = logging.getLogger("admf_perf")

UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    OSError,
)
"""Errors that mean "the server can't serve this now" rather than a bug."""


def connect(url: str, settings: Settings) -> Any:
    """A cache client for ``url`` with the settings' timeouts (the URL's own options
    win) and one retry on a broken connection; a ``RedisCluster`` client when
    ``settings.cluster`` is on."""
    if settings.cluster:
        if is_sentinel_url(url):
            raise ConfigurationError("cluster=True needs a cluster node's URL, not Sentinels")
        return redis.RedisCluster.from_url(
            url,
            socket_timeout=settings.socket_timeout,
            socket_connect_timeout=settings.connect_timeout,
        )
    return redis_client(
        url,
        socket_timeout=settings.socket_timeout,
        connect_timeout=settings.connect_timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
        health_check_interval=30,
    )


def redis_client(
    url: str,
    *,
    socket_timeout: float | None = None,
    connect_timeout: float | None = None,
    **options: Any,
) -> redis.Redis:
    """A redis-py client for any URL admf-perf accepts. For ``redis+sentinel://`` it is
    the master of the named service as the Sentinels report it: after a failover, its
    next connection goes to the new master."""
    if not is_sentinel_url(url):
        return redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout, **options
        )
    address = parse_sentinel_url(url)
    sentinels = Sentinel(
        list(address.sentinels),
        socket_timeout=connect_timeout or socket_timeout,
        socket_connect_timeout=connect_timeout,
        sentinel_kwargs={
            "password": address.sentinel_password,
            "socket_timeout": connect_timeout or socket_timeout,
            "socket_connect_timeout": connect_timeout,
        },
    )
    return sentinels.master_for(
        address.service,
        db=address.db,
        username=address.username,
        password=address.password,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        **options,
    )


class Health:
    """Whether a server is worth trying now; logs each outage once."""

    def __init__(self, url: str, retry_after: float) -> None:
        self.url = redact_url(url)
        self.retry_after = retry_after
        self._down_until = 0.0
        self._down_since: float | None = None
        self._lock = threading.Lock()

    def available(self) -> bool:
        return self._down_until == 0.0 or time.monotonic() >= self._down_until

    @property
    def is_down(self) -> bool:
        return self._down_since is not None

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self._down_until = time.monotonic() + self.retry_after
            if self._down_since is None:
                self._down_since = time.monotonic()
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log.warning(
                    "Redis at %s is unavailable (%s): computing without the shared cache, "
                    "retrying every %.0fs",
                    self.url,
                    reason,
                    self.retry_after,
                )

    def succeeded(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is not None:
                log.warning(
                    "Redis at %s is back after %.1fs",
                    self.url,
                    time.monotonic() - self._down_since,
                )
            self._down_since = None
            self._down_until = 0.0
