"""Start-up checks of a Redis server: settings that quietly break admf-perf's promises.

:func:`check_server` asks the server (``INFO memory``, one round trip; no admin
commands, so it works for a restricted ACL user) and returns one warning per problem:

- a ``maxmemory-policy`` that evicts: ``allkeys-*`` may drop any key (the executor's
  queue and jobs, chunk leases, single-flight locks, cache indexes), ``volatile-*``
  every key with a TTL (locks, leases, TTL'd entries). ``noeviction`` is the policy
  admf-perf is built for: a full server refuses new entries, cached functions just
  compute, and the host agent frees room by pattern.
- a server that answers without a password on an address other than loopback:
  anyone who reaches it can read the caches and make the workers run jobs.

:class:`~admf_perf.stores.redis_store.RedisBackend` logs these once, on first use.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import parse_qs, urlsplit

from admf_perf.config import redact_url

EVICTING_PREFIXES = ("allkeys-", "volatile-")


def check_server(client: Any, url: str) -> list[str]:
    """Warnings about the server behind ``client`` (reached at ``url``); ``[]`` if none.

    Raises what the client raises when the server can't be reached.
    """
    warnings = []
    shown = redact_url(url)
    everywhere = getattr(client, "ALL_NODES", None)  # a cluster: ask every node
    found = client.info("memory", target_nodes=everywhere) if everywhere else client.info("memory")
    for info in _per_node(found):
        policy = str(info.get("maxmemory_policy", "noeviction"))
        if policy.startswith(EVICTING_PREFIXES):
            what = "any key" if policy.startswith("allkeys-") else "every key with a TTL"
            limit = int(info.get("maxmemory", 0) or 0)
            when = "at maxmemory" if limit else "once a maxmemory is set"
            warnings.append(
                f"Redis at {shown} has maxmemory-policy {policy}: {when} it evicts {what}, "
                "including the executor's jobs and leases and the caches' locks and "
                "indexes; use maxmemory-policy noeviction (full: caches just compute)"
            )
            break
    if not _sends_password(client, url) and not _serves_loopback_only(client, url):
        warnings.append(
            f"Redis at {shown} accepts commands without a password on a non-loopback "
            "address: anyone who reaches it can read the caches and have the workers run "
            "jobs; set requirepass or an ACL user, and put the password in the URL"
        )
    return warnings


def _per_node(info: Any) -> list[dict[str, Any]]:
    """``INFO`` of a single server, or of each node (a cluster client answers per node)."""
    if isinstance(info, dict) and info and all(isinstance(v, dict) for v in info.values()):
        return list(info.values())
    return [info] if isinstance(info, dict) else []


def _sends_password(client: Any, url: str) -> bool:
    parts = urlsplit(url)
    if parts.password or "password" in parse_qs(parts.query):
        return True
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None) or getattr(
        getattr(client, "nodes_manager", None), "connection_kwargs", None
    )
    return bool(isinstance(kwargs, dict) and kwargs.get("password"))


def _serves_loopback_only(client: Any, url: str) -> bool:
    """Behind Sentinels, the master they name is the server that matters."""
    master = getattr(getattr(client, "connection_pool", None), "get_master_address", None)
    if master is not None:
        return _host_is_loopback(str(master()[0]))
    return is_loopback(url)


def is_loopback(url: str) -> bool:
    """True if ``url`` is a unix socket or names a host that resolves only to loopback."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return True
    return _host_is_loopback(parts.hostname or "")


def _host_is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(found) and all(ipaddress.ip_address(a[4][0]).is_loopback for a in found)
