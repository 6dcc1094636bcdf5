"""Task functions for the executor tests: importable by the RQ workers (``tests.tasks``).

Workers start in the repository root with ``--import tests.tasks``, which also puts
this module on their allowlist.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import redis


def square(x: int) -> int:
    return x * x


def noop(x: object) -> None:
    return None


def add(a: int, b: int = 0) -> int:
    return a + b


def fail_on(x: int, bad: int = 3) -> int:
    """Raises ValueError for ``bad`` (the test reads the remote traceback)."""
    if x == bad:
        raise ValueError(f"item {x} is bad")
    return x


def fail_odd(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd item {x}")
    return x


def hang_on(x: int, bad: int = 1) -> int:
    """Sleeps far past any test timeout on ``bad``."""
    if x == bad:
        time.sleep(600)
    return x


def busy(seconds: float) -> float:
    """Spins the CPU for ``seconds`` (a stand-in for a backtest)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return seconds


def mark_then_wait(args: list) -> int:
    """``args = [url, key, value, wait]``: RPUSH ``value`` to ``key`` when starting,
    then sleep ``wait`` seconds; the test waits on the list, not on a clock."""
    url, key, value, wait = args
    client = redis.Redis.from_url(url)
    client.rpush(key, f"{value}:{os.getpid()}")
    client.close()
    time.sleep(wait)
    return int(value)


def flaky(args: list) -> str:
    """``args = [path, fails]``: fails ``fails`` times (counted in a file), then works."""
    path, fails = Path(args[0]), int(args[1])
    count = int(path.read_text()) if path.exists() else 0
    path.write_text(str(count + 1))
    if count < fails:
        raise RuntimeError(f"flaky failure {count + 1}")
    return "ok"


def pid(_: object) -> int:
    return os.getpid()
