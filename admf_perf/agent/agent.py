"""The host agent: every interval, sample the host, report it, and apply the policy.

``admf-perf agent`` runs one per host (``Agent(backend, policy).run()``). It survives
Redis outages: sampling goes on, the outage is logged once, and reports and the policy
resume when the server answers again. :meth:`Agent.stop` (SIGTERM, Ctrl-C) ends the loop
after the current step; :meth:`Agent.close` gives the pressure lease back.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from admf_perf.agent.lease import Lease
from admf_perf.agent.metrics import HostSampler, host_name
from admf_perf.agent.policy import Policy
from admf_perf.agent.pressure import Responder
from admf_perf.agent.records import Writer
from admf_perf.config import redact_url
from admf_perf.errors import BackendUnavailableError
from admf_perf.stores.connection import UNAVAILABLE_ERRORS
from admf_perf.stores.redis_store import RedisBackend

_REDIS_DOWN: tuple[type[BaseException], ...] = (*UNAVAILABLE_ERRORS, BackendUnavailableError)

log = logging.getLogger("admf_perf.agent")

REPORT_TTL_INTERVALS = 3
"""A host's snapshot expires after this many intervals without a new one."""


class Agent:
    """One host's agent on ``backend``'s server and namespace."""

    def __init__(self, backend: RedisBackend, policy: Policy, *, host: str | None = None) -> None:
        self.backend = backend
        self.policy = policy
        self.host = host or host_name()
        self.sampler = HostSampler(self.host)
        self.writer = Writer(backend.client, backend.namespace)
        self.lease = Lease(backend.client, backend.namespace, policy.lease_ttl)
        self._stop = threading.Event()
        self.responder = Responder(
            backend, policy, self.host, self.writer, self.lease, wait=self._stop.wait
        )
        self.latest: dict[str, Any] | None = None
        """The last snapshot taken (written to Redis or not)."""
        self.steps = 0
        self._down_since: float | None = None
        self._last_error: str | None = None

    # -- one step --------------------------------------------------------------------------
    def step(self) -> list[dict[str, Any]]:
        """Sample, report, apply the policy; the pressure events of this step."""
        snapshot = self.sampler.sample()
        snapshot["interval"] = self.policy.interval
        snapshot["ttl"] = round(REPORT_TTL_INTERVALS * self.policy.interval, 3)
        self.latest = snapshot
        self.steps += 1
        try:
            self.writer.report(snapshot, ttl=snapshot["ttl"], history=self.policy.history)
            events = self.responder.check(snapshot["memory"])
        except _REDIS_DOWN as exc:
            self._outage(exc)
            return []
        except Exception as exc:  # a bug or a foreign key must not stop the reports
            message = f"{type(exc).__name__}: {exc}"
            if message != self._last_error:
                log.exception("agent step failed (logged once until it changes): %s", message)
            self._last_error = message
            return []
        self._recovered()
        return events

    def _outage(self, exc: BaseException) -> None:
        self.lease.held = False  # it may expire while we can't extend it
        if self._down_since is None:
            self._down_since = time.monotonic()
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning(
                "Redis at %s is unavailable (%s): still sampling, reporting again when it is back",
                redact_url(self.backend.url),
                reason,
            )

    def _recovered(self) -> None:
        self._last_error = None
        if self._down_since is not None:
            log.warning(
                "Redis at %s is back after %.1fs: reporting again",
                redact_url(self.backend.url),
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    # -- the loop ----------------------------------------------------------------------------
    def run(self, steps: int | None = None) -> None:
        """Step every interval until :meth:`stop` (or ``steps`` steps); a step that runs
        late shifts the schedule instead of running twice to catch up."""
        interval = self.policy.interval
        next_at = time.monotonic()
        done = 0
        while not self._stop.is_set():
            self.step()
            done += 1
            if steps is not None and done >= steps:
                return
            next_at += interval
            now = time.monotonic()
            next_at = max(next_at, now)
            self._stop.wait(next_at - now)

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current step (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        """Give the pressure lease back (if the server is there to take it)."""
        with contextlib.suppress(*_REDIS_DOWN):  # else it expires on its own
            self.lease.release()
