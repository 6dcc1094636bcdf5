"""The pressure lease: at most one agent of a namespace invalidates shared entries at a time.

An agent that sees pressure takes the lease (``ns:agent:lease``, a random token with a
TTL) before it invalidates anything, extends it between patterns and at every interval
while pressure lasts, and gives it back when pressure is gone or it stops. A holder that
dies (``kill -9``, a lost host) stops extending it, and another agent takes over once the
TTL runs out. So ten hosts that see the same full Redis don't all flush at once.
"""

from __future__ import annotations

import uuid
from typing import Any

from admf_perf.agent.records import lease_key, script


class Lease:
    """One agent's claim on the namespace's lease; ``ttl`` in seconds."""

    def __init__(self, client: Any, namespace: str, ttl: float) -> None:
        self.key = lease_key(namespace)
        self.token = uuid.uuid4().hex
        self.ttl_ms = max(1, round(ttl * 1000))
        self.held = False
        self.client = client
        self._acquire = script("lease_acquire")
        self._release = script("lease_release")

    def acquire(self) -> bool:
        """Take the lease, or extend it if held; whether this agent holds it now."""
        self.held = bool(self._acquire(self.client, [self.key], [self.token, self.ttl_ms]))
        return self.held

    def release(self) -> None:
        """Give the lease back if this agent still holds it."""
        if self.held:
            self.held = False
            self._release(self.client, [self.key], [self.token])
