"""Signed payloads: what fails verification is a counted miss, never a value."""

from __future__ import annotations

import pytest

from admf_perf import Cache, ConfigurationError, configure
from admf_perf.testing import unique_name

KEY = "a-signing-key-of-enough-length"


@pytest.fixture
def signed(namespace):
    configure(signing_key=KEY)
    return namespace


def entry_key(cache, key):
    return f"{cache.store.prefix}e:{key}"


def test_signed_values_round_trip(signed):
    cache = Cache(unique_name())
    cache.set("k", {"sharpe": 1.5})
    assert cache.get("k") == {"sharpe": 1.5}


def test_a_tampered_byte_is_a_counted_miss(signed, redis_client):
    cache = Cache(unique_name())
    cache.set("k", [1, 2, 3])
    cache.set("other", 7)
    payload = bytearray(redis_client.hget(entry_key(cache, "k"), "v"))
    payload[-1] ^= 0x01
    redis_client.hset(entry_key(cache, "k"), "v", bytes(payload))
    assert cache.get("k", "miss") == "miss"
    assert cache.get("other") == 7
    stats = cache.stats()
    assert (stats.corrupt, stats.size) == (1, 1)


def test_a_valid_payload_copied_to_another_key_is_rejected(signed, redis_client):
    cache = Cache(unique_name())
    cache.set("AAPL", 100.0)
    cache.set("MSFT", 200.0)
    redis_client.hset(
        entry_key(cache, "MSFT"), "v", redis_client.hget(entry_key(cache, "AAPL"), "v")
    )
    assert cache.get("MSFT") is None
    assert cache.get("AAPL") == 100.0


def test_an_old_version_replayed_is_rejected(signed, redis_client):
    name = unique_name()
    old = Cache(name, version="v1")
    old.set("k", "old result")
    stolen = redis_client.hgetall(entry_key(old, "k"))
    new = Cache(name, version="v2")
    new.set("k", "new result")
    # replay the old payload, relabelled with the new version
    redis_client.hset(entry_key(new, "k"), "v", stolen[b"v"])
    assert new.get("k") is None
    assert new.stats().corrupt == 1


def test_unsigned_payloads_are_refused_when_a_key_is_set(namespace, redis_url):
    name = unique_name()
    Cache(name).set("k", 1)  # written without a key
    configure(signing_key=KEY)
    reader = Cache(name)
    assert reader.get("k") is None
    assert reader.stats().corrupt == 1


def test_pickle_is_refused_without_a_signing_key(namespace):
    with pytest.raises(ConfigurationError, match="allow_pickle needs a signing_key"):
        configure(allow_pickle=True)
