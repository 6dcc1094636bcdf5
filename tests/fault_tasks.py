"""Task functions of the fault tests, run by real RQ workers (``--import tests.fault_tasks``)
and by the tests themselves. Workers find the server and namespace in their environment
(``ADMF_REDIS_URL``, ``ADMF_NAMESPACE``)."""

from __future__ import annotations

import os
import time

import redis

from admf_perf import cached

_clients: dict[str, redis.Redis] = {}


@cached(name="fault.square", max_size=100_000, version="v1")
def cached_square(x: int) -> int:
    """x*x after 10 ms of "work", through the shared cache."""
    time.sleep(0.01)
    return x * x


def marked_square(args: list) -> int:
    """``args = [url, key, x, wait]``: RPUSH ``"x:pid"`` to ``key`` as the item starts,
    then "work" ``wait`` seconds; the test reads the list to know who runs what."""
    url, key, x, wait = args
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url)
    client.rpush(key, f"{x}:{os.getpid()}")
    time.sleep(wait)
    return int(x) * int(x)


def slow_square(x: int) -> int:
    """x*x after 20 ms of "work", without any cache."""
    time.sleep(0.02)
    return x * x
