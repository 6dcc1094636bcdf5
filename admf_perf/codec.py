"""Bytes for cache values and task payloads: msgpack with type markers, never pickle.

Every Redis cache hit and every task result passes through here, so the codec is built to be
fast on big arrays, exact on types (a tuple comes back a tuple, a frame with its dtypes and
index freq) and safe on foreign bytes: decoding only ever builds a fixed set of types, within
limits sized to the payload, and anything odd raises ``CodecError`` (a cache miss to callers).

Format 1 is ``0xC1 | u32 header length (little-endian) | msgpack header | padding | buffers``.
msgpack never emits 0xC1, so plain msgpack, pickles (0x80), JSON and text fail on the first
byte. Types msgpack lacks are written as a list whose first item is an empty ExtType *marker*
naming the type (``[TUPLE, 1, 2]``); the decoder's list hook turns such lists back into
objects bottom-up, so decoding never recurses in Python. numpy buffers of numeric, bool,
datetime and fixed-width string dtypes follow the header, 16-byte aligned, referenced by
offset: encoding copies each once, decoding copies none. Decoded arrays are therefore
**read-only views of the payload** (call ``.copy()`` to mutate); pandas objects are rebuilt
with writable data. Subclasses of builtin types are refused (they would come back as the
base type), except ``OrderedDict``; ``np.memmap`` comes back as a plain ndarray.

Pickle is used only when both sides pass ``allow_pickle=True``, for values no codec knows;
:mod:`admf_perf.stores.payload` does so only with a signing key, after the MAC verifies.
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib
import math
import pickle
import re
import struct
import sys
import uuid
import zoneinfo
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

import msgpack
import numpy as np

from admf_perf.errors import CodecError

__all__ = ["FORMAT", "MAX_DEPTH", "decode", "encode"]

FORMAT: Final = b"\xc1"
"""First byte of every payload: format 1 (a byte msgpack itself never uses)."""
MAX_DEPTH: Final = 64
"""Deepest nesting of lists, tuples, dicts and sets that ``encode`` accepts."""

_PREFIX = struct.Struct("<BI")
_ALIGN = 16
_RAW_KINDS = frozenset("biufcmMSU")
_DTYPE_RE = re.compile(r"[<>|=]?[biufcmMSU]\d{1,9}(?:\[\d{0,9}[a-zA-Z]{1,2}\])?")
_ZONE_RE = re.compile(r"[A-Za-z0-9_+\-]{1,40}(?:/[A-Za-z0-9_+\-]{1,40}){0,3}")

# Marker codes 1-31 are builtin and numpy types; 32-63 belong to admf_perf._codec_pandas.
TUPLE, SET, FROZENSET, BIGINT, BYTEARRAY, ODICT, COMPLEX, DECIMAL, UUID = range(1, 10)
DATETIME, DATE, TIME, TIMEDELTA, NDARRAY, OBJARRAY, NPSCALAR, PICKLE = range(10, 18)
PANDAS_CODES: Final = range(32, 64)


def _marker(code: int) -> msgpack.ExtType:
    """The empty ExtType that opens the list of a type msgpack has no native form for."""
    return msgpack.ExtType(code, b"")


_M = {code: _marker(code) for code in range(1, 18)}
Handler = Callable[["_Encoder", Any], object]
Builder = Callable[["_Decoder", list[Any]], object]


class _UnsupportedError(Exception):
    """Raised inside the packer for a value with no codec; ``encode`` adds where it was."""

    def __init__(self, obj: object, reason: str) -> None:
        super().__init__(reason)
        self.obj = obj
        self.reason = reason


# ---------------------------------------------------------------------------- encoding


class _Encoder:
    """State of one ``encode`` call: the out-of-band buffers collected so far."""

    __slots__ = ("allow_pickle", "buffers", "size")

    def __init__(self, allow_pickle: bool) -> None:
        self.allow_pickle = allow_pickle
        self.buffers: list[Any] = []
        self.size = 0

    def add_buffer(self, data: np.ndarray) -> int:
        """Queue a 1-D uint8 view to follow the header; return its offset there."""
        pad = -self.size % _ALIGN
        if pad:
            self.buffers.append(bytes(pad))
        offset = self.size + pad
        self.buffers.append(data)
        self.size = offset + data.nbytes
        return offset

    def default(self, obj: object) -> object:
        """msgpack's hook for every value it cannot pack natively (strict_types is on)."""
        handler = _ENCODERS.get(type(obj))
        if handler is None:
            try:
                handler = _find_encoder(obj)
            except _UnsupportedError:
                if not self.allow_pickle:
                    raise
                return [_M[PICKLE], pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)]
        return handler(self, obj)


def encode(value: object, *, allow_pickle: bool = False) -> bytes:
    """Serialize ``value`` to bytes; raise ``CodecError`` naming the type that cannot be."""
    if type(value) in _SCALARS:  # fast path: no hooks, no buffers
        try:
            body = msgpack.packb(value)
            return _PREFIX.pack(FORMAT[0], len(body)) + body
        except (OverflowError, UnicodeEncodeError):  # big ints, lone surrogates: long way
            pass
    enc = _Encoder(allow_pickle)
    try:
        packer = msgpack.Packer(
            default=enc.default, strict_types=True, autoreset=False, unicode_errors="surrogatepass"
        )
        packer.pack(_prepare(value))
        header = packer.getbuffer()
    except _UnsupportedError as exc:
        where = _locate(value, exc.obj)
        at = f" at {where}" if where else ""
        raise CodecError(
            f"cannot encode value of type {type(exc.obj).__name__!r}{at}: {exc.reason}"
        ) from None
    except Exception as exc:
        raise CodecError(
            f"cannot encode value of type {type(value).__name__!r}: {_why(exc)}"
        ) from None
    if len(header) >= 2**32:
        raise CodecError(f"cannot encode value of type {type(value).__name__!r}: over 4 GiB")
    parts: list[Any] = [_PREFIX.pack(FORMAT[0], len(header)), header]
    if enc.buffers:
        parts.append(bytes(-(_PREFIX.size + len(header)) % _ALIGN))
        parts.extend(enc.buffers)
    return b"".join(parts)


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    if "recursion limit" in text or isinstance(exc, RecursionError):
        return "value is nested too deeply or refers to itself"
    return f"{type(exc).__name__}: {text}"


_SCALARS = frozenset({type(None), bool, int, float, str, bytes})
_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})
# Types msgpack would pack natively but lose on the way back (bytearray and memoryview come
# back as bytes, raw ExtType/Timestamp would be read as something else).
_TRAPS = {
    bytearray: "",
    memoryview: "memoryview would come back as bytes; pass bytes(view)",
    msgpack.ExtType: "raw msgpack extension values are reserved for the codec",
    msgpack.Timestamp: "raw msgpack timestamps are reserved for the codec; use datetime",
}


def _prepare(value: object) -> object:
    """Return ``value`` ready for the packer: bytearrays inside builtin containers wrapped.

    A level-by-level scan with C-speed type checks finds out whether there is any; only then
    is the structure copied. Raises ``_UnsupportedError`` past ``MAX_DEPTH`` levels.
    """
    if type(value) in _TRAPS:
        return _convert(value, 0)
    if type(value) not in _CONTAINERS:
        return value
    level: list[Any] = [value]
    seen = {id(value)}
    for _ in range(MAX_DEPTH):
        items: list[Any] = []
        for c in level:
            if type(c) is dict:
                items.extend(c.keys())
                items.extend(c.values())
            else:
                items.extend(c)
        types = set(map(type, items))
        if not types.isdisjoint(_TRAPS):
            return _convert(value, 0)
        if types.isdisjoint(_CONTAINERS):
            return value
        level = []
        for c in items:
            if type(c) in _CONTAINERS and id(c) not in seen:
                seen.add(id(c))
                level.append(c)
        if not level:
            return value
    raise _UnsupportedError(value, f"nested deeper than {MAX_DEPTH} levels")


def _convert(obj: Any, depth: int) -> Any:
    tp = type(obj)
    if tp is bytearray:
        return [_M[BYTEARRAY], bytes(obj)]
    if tp in _TRAPS:
        raise _UnsupportedError(obj, _TRAPS[tp])
    if tp not in _CONTAINERS:
        return obj
    if depth >= MAX_DEPTH:
        raise _UnsupportedError(obj, f"nested deeper than {MAX_DEPTH} levels")
    if tp is list:
        return [_convert(c, depth + 1) for c in obj]
    if tp is dict:
        return {_convert(k, depth + 1): _convert(v, depth + 1) for k, v in obj.items()}
    return tp(_convert(c, depth + 1) for c in obj)


def _locate(root: object, target: object) -> str:
    """Path like ``[2]['x']`` from ``root`` to ``target`` through builtin containers, or ''."""

    def walk(node: Any, depth: int, seen: set[int]) -> list[str] | None:
        if node is target:
            return []
        tp = type(node)
        if depth > MAX_DEPTH or id(node) in seen or not (tp in _CONTAINERS or tp is OrderedDict):
            return None
        seen.add(id(node))
        steps: list[tuple[str, Any]]
        if isinstance(node, dict):
            steps = [(f"[key {_short(k)}]", k) for k in node]
            steps += [(f"[{_short(k)}]", v) for k, v in node.items()]
        elif tp is list or tp is tuple:
            steps = [(f"[{i}]", v) for i, v in enumerate(node)]
        else:
            steps = [(f"{{{_short(v)}}}", v) for v in node]
        for label, child in steps:
            found = walk(child, depth + 1, seen)
            if found is not None:
                return [label, *found]
        return None

    path = walk(root, 0, set())
    if not path:
        return ""
    return "".join(path) if len(path) <= 12 else "".join(path[:12]) + "..."


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _tz_spec(tz: dt.tzinfo | None, when: dt.datetime | None, zones: bool = True) -> Any:
    """A tzinfo as msgpack-native data: None, [0, offset µs, name], [1, key] or [2, pytz key].

    ``zones=False`` (for datetimes) writes zones that are not ZoneInfo as the offset in
    force at ``when``: the instant survives, the zone object does not.
    """
    if tz is None:
        return None
    if type(tz) is dt.timezone:
        fixed = tz.utcoffset(None)
        name = tz.tzname(None)
        return [0, _micros(fixed), None if name == dt.timezone(fixed).tzname(None) else name]
    if isinstance(tz, zoneinfo.ZoneInfo) and tz.key is not None:
        return [1, tz.key]
    zone = getattr(tz, "zone", None)  # pytz, for pandas
    if zones and isinstance(zone, str):
        return [2, zone]
    offset = tz.utcoffset(when)
    if offset is None:
        raise _UnsupportedError(tz, "tzinfo has no fixed UTC offset")
    return [0, _micros(offset), None]


def _micros(delta: dt.timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _enc_datetime(enc: _Encoder, v: dt.datetime) -> object:
    tz = _tz_spec(v.tzinfo, v, zones=False)
    return [_M[DATETIME], v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond,
            v.fold, tz]  # fmt: skip


def _enc_time(enc: _Encoder, v: dt.time) -> object:
    tz = _tz_spec(v.tzinfo, None, zones=False)
    return [_M[TIME], v.hour, v.minute, v.second, v.microsecond, v.fold, tz]


def _enc_bigint(enc: _Encoder, v: int) -> object:
    return [_M[BIGINT], v.to_bytes(v.bit_length() // 8 + 1, "big", signed=True)]


def _enc_ndarray(enc: _Encoder, arr: np.ndarray) -> object:
    dtype = arr.dtype
    if dtype.kind == "O":
        return [_M[OBJARRAY], list(arr.shape), _prepare(arr.ravel().tolist())]
    if dtype.kind not in _RAW_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _UnsupportedError(arr, f"arrays of dtype {dtype} are not supported")
    order = "C"
    flat = arr
    if not arr.flags.c_contiguous:
        if arr.flags.f_contiguous:
            flat, order = arr.T, "F"
        else:
            flat = np.ascontiguousarray(arr)
    offset = enc.add_buffer(flat.reshape(-1).view(np.uint8)) if arr.nbytes else 0
    return [_M[NDARRAY], dtype.str, list(arr.shape), order, offset, arr.nbytes]


def _enc_npscalar(enc: _Encoder, v: np.generic) -> object:
    dtype = v.dtype
    if dtype.kind not in _RAW_KINDS:
        raise _UnsupportedError(v, f"numpy scalars of dtype {dtype} are not supported")
    return [_M[NPSCALAR], dtype.str, v.tobytes() if dtype.itemsize else b""]


_ENCODERS: dict[type, Handler] = {
    tuple: lambda enc, v: [_M[TUPLE], *v],
    set: lambda enc, v: [_M[SET], *v],
    frozenset: lambda enc, v: [_M[FROZENSET], *v],
    int: _enc_bigint,
    OrderedDict: lambda enc, v: [_M[ODICT], _prepare(dict(v))],
    complex: lambda enc, v: [_M[COMPLEX], v.real, v.imag],
    decimal.Decimal: lambda enc, v: [_M[DECIMAL], str(v)],
    uuid.UUID: lambda enc, v: [_M[UUID], v.bytes],
    dt.datetime: _enc_datetime,
    dt.date: lambda enc, v: [_M[DATE], v.toordinal()],
    dt.time: _enc_time,
    dt.timedelta: lambda enc, v: [_M[TIMEDELTA], v.days, v.seconds, v.microseconds],
    np.ndarray: _enc_ndarray,
    np.memmap: _enc_ndarray,
}
_BUILTIN_BASES = (dict, list, tuple, set, frozenset, str, bytes, int, float, complex,
                  dt.datetime, dt.date, dt.time, dt.timedelta, decimal.Decimal, np.ndarray)  # fmt: skip


def _find_encoder(obj: object) -> Handler:
    """Handler for a type not in ``_ENCODERS`` (numpy scalars, pandas); cached once found."""
    tp = type(obj)
    handler: Handler | None = None
    if issubclass(tp, np.generic):
        handler = _enc_npscalar
    elif "pandas" in sys.modules:
        from admf_perf import _codec_pandas

        handler = _codec_pandas.handler_for(tp)
    if handler is None:
        base = next((b for b in _BUILTIN_BASES if issubclass(tp, b)), None)
        if base is not None:
            reason = f"subclasses of {base.__name__} are not supported (convert to {base.__name__})"
        else:
            reason = "no codec for this type (admf-perf never pickles)"
        raise _UnsupportedError(obj, reason)
    if len(_ENCODERS) < 512:
        _ENCODERS[tp] = handler
    return handler


# ---------------------------------------------------------------------------- decoding


class _Marker:
    """What an ExtType marker decodes to until its list's hook replaces the list."""

    __slots__ = ("build", "code")

    def __init__(self, code: int, build: Builder) -> None:
        self.code = code
        self.build = build


class _Decoder:
    """State of one ``decode`` call: the payload, where its buffers start, marker counts."""

    __slots__ = ("allow_pickle", "closed", "data", "opened", "region")

    def __init__(self, data: bytes | bytearray | memoryview, region: int, pickle: bool) -> None:
        self.allow_pickle = pickle
        self.data = data
        self.region = region
        self.opened = 0
        self.closed = 0

    def ext_hook(self, code: int, data: bytes) -> _Marker:
        found = _MARKERS.get(code) or _load_marker(code)
        self.opened += 1
        return found

    def list_hook(self, items: list[Any]) -> object:
        if items and type(items[0]) is _Marker:
            self.closed += 1
            return items[0].build(self, items)
        return items

    def array(self, dtype: np.dtype, count: int, offset: object, nbytes: int) -> np.ndarray:
        """Read-only view of ``nbytes`` at ``offset`` in the buffer area, no copy."""
        if type(offset) is not int or offset < 0 or self.region + offset + nbytes > len(self.data):
            raise ValueError("array buffer lies outside the payload")
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.region + offset)
        if arr.flags.writeable:  # bytearray or writable memoryview input
            arr.flags.writeable = False
        return arr


def decode(data: bytes | bytearray | memoryview, *, allow_pickle: bool = False) -> object:
    """Rebuild the value ``encode`` wrote; raise ``CodecError`` for anything else.

    numpy arrays of raw dtypes come back as read-only views of ``data``.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError(f"cannot decode value of type {type(data).__name__!r}: expected bytes")
    try:
        if isinstance(data, memoryview) and (data.ndim != 1 or data.format not in ("B", "b", "c")):
            data = data.cast("B")
        size = len(data)
        if size < _PREFIX.size or data[0] != FORMAT[0]:
            first = f"0x{data[0]:02x}" if size else "nothing"
            raise CodecError(f"not an admf-perf payload (starts with {first}, not 0xc1)")
        hlen = _PREFIX.unpack_from(data, 0)[1]
        hend = _PREFIX.size + hlen
        if hend > size:
            raise CodecError(f"corrupt payload: header of {hlen} bytes in a {size}-byte payload")
        dec = _Decoder(data, hend + (-hend % _ALIGN), allow_pickle)
        value = msgpack.unpackb(
            memoryview(data)[_PREFIX.size : hend],
            ext_hook=dec.ext_hook,
            list_hook=dec.list_hook,
            raw=False,
            strict_map_key=False,
            unicode_errors="surrogatepass",
            max_str_len=hlen,
            max_bin_len=hlen,
            max_array_len=hlen,
            max_map_len=hlen // 2,
            max_ext_len=0,
        )
        if dec.opened != dec.closed:
            raise CodecError("corrupt payload: a type marker outside its place")
        return value
    except CodecError:
        raise
    except Exception as exc:
        text = " ".join(str(exc).split())[:200]
        raise CodecError(f"corrupt payload: {type(exc).__name__}: {text}") from None


def _raw_dtype(text: object) -> np.dtype:
    """A dtype from a payload string: only raw kinds, never object, structured or void."""
    if type(text) is not str:
        raise ValueError(f"unexpected dtype {text!r:.40}")
    found = _DTYPES.get(text)
    if found is not None:
        return found
    if not _DTYPE_RE.fullmatch(text):
        raise ValueError(f"unexpected dtype {text!r}")
    dtype = np.dtype(text)
    if dtype.kind not in _RAW_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"unexpected dtype {text!r}")
    if len(_DTYPES) < 256:
        _DTYPES[text] = dtype
    return dtype


_DTYPES: dict[str, np.dtype] = {}


def _shape_of(value: object) -> tuple[int, ...]:
    """A validated shape from a payload: at most 32 non-negative ints."""
    if (
        type(value) is not list
        or len(value) > 32
        or any(type(d) is not int or d < 0 for d in value)
    ):
        raise ValueError(f"bad shape {value!r:.60}")
    return tuple(value)


def _build_ndarray(dec: _Decoder, items: list[Any]) -> np.ndarray:
    _, dtype_text, shape_list, order, offset, nbytes = items
    dtype = _raw_dtype(dtype_text)
    shape = _shape_of(shape_list)
    count = math.prod(shape)
    if type(nbytes) is not int or count * dtype.itemsize != nbytes or order not in ("C", "F"):
        raise ValueError("array size does not match its shape")
    if nbytes == 0:
        arr = np.empty(shape, dtype)
        arr.flags.writeable = False
        return arr
    flat = dec.array(dtype, count, offset, nbytes)
    if len(shape) == 1:
        return flat
    return flat.reshape(shape[::-1]).T if order == "F" else flat.reshape(shape)


def _build_objarray(dec: _Decoder, items: list[Any]) -> np.ndarray:
    _, shape_list, values = items
    shape = _shape_of(shape_list)
    count = math.prod(shape)
    if type(values) is not list or len(values) != count:
        raise ValueError("object array size does not match its shape")
    return np.fromiter(values, dtype=object, count=count).reshape(shape)


def _build_npscalar(dec: _Decoder, items: list[Any]) -> object:
    _, dtype_text, raw = items
    dtype = _raw_dtype(dtype_text)
    if type(raw) is not bytes or len(raw) != dtype.itemsize:
        raise ValueError("numpy scalar size does not match its dtype")
    return np.frombuffer(raw, dtype=dtype)[0] if raw else dtype.type()


def _tz_from_spec(spec: Any) -> dt.tzinfo | None:
    """Inverse of ``_tz_spec``; zone keys are checked before the tz database is asked."""
    if spec is None:
        return None
    kind, key, *rest = spec
    if kind == 0 and type(key) is int and len(rest) == 1:
        offset = dt.timedelta(microseconds=key)
        return dt.timezone(offset) if rest[0] is None else dt.timezone(offset, rest[0])
    if kind in (1, 2) and not rest and type(key) is str and _ZONE_RE.fullmatch(key):
        if kind == 2:
            try:
                zone: dt.tzinfo = importlib.import_module("pytz").timezone(key)
                return zone
            except ImportError:
                pass
        return zoneinfo.ZoneInfo(key)
    raise ValueError(f"bad time zone {spec!r:.60}")


def _build_datetime(dec: _Decoder, items: list[Any]) -> dt.datetime:
    _, year, month, day, hour, minute, second, micro, fold, tz = items
    return dt.datetime(
        year, month, day, hour, minute, second, micro, tzinfo=_tz_from_spec(tz), fold=fold
    )


def _build_time(dec: _Decoder, items: list[Any]) -> dt.time:
    _, hour, minute, second, micro, fold, tz = items
    return dt.time(hour, minute, second, micro, tzinfo=_tz_from_spec(tz), fold=fold)


def _build_bytes_to(kind: Callable[[bytes], object]) -> Builder:
    def build(dec: _Decoder, items: list[Any]) -> object:
        _, raw = items
        if type(raw) is not bytes:
            raise ValueError("expected bytes")
        return kind(raw)

    return build


def _build_decimal(dec: _Decoder, items: list[Any]) -> decimal.Decimal:
    _, text = items
    if type(text) is not str:
        raise ValueError("expected a decimal string")
    return decimal.Decimal(text)


def _build_odict(dec: _Decoder, items: list[Any]) -> OrderedDict[Any, Any]:
    _, mapping = items
    if type(mapping) is not dict:
        raise ValueError("expected a map")
    return OrderedDict(mapping)


def _build_complex(dec: _Decoder, items: list[Any]) -> complex:
    _, real, imag = items
    if type(real) is not float or type(imag) is not float:
        raise ValueError("expected two floats")
    return complex(real, imag)


def _build_pickle(dec: _Decoder, items: list[Any]) -> object:
    _, raw = items
    if not dec.allow_pickle:
        raise ValueError("refusing to unpickle: that needs a signing key and allow_pickle")
    if type(raw) is not bytes:
        raise ValueError("expected bytes")
    return pickle.loads(raw)


def _build_int_args(kind: Callable[..., object], arity: int) -> Builder:
    def build(dec: _Decoder, items: list[Any]) -> object:
        if len(items) != arity + 1 or any(type(x) is not int for x in items[1:]):
            raise ValueError("expected integers")
        return kind(*items[1:])

    return build


_BUILDERS: dict[int, Builder] = {
    TUPLE: lambda dec, items: tuple(items[1:]),
    SET: lambda dec, items: set(items[1:]),
    FROZENSET: lambda dec, items: frozenset(items[1:]),
    BIGINT: _build_bytes_to(lambda raw: int.from_bytes(raw, "big", signed=True)),
    BYTEARRAY: _build_bytes_to(bytearray),
    ODICT: _build_odict,
    COMPLEX: _build_complex,
    DECIMAL: _build_decimal,
    UUID: _build_bytes_to(lambda raw: uuid.UUID(bytes=raw)),
    DATETIME: _build_datetime,
    DATE: _build_int_args(dt.date.fromordinal, 1),
    TIME: _build_time,
    TIMEDELTA: _build_int_args(dt.timedelta, 3),
    NDARRAY: _build_ndarray,
    OBJARRAY: _build_objarray,
    NPSCALAR: _build_npscalar,
    PICKLE: _build_pickle,
}
_MARKERS: dict[int, _Marker] = {code: _Marker(code, b) for code, b in _BUILDERS.items()}


def _load_marker(code: int) -> _Marker:
    if code in PANDAS_CODES:
        from admf_perf import _codec_pandas

        for pcode, build in _codec_pandas.BUILDERS.items():
            _MARKERS.setdefault(pcode, _Marker(pcode, build))
        if code in _MARKERS:
            return _MARKERS[code]
    raise ValueError(f"unknown extension type {code}")
