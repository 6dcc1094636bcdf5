"""Start-up checks: a server whose maxmemory-policy can evict the executor's or the locks'
keys, or that takes commands without a password off loopback, is reported once per
backend, on first use; a sane server is not."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator

import pytest
import redis

from admf_perf import Cache
from admf_perf.server import EmbeddedServer
from admf_perf.stores import RedisBackend
from admf_perf.stores.checks import check_server, is_loopback
from admf_perf.testing import unique_name


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as box:
        yield box


def test_a_sane_server_gives_no_warning(redis_url: str, redis_client: redis.Redis) -> None:
    assert check_server(redis_client, redis_url) == []


@pytest.mark.parametrize(
    ("policy", "evicts"),
    [
        ("allkeys-lru", "any key"),
        ("allkeys-lfu", "any key"),
        ("allkeys-random", "any key"),
        ("volatile-lru", "every key with a TTL"),
        ("volatile-ttl", "every key with a TTL"),
        ("noeviction", None),
    ],
)
def test_an_evicting_policy_is_reported(server: EmbeddedServer, policy: str, evicts: str) -> None:
    client = server.client()
    client.config_set("maxmemory-policy", policy)
    client.config_set("maxmemory", "100mb")
    try:
        found = check_server(client, server.url)
    finally:
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", 0)
    if evicts is None:
        assert found == []
    else:
        (warning,) = found
        assert policy in warning and evicts in warning and "noeviction" in warning


def test_the_backend_logs_each_warning_once_on_first_use(
    server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = server.client()
    client.config_set("maxmemory-policy", "volatile-lru")
    caplog.set_level(logging.WARNING, logger="admf_perf")
    try:
        backend = RedisBackend(server.url, namespace=unique_name())
        assert not [r for r in caplog.records if "maxmemory-policy" in r.getMessage()]
        for _ in range(3):
            cache = Cache(unique_name(), backend=backend)
            cache.set("k", 1)
            assert cache.get("k") == 1, "a warning, not a refusal"
    finally:
        client.config_set("maxmemory-policy", "noeviction")
    warned = [r for r in caplog.records if "maxmemory-policy volatile-lru" in r.getMessage()]
    assert len(warned) == 1


def test_no_password_off_loopback_is_reported_with_the_url_redacted(
    server: EmbeddedServer,
) -> None:
    client = server.client()  # the checks judge the address by the URL the user gave
    (warning,) = check_server(client, "redis://10.20.30.40:6379/0")
    assert "without a password" in warning and "10.20.30.40" in warning
    assert check_server(client, "redis://:s3cret@10.20.30.40:6379/0") == []
    assert check_server(client, "redis://10.20.30.40:6379/0?password=s3cret") == []
    assert check_server(client, "redis://localhost:6379/0") == []
    assert check_server(client, "unix:///tmp/redis.sock") == []
    assert is_loopback("redis://[::1]:6379/0") and not is_loopback("redis://[fd00::2]:1/0")


def _own_address() -> str | None:
    """A non-loopback IPv4 address of this machine (no packet is sent), or None."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
        address = str(s.getsockname()[0])
        return None if address.startswith("127.") else address
    return None


def test_a_real_open_server_on_a_network_address_is_reported() -> None:
    address = _own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    args = ["--bind", f"127.0.0.1 {address}", "--protected-mode", "no"]
    with EmbeddedServer(extra_args=args) as open_server:
        url = f"redis://{address}:{open_server.port}/0"
        backend = RedisBackend(url, namespace=unique_name())
        (warning,) = backend.check_server()
        assert "without a password" in warning and address in warning
        assert backend.check_server() == [], "once per backend"
