"""What the agents keep in Redis, and how tools read it back. Every key starts with the
namespace:

- ``ns:host:<host>``        the host's latest snapshot (JSON), expiring after about three
                            intervals, so a host that stops reporting drops out
- ``ns:hoststream:<host>``  its recent history: a capped stream of flat numeric fields
- ``ns:hosts``              sorted set of host names by last report (a day at most)
- ``ns:events``             capped stream of the pressure actions of every agent
- ``ns:agent:lease``        the pressure lease (see :mod:`admf_perf.agent.lease`)

Writes go through small Lua scripts in ``agent/lua`` (one round trip each, allowed to
run at ``maxmemory``: the records are tiny and bounded, and matter most then).
"""

from __future__ import annotations

import functools
import json
import time
from importlib import resources
from typing import Any

import msgpack

from admf_perf.stores.scripts import Script

HOST_RETENTION = 86_400
"""Seconds a silent host stays in ``ns:hosts`` and keeps its history stream."""
EVENTS_MAXLEN = 10_000


def host_key(ns: str, host: str) -> str:
    return f"{ns}:host:{host}"


def stream_key(ns: str, host: str) -> str:
    return f"{ns}:hoststream:{host}"


def hosts_key(ns: str) -> str:
    return f"{ns}:hosts"


def events_key(ns: str) -> str:
    return f"{ns}:events"


def lease_key(ns: str) -> str:
    return f"{ns}:agent:lease"


def control_channel(ns: str) -> str:
    return f"{ns}:control"


@functools.cache
def lua(name: str) -> str:
    """The source of ``agent/lua/<name>.lua``."""
    return resources.files("admf_perf.agent").joinpath("lua", f"{name}.lua").read_text()


@functools.cache
def script(name: str) -> Script:
    """The agent's script ``name`` (``EVALSHA``, reloaded on ``NOSCRIPT``)."""
    return Script(name, lua(name))


def history_fields(snapshot: dict[str, Any]) -> dict[str, float]:
    """The flat numbers of a snapshot kept in the host's history stream."""
    return {
        "time": round(snapshot["time"], 3),
        "cpu": snapshot["cpu"]["percent"],
        "load1": snapshot["load"][0],
        "mem": snapshot["memory"]["used_fraction"],
        "swap_used": snapshot["swap"]["used"],
        "disk_read_bps": snapshot["disk"]["read_bps"],
        "disk_write_bps": snapshot["disk"]["write_bps"],
        "net_recv_bps": snapshot["net"]["recv_bps"],
        "net_sent_bps": snapshot["net"]["sent_bps"],
        "workers": snapshot["workers"]["count"],
        "workers_rss": snapshot["workers"]["rss"],
        "workers_cpu": snapshot["workers"]["cpu_percent"],
    }


class Writer:
    """The agent's writes: reports, events and the release command, on one client."""

    def __init__(self, client: Any, namespace: str) -> None:
        self.client = client
        self.ns = namespace
        self._report = script("report")
        self._event = script("event")

    def report(self, snapshot: dict[str, Any], *, ttl: float, history: int) -> None:
        host = snapshot["host"]
        flat = [x for pair in history_fields(snapshot).items() for x in pair]
        self._report(
            self.client,
            [host_key(self.ns, host), stream_key(self.ns, host), hosts_key(self.ns)],
            [
                json.dumps(snapshot, separators=(",", ":")),
                max(1, round(ttl * 1000)),
                history,
                host,
                round(snapshot["time"], 3),
                HOST_RETENTION,
                *flat,
            ],
        )

    def event(self, event: dict[str, Any]) -> None:
        flat = []
        for name, value in event.items():
            if value is None:
                continue
            flat += [name, json.dumps(value) if isinstance(value, dict | list) else value]
        self._event(self.client, [events_key(self.ns)], [EVENTS_MAXLEN, *flat])

    def release(self, host: str) -> int:
        """Ask every process of the namespace on ``host`` to release memory (the fleet
        command CacheManager acts on); the number of subscribers that got it."""
        import os

        message = msgpack.packb({"op": "release", "host": host, "from": os.getpid()})
        return int(self.client.publish(control_channel(self.ns), message))


# -- reading ---------------------------------------------------------------------------


def read_hosts(client: Any, namespace: str) -> list[dict[str, Any]]:
    """The latest snapshot of every host still reporting, by name, each with ``age``:
    seconds since its report (from the key's remaining TTL: no clock skew between hosts)."""
    names = [n.decode() for n in client.zrange(hosts_key(namespace), 0, -1)]
    if not names:
        return []
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.get(host_key(namespace, name))
        pipe.pttl(host_key(namespace, name))
    replies = pipe.execute()
    hosts = []
    for blob, pttl in zip(replies[::2], replies[1::2], strict=True):
        if blob is None:
            continue
        snapshot = json.loads(blob)
        ttl = snapshot.get("ttl", 0)
        if pttl is not None and pttl >= 0 and ttl:
            snapshot["age"] = round(max(ttl - pttl / 1000, 0.0), 2)
        else:
            snapshot["age"] = round(max(time.time() - snapshot["time"], 0.0), 2)
        hosts.append(snapshot)
    return sorted(hosts, key=lambda s: s["host"])


def read_history(client: Any, namespace: str, host: str, count: int = 60) -> list[dict[str, float]]:
    """The host's last ``count`` samples, oldest first."""
    entries = client.xrevrange(stream_key(namespace, host), count=count)
    return [{k.decode(): float(v) for k, v in fields.items()} for _, fields in reversed(entries)]


def read_events(client: Any, namespace: str, limit: int = 50) -> list[dict[str, Any]]:
    """The last ``limit`` pressure actions, newest first."""
    entries = client.xrevrange(events_key(namespace), count=limit)
    return [_event(entry_id, fields) for entry_id, fields in entries]


_INTS = ("pid", "removed", "receivers", "used_before", "used_after", "limit")
_FLOATS = ("time", "threshold")


def _event(entry_id: bytes, fields: dict[bytes, bytes]) -> dict[str, Any]:
    event: dict[str, Any] = {"id": entry_id.decode()}
    for raw_name, raw in fields.items():
        name, text = raw_name.decode(), raw.decode("utf-8", "replace")
        if name in _INTS:
            event[name] = int(float(text))
        elif name in _FLOATS:
            event[name] = float(text)
        elif name == "caches":
            event[name] = json.loads(text)
        else:
            event[name] = text
    return event


def read_queues(client: Any) -> dict[str, dict[str, int]]:
    """RQ's queues on the server: jobs waiting, started, failed, and workers listening."""
    import rq

    queues = {}
    for queue in rq.Queue.all(connection=client):
        queues[queue.name] = {
            "jobs": queue.count,
            "started": queue.started_job_registry.count,
            "failed": queue.failed_job_registry.count,
            "workers": rq.Worker.count(connection=client, queue=queue),
        }
    return dict(sorted(queues.items()))
