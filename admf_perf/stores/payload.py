"""Values to bytes and back for one Redis cache: the codec, signed when a key is set.

With ``configure(signing_key=...)`` every payload is ``b"HM1" + HMAC-SHA256 + data``;
the MAC covers the namespace, cache name, entry key and code version as well as the
data, so a tampered byte, a valid payload copied to another key and a payload of an
older version are all rejected (a counted miss). Pickle, for values msgpack can't hold,
is only possible with a signing key and ``allow_pickle=True``, and a pickled value is
only unpickled after its MAC verifies.
"""

from __future__ import annotations

import hashlib
import hmac

from admf_perf import codec
from admf_perf.config import Settings
from admf_perf.errors import CodecError

SIGNED = b"HM1"
_MAC_SIZE = 32


class Payloads:
    """Encoding, signing and verification of one cache's payloads."""

    def __init__(self, settings: Settings, namespace: str, cache: str, version: str) -> None:
        self._key = settings.signing_key
        self._pickle = settings.allow_pickle
        self._context = f"{namespace}\0{cache}\0{version}\0".encode()

    def dumps(self, key: str, value: object) -> bytes:
        data = codec.encode(value, allow_pickle=self._pickle)
        if self._key is None:
            return data
        return SIGNED + self._mac(key, data) + data

    def loads(self, key: str, payload: bytes) -> object:
        if payload[:3] == SIGNED:
            mac, data = payload[3 : 3 + _MAC_SIZE], payload[3 + _MAC_SIZE :]
            if self._key is None:
                return codec.decode(data)  # unverified, so never unpickled
            if not hmac.compare_digest(mac, self._mac(key, data)):
                raise CodecError("signature does not verify (tampered, moved or another version)")
            return codec.decode(data, allow_pickle=self._pickle)
        if self._key is not None:
            raise CodecError("payload is not signed, and a signing key is set")
        return codec.decode(payload)

    def _mac(self, key: str, data: bytes) -> bytes:
        assert self._key is not None
        mac = hmac.new(self._key, self._context, hashlib.sha256)
        mac.update(key.encode("utf-8", "surrogateescape") + b"\0")
        mac.update(data)
        return mac.digest()
