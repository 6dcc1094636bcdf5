"""Acting on memory pressure: measure, release, invalidate in order, re-measure, record.

Two triggers, each a measured value against a threshold of a base:

- ``host-memory``: this host's used memory (``total - available``) against its total.
  The agent first publishes the ``release`` fleet command for its host (every process of
  the namespace there drops in-process cache copies, trims pools, collects garbage),
  gives it ``release_wait`` seconds, measures again, and only then invalidates.
- ``redis-memory``: the server's ``used_memory`` against ``redis_budget`` if set, else
  its ``maxmemory`` (no limit: the trigger is off).

Invalidation walks the policy's patterns in order, one :func:`fleet.invalidate` each,
and stops as soon as the value is back under the threshold. Only the holder of the
pressure lease invalidates. A pass that ends still over the threshold is recorded as
``exhausted`` and is not repeated for ``cooldown`` seconds. Every action is an event in
``ns:events``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from admf_perf.agent.lease import Lease
from admf_perf.agent.policy import Policy
from admf_perf.agent.records import Writer
from admf_perf.caching import fleet
from admf_perf.stores.redis_store import RedisBackend

log = logging.getLogger("admf_perf.agent")

HOST = "host-memory"
REDIS = "redis-memory"


@dataclass(frozen=True)
class Reading:
    """One measurement: ``used`` bytes against ``threshold`` x ``base`` bytes."""

    trigger: str
    used: int
    base: int
    threshold: float

    @property
    def limit(self) -> int:
        return int(self.threshold * self.base)

    @property
    def over(self) -> bool:
        return self.used > self.threshold * self.base


def host_memory(threshold: float, memory: dict[str, Any] | None = None) -> Reading:
    """This host's memory, from a snapshot's ``memory`` part or read now."""
    if memory is None:
        vm = psutil.virtual_memory()
        memory = {"total": vm.total, "available": vm.available}
    total = int(memory["total"])
    return Reading(HOST, total - int(memory["available"]), total, threshold)


def redis_memory(client: Any, threshold: float, budget: int | None) -> Reading | None:
    """The server's memory against the budget or ``maxmemory``; ``None`` without a limit."""
    info = client.info("memory")
    base = budget or int(info.get("maxmemory", 0))
    if not base:
        return None
    return Reading(REDIS, int(info["used_memory"]), base, threshold)


@dataclass
class _State:
    next_release: float = 0.0
    next_pass: float = 0.0


class Responder:
    """The policy of one agent; :meth:`check` once per sample."""

    def __init__(
        self,
        backend: RedisBackend,
        policy: Policy,
        host: str,
        writer: Writer,
        lease: Lease,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.backend = backend
        self.policy = policy
        self.host = host
        self.writer = writer
        self.lease = lease
        self.wait = wait or _sleep
        """Sleeps up to the given seconds; True if the agent was asked to stop meanwhile."""
        self._states = {HOST: _State(), REDIS: _State()}
        self._warned_no_limit = False

    def measure(self, trigger: str, memory: dict[str, Any] | None = None) -> Reading | None:
        policy = self.policy
        if trigger == HOST:
            if policy.memory_threshold is None:
                return None
            return host_memory(policy.memory_threshold, memory)
        if policy.redis_memory_threshold is None:
            return None
        reading = redis_memory(
            self.backend.client, policy.redis_memory_threshold, policy.redis_budget
        )
        if reading is None and not self._warned_no_limit:
            self._warned_no_limit = True
            log.info("Redis has no maxmemory and no --redis-budget was given: not watching it")
        return reading

    def check(self, memory: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Measure both triggers and act on those over their threshold; the events."""
        events: list[dict[str, Any]] = []
        pressured = False
        for trigger in (HOST, REDIS):
            reading = self.measure(trigger, memory if trigger == HOST else None)
            if reading is None or not reading.over:
                self._states[trigger] = _State()
                continue
            pressured = True
            events += self._relieve(reading)
        if not pressured:
            self.lease.release()
        elif self.lease.held:
            self.lease.acquire()  # keep it while pressure lasts, even in a cooldown
        return events

    def _relieve(self, reading: Reading) -> list[dict[str, Any]]:
        state = self._states[reading.trigger]
        events = []
        now = time.monotonic()
        if reading.trigger == HOST and now >= state.next_release:
            state.next_release = now + self.policy.cooldown
            receivers = self.writer.release(self.host)
            stopped = self.wait(self.policy.release_wait)
            after = self.measure(HOST) or reading
            events.append(self._record(reading, after, "release", receivers=receivers))
            if stopped or not after.over:
                return events
            reading = after
        patterns = self.policy.patterns
        if (reading.trigger == HOST and not patterns) or now < state.next_pass:
            return events
        if not self.lease.acquire():
            log.debug("%s: another agent holds the pressure lease", reading.trigger)
            return events
        for pattern in patterns:
            if not reading.over or not self.lease.acquire():
                break
            counts = fleet.invalidate(self.backend, pattern)
            after = self.measure(reading.trigger) or reading
            events.append(
                self._record(
                    reading,
                    after,
                    "invalidate",
                    pattern=pattern,
                    removed=sum(counts.values()),
                    caches=counts,
                )
            )
            reading = after
        if reading.over:
            state.next_pass = now + self.policy.cooldown
            events.append(self._record(reading, reading, "exhausted"))
        return events

    def _record(self, before: Reading, after: Reading, action: str, **extra: Any) -> dict[str, Any]:
        event = {
            "time": round(time.time(), 3),
            "host": self.host,
            "pid": os.getpid(),
            "trigger": before.trigger,
            "action": action,
            "used_before": before.used,
            "used_after": after.used,
            "limit": before.limit,
            "threshold": before.threshold,
            **extra,
        }
        self.writer.event(event)
        log.info("%s", describe(event))
        return event


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def describe(event: dict[str, Any]) -> str:
    """One line for a log or a terminal: what was done, and memory before -> after."""
    memory = (
        f"{human_bytes(event['used_before'])} -> {human_bytes(event['used_after'])}"
        f" (limit {human_bytes(event['limit'])})"
    )
    action = event["action"]
    if action == "release":
        what = f"asked {event.get('receivers', 0)} processes on {event['host']} to release memory"
    elif action == "invalidate":
        what = f"invalidated {event.get('removed', 0)} entries matching {event.get('pattern')!r}"
    else:
        what = "still over the limit after every pattern; waiting for the cooldown"
    return f"{event['trigger']}: {what}; {memory}"


def human_bytes(count: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
