"""Values to bytes and back for Redis: msgpack with extension types, never pickle by default.

Round-trips exactly (equal value, same type): None, bool, int (any size), float, str,
bytes (``bytearray`` comes back as ``bytes``), list, tuple, dict, set, frozenset, complex, datetime/date/time
(naive, fixed offsets, ``zoneinfo`` zones), timedelta, Decimal, UUID, numpy scalars and
arrays of any numeric, bool, complex, datetime64 or timedelta64 dtype and shape (object
arrays element by element), pandas Timestamp/Timedelta/NaT/Period, Series, DataFrame and
Index (Range, Datetime with tz and freq, Multi, Categorical; numpy, categorical,
tz-aware, string and nullable columns; names kept, ``attrs`` dropped).

Numeric arrays travel as raw buffers and decode as zero-copy, **read-only** views of the
payload: call ``.copy()`` to mutate one. Decoding is defensive: a payload starts with a
format byte, msgpack limits are bounded by the payload's length, array shapes must match
their buffers, and anything corrupt or foreign raises :class:`CodecError` — never another
exception, never a huge allocation. Pickle is used only with ``allow_pickle=True`` (the
caller's opt-in, which :mod:`admf_perf.stores.payload` grants only with a verified
signing key).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import pickle
import struct
import uuid
import zoneinfo
from typing import Any

import msgpack
import numpy as np

from admf_perf import _codec_pandas as pdc
from admf_perf.errors import CodecError

FORMAT = b"\xc1"
"""First byte of every payload: a byte msgpack never emits, so foreign data is rejected."""

# extension type codes
TUPLE, SET, FROZENSET, BIGINT, COMPLEX = 1, 2, 3, 4, 5
DATETIME, DATE, TIME, TIMEDELTA, DECIMAL, UUID = 10, 11, 12, 13, 14, 15
NDARRAY, OBJARRAY, NPSCALAR = 20, 21, 22
PANDAS = 30
PICKLE = 99

_HEADER = struct.Struct("<I")


class _Encoder:
    def __init__(self, allow_pickle: bool) -> None:
        self.allow_pickle = allow_pickle
        self.packer = msgpack.Packer(
            default=self.default, use_bin_type=True, strict_types=True, datetime=False
        )

    def pack(self, value: Any) -> bytes:
        return bytes(self.packer.pack(value))

    def nested(self, value: Any) -> bytes:
        """Pack a part of the value with a fresh packer (the outer one is mid-write)."""
        return msgpack.packb(value, default=self.default, use_bin_type=True, strict_types=True)

    def default(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is tuple:
            return msgpack.ExtType(TUPLE, self.nested(list(obj)))
        if kind is int or kind is bool:  # an int out of msgpack's 64-bit range
            return msgpack.ExtType(BIGINT, str(int(obj)).encode())
        if kind is set or kind is frozenset:
            code = SET if kind is set else FROZENSET
            return msgpack.ExtType(code, self.nested(list(obj)))
        if isinstance(obj, np.ndarray):
            return encode_ndarray(obj, self)
        if isinstance(obj, np.generic):
            return encode_npscalar(obj)
        if kind is complex:
            return msgpack.ExtType(COMPLEX, struct.pack("<dd", obj.real, obj.imag))
        if kind is dt.datetime:
            return msgpack.ExtType(DATETIME, self.nested(_datetime_parts(obj)))
        if kind is dt.date:
            return msgpack.ExtType(DATE, obj.isoformat().encode())
        if kind is dt.time:
            return msgpack.ExtType(
                TIME, self.nested([obj.replace(tzinfo=None).isoformat(), _tz_parts(obj.tzinfo)])
            )
        if kind is dt.timedelta:
            return msgpack.ExtType(
                TIMEDELTA, struct.pack("<qqq", obj.days, obj.seconds, obj.microseconds)
            )
        if kind is decimal.Decimal:
            return msgpack.ExtType(DECIMAL, str(obj).encode())
        if kind is uuid.UUID:
            return msgpack.ExtType(UUID, obj.bytes)
        if type(obj).__module__.startswith("pandas"):
            parts = pdc.encode(obj)
            if parts is not None:
                return msgpack.ExtType(PANDAS, self.nested(parts))
        # subclasses of the containers msgpack knows: keep the contents, lose the class
        if isinstance(obj, dict):
            return dict(obj)
        if isinstance(obj, list):
            return list(obj)
        if isinstance(obj, str):
            return str(obj)
        if isinstance(obj, float):
            return float(obj)
        if self.allow_pickle:
            return msgpack.ExtType(PICKLE, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        raise TypeError(f"cannot encode value of type {type(obj).__qualname__!r}")


def _tz_parts(tz: dt.tzinfo | None) -> list[Any] | None:
    if tz is None:
        return None
    if isinstance(tz, zoneinfo.ZoneInfo):
        return ["zone", tz.key]
    if isinstance(tz, dt.timezone):
        offset = tz.utcoffset(None)
        return ["offset", offset.days * 86400 + offset.seconds, offset.microseconds]
    raise TypeError(f"cannot encode time zone of type {type(tz).__qualname__!r}")


def _tz_from(parts: list[Any] | None) -> dt.tzinfo | None:
    if parts is None:
        return None
    if parts[0] == "zone":
        return zoneinfo.ZoneInfo(parts[1])
    if parts[0] == "offset":
        offset = dt.timedelta(seconds=parts[1], microseconds=parts[2])
        return dt.UTC if not offset else dt.timezone(offset)
    raise ValueError(f"unknown time zone kind {parts[0]!r}")


def _datetime_parts(value: dt.datetime) -> list[Any]:
    return [value.replace(tzinfo=None).isoformat(), value.fold, _tz_parts(value.tzinfo)]


def encode_ndarray(array: np.ndarray, encoder: _Encoder) -> msgpack.ExtType:
    """Raw-buffer encoding (header length, msgpack header, bytes) of a numpy array."""
    if array.dtype.fields is not None:
        raise TypeError("cannot encode arrays of structured dtypes")
    if array.dtype.hasobject:
        return msgpack.ExtType(
            OBJARRAY, encoder.nested([list(array.shape), array.ravel().tolist()])
        )
    header = msgpack.packb([array.dtype.str, list(array.shape)])
    raw = array.tobytes(order="C")  # one memcpy; a view can't be joined faster
    return msgpack.ExtType(NDARRAY, b"".join((_HEADER.pack(len(header)), header, raw)))


def encode_npscalar(value: np.generic) -> msgpack.ExtType:
    array = np.asarray(value)
    if array.dtype.hasobject or array.dtype.fields is not None:
        raise TypeError(f"cannot encode numpy scalar of dtype {array.dtype}")
    header = msgpack.packb([array.dtype.str, []])
    return msgpack.ExtType(NPSCALAR, _HEADER.pack(len(header)) + header + array.tobytes())


def _decode_raw_array(data: bytes) -> np.ndarray:
    (size,) = _HEADER.unpack_from(data)
    dtype_str, shape = msgpack.unpackb(data[4 : 4 + size])
    dtype = np.dtype(dtype_str)
    if dtype.hasobject or dtype.fields is not None:
        raise ValueError(f"raw array of dtype {dtype} is not allowed")
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"bad array shape {shape!r}")
    count = math.prod(shape)
    if count * dtype.itemsize != len(data) - 4 - size:
        raise ValueError("array buffer does not match its shape")
    return np.frombuffer(data, dtype=dtype, count=count, offset=4 + size).reshape(shape)


class _Decoder:
    def __init__(self, allow_pickle: bool) -> None:
        self.allow_pickle = allow_pickle

    def unpack(self, data: bytes | memoryview) -> Any:
        return msgpack.unpackb(
            data,
            ext_hook=self.ext_hook,
            raw=False,
            strict_map_key=False,
            use_list=True,
        )

    def ext_hook(self, code: int, data: bytes) -> Any:
        if code == NDARRAY:
            return _decode_raw_array(data)
        if code == NPSCALAR:
            return _decode_raw_array(data)[()]
        if code == TUPLE:
            return tuple(self.unpack(data))
        if code == SET:
            return set(self.unpack(data))
        if code == FROZENSET:
            return frozenset(self.unpack(data))
        if code == BIGINT:
            return int(data.decode())
        if code == COMPLEX:
            return complex(*struct.unpack("<dd", data))
        if code == DATETIME:
            text, fold, tz = self.unpack(data)
            return dt.datetime.fromisoformat(text).replace(fold=fold, tzinfo=_tz_from(tz))
        if code == DATE:
            return dt.date.fromisoformat(data.decode())
        if code == TIME:
            text, tz = self.unpack(data)
            return dt.time.fromisoformat(text).replace(tzinfo=_tz_from(tz))
        if code == TIMEDELTA:
            days, seconds, micros = struct.unpack("<qqq", data)
            return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
        if code == DECIMAL:
            return decimal.Decimal(data.decode())
        if code == UUID:
            return uuid.UUID(bytes=data)
        if code == OBJARRAY:
            shape, items = self.unpack(data)
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.reshape(shape)
        if code == PANDAS:
            return pdc.decode(self.unpack(data))
        if code == PICKLE:
            if not self.allow_pickle:
                raise ValueError(
                    "refusing to unpickle: pickle needs a signing key and allow_pickle"
                )
            return pickle.loads(data)
        raise ValueError(f"unknown extension type {code}")


_ENCODERS = {flag: _Encoder(flag) for flag in (False, True)}
_DECODERS = {flag: _Decoder(flag) for flag in (False, True)}


def encode(value: object, *, allow_pickle: bool = False) -> bytes:
    """``value`` as a payload; :class:`CodecError` names what can't be encoded."""
    try:
        return FORMAT + _ENCODERS[allow_pickle].pack(value)
    except CodecError:
        raise
    except (TypeError, ValueError, OverflowError, AttributeError, pickle.PicklingError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "recursion" in message or "nest" in message:
            message = "value is nested too deeply or refers to itself"
        raise CodecError(f"cannot encode {type(value).__qualname__} value: {message}") from None
    except RecursionError:
        raise CodecError("cannot encode: value is nested too deeply or refers to itself") from None


def decode(data: bytes | bytearray | memoryview, *, allow_pickle: bool = False) -> object:
    """The value of a payload made by :func:`encode`; :class:`CodecError` for anything else."""
    view = memoryview(data)
    if bytes(view[:1]) != FORMAT:
        raise CodecError("corrupt payload: not an admf-perf payload (wrong format byte)")
    try:
        return _DECODERS[allow_pickle].unpack(view[1:])
    except Exception as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CodecError(f"corrupt payload: {message[:200]}") from None
