"""CacheKey: the same key for equal inputs in every process, on every machine, every run.

Keys are text, readable where the inputs are small (``sma:AAPL:20``) so that glob patterns
such as ``"AAPL:*"`` mean something, and unambiguous: each argument becomes one token of a
small grammar, joined by ``:``, with keyword arguments as ``name=token`` sorted by name.

- ``int`` -> ``20``; ``float`` -> ``20.0``, ``nan``; ``bool`` -> ``True``; ``None`` -> ``None``
- ``str`` -> itself when it is a plain word (letters, digits, ``_ . - / @ +``) that can't be
  read as another type, else a JSON-quoted string: ``"AAPL:US"``, ``"20"``
- ``tuple``/``list``/``dict``/``set`` -> ``(a,b)``, ``[a,b]``, ``{k=v}``, ``set(a,b)``
- datetime, date, time, timedelta, Decimal, UUID, pandas Timestamp -> ``type(text)``;
  enum members -> ``Type.NAME``
- numpy arrays, pandas Series/DataFrame/Index -> ``ndarray(float64,1000000,<digest>)``:
  dtype, shape and a 128-bit xxh3 digest of the content (and of index, columns and
  names for pandas), so one changed element in a million changes the key
- an object with a ``cache_key()`` method supplies its own token; other objects
  become ``Type(attr=...,...)`` from their attributes

Python's ``hash()`` is never used: it is seeded per process. ``str()`` of arrays is never
used: numpy abbreviates large arrays with ``...``, so different arrays would collide.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import xxhash

from admf_perf.errors import KeyGenerationError

_PLAIN_WORD = re.compile(r"[A-Za-z_./@+][A-Za-z0-9_./@+\-]*\Z")
_RESERVED_WORDS = frozenset({"None", "True", "False", "nan", "inf", "set"})
_MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogates(text: str) -> str:
    """``text`` with lone surrogates (from undecodable file names, ``surrogateescape``)
    written as JSON escapes: Redis keys must be UTF-8, and these have no UTF-8 form."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def check_key_text(key: str) -> str:
    """``key`` if every store can hold it; a key with lone surrogates is refused (it has
    no UTF-8 form, so Redis can't hold it), the same way in memory and in Redis."""
    if key.isascii() or not _SURROGATE.search(key):
        return key
    raise KeyGenerationError(
        f"cache key {key[:60]!r} contains lone surrogates (no UTF-8 form): pass the value "
        "itself to have it keyed (CacheKey.token(key)), or bytes"
    )


def _str_token(value: str) -> str:
    if _PLAIN_WORD.match(value) and value not in _RESERVED_WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)


def _int_token(value: int) -> str:
    return str(value)


def _float_token(value: float) -> str:
    return repr(value + 0.0)  # -0.0 == 0.0, so they share a key


def _digest(*chunks: bytes | str | memoryview) -> str:
    """xxh3-128 of length-prefixed chunks (so chunk boundaries can't shift content)."""
    h = xxhash.xxh3_128()
    for chunk in chunks:
        data = memoryview(chunk.encode() if isinstance(chunk, str) else chunk)
        h.update(data.nbytes.to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _array_digest(array: np.ndarray) -> str:
    """Digest of dtype, shape and content of a numpy array (object arrays element-wise)."""
    if array.dtype.hasobject:
        content = ",".join(CacheKey.token(v) for v in array.ravel(order="C").tolist())
        return _digest(str(array.shape), content)
    raw = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    return _digest(array.dtype.str, str(array.shape), raw.data)


def _ndarray_token(array: np.ndarray) -> str:
    shape = "x".join(map(str, array.shape)) or "0d"
    return f"ndarray({array.dtype},{shape},{_array_digest(array)})"


def _pandas_values_digest(values: Any) -> str:
    """Digest of a pandas column or index's values, whatever its dtype."""
    import pandas as pd

    if isinstance(values, pd.MultiIndex):
        parts = [_pandas_values_digest(values.get_level_values(i)) for i in range(values.nlevels)]
        return _digest(*parts)
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and not dtype.hasobject:
        return _digest(str(dtype), _array_digest(np.asarray(values)))
    if isinstance(dtype, pd.CategoricalDtype):
        cat = pd.Categorical(values)
        return _digest(
            "category",
            str(cat.ordered),
            _pandas_values_digest(pd.Index(cat.categories)),
            _array_digest(np.asarray(cat.codes)),
        )
    hashed = pd.util.hash_array(np.asarray(values, dtype=object), categorize=False)
    return _digest(str(dtype), _array_digest(hashed))


def _pandas_token(obj: Any) -> str:
    import pandas as pd

    kind = type(obj).__name__
    if isinstance(obj, pd.DataFrame):
        parts = [
            _digest(CacheKey.token(list(obj.columns)), str(list(map(str, obj.dtypes)))),
            _pandas_values_digest(obj.index),
            *(_pandas_values_digest(obj.iloc[:, i]) for i in range(obj.shape[1])),
        ]
        shape = f"{obj.shape[0]}x{obj.shape[1]}"
    elif isinstance(obj, pd.Series):
        parts = [CacheKey.token(obj.name), _pandas_values_digest(obj.index)]
        parts.append(_pandas_values_digest(obj))
        shape = str(len(obj))
    else:  # Index
        parts = [CacheKey.token(list(obj.names)), _pandas_values_digest(obj)]
        shape = str(len(obj))
    return f"{kind}({shape},{_digest(*parts)})"


def _typed_text(value: Any) -> str:
    return f"{type(value).__name__}({value.isoformat() if hasattr(value, 'isoformat') else value})"


def _timedelta_token(value: _dt.timedelta) -> str:
    return f"timedelta({value.days},{value.seconds},{value.microseconds})"


def _bytes_token(value: bytes | bytearray | memoryview) -> str:
    data = bytes(value)
    if len(data) <= 16:
        return f"bytes({data.hex()})"
    return f"bytes({len(data)},{_digest(data)})"


_EXACT: dict[type, Callable[[Any], str]] = {
    str: _str_token,
    int: _int_token,
    float: _float_token,
    bool: str,
    type(None): lambda _: "None",
    bytes: _bytes_token,
    bytearray: _bytes_token,
    memoryview: _bytes_token,
    _dt.datetime: _typed_text,
    _dt.date: _typed_text,
    _dt.time: _typed_text,
    _dt.timedelta: _timedelta_token,
    decimal.Decimal: lambda v: f"Decimal({v})",
    uuid.UUID: lambda v: f"UUID({v})",
    np.ndarray: _ndarray_token,
}


class CacheKey:
    """Builds cache keys from call arguments; see the module docstring for the format."""

    @staticmethod
    def generate_key(
        args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, include_self: bool = True
    ) -> str:
        """The key of a call with ``args`` and ``kwargs``.

        ``include_self=False`` leaves out ``args[0]`` (the instance of a method call).
        An argument that can't be keyed raises :class:`KeyGenerationError` naming its type.
        """
        if not include_self:
            args = args[1:]
        exact = _EXACT
        tokens = []
        for position, arg in enumerate(args):
            fn = exact.get(type(arg))
            tokens.append(fn(arg) if fn is not None else _token(arg, 0, f"argument {position}"))
        if kwargs:
            for name in sorted(kwargs):
                value = kwargs[name]
                fn = exact.get(type(value))
                text = fn(value) if fn is not None else _token(value, 0, f"argument {name!r}")
                tokens.append(f"{name}={text}")
        return _escape_surrogates(":".join(tokens))

    @staticmethod
    def token(value: Any) -> str:
        """The key text of one value (what one argument contributes)."""
        fn = _EXACT.get(type(value))
        return _escape_surrogates(fn(value) if fn is not None else _token(value, 0, "value"))


def _token(value: Any, depth: int, where: str) -> str:
    fn = _EXACT.get(type(value))
    if fn is not None:
        return fn(value)
    if depth > _MAX_DEPTH:
        raise KeyGenerationError(f"{where} is nested more than {_MAX_DEPTH} levels deep")
    own = getattr(value, "cache_key", None)
    if callable(own) and not isinstance(value, type):
        supplied = own()
        return supplied if isinstance(supplied, str) else _token(supplied, depth + 1, where)
    if isinstance(value, tuple | list):
        inner = ",".join(_token(v, depth + 1, where) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, dict):
        items = sorted(
            f"{_token(k, depth + 1, where)}={_token(v, depth + 1, where)}" for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, set | frozenset):
        return "set(" + ",".join(sorted(_token(v, depth + 1, where) for v in value)) + ")"
    if isinstance(value, enum.Enum):
        return f"{type(value).__qualname__}.{value.name}"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, np.generic):
        return _token(value.item(), depth + 1, where)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _float_token(float(value))
    if isinstance(value, str):
        return _str_token(str(value))
    if isinstance(value, np.ndarray):
        return _ndarray_token(value)
    module = type(value).__module__
    if module.startswith("pandas"):
        return _pandas_scalar_or_container(value, where)
    if isinstance(value, _dt.date | _dt.time | _dt.timedelta):
        return _typed_text(value)
    return _object_token(value, depth, where)


def _pandas_scalar_or_container(value: Any, where: str) -> str:
    import pandas as pd

    if isinstance(value, pd.DataFrame | pd.Series | pd.Index):
        return _pandas_token(value)
    if value is pd.NaT:
        return "NaT"
    if isinstance(value, pd.Timestamp | pd.Timedelta | pd.Period | pd.Interval):
        return f"{type(value).__name__}({value})"
    raise KeyGenerationError(
        f"{where} of type {type(value).__qualname__} cannot be part of a cache key"
    )


def _object_token(value: Any, depth: int, where: str) -> str:
    """``Type(attr=token,...)`` from an object's attributes; refuses what has none."""
    cls = type(value)
    if callable(value) or isinstance(value, type) or cls.__module__ == "builtins":
        raise KeyGenerationError(
            f"{where} of type {cls.__qualname__} cannot be part of a cache key: "
            "give it a cache_key() method or pass a key_maker"
        )
    attrs: dict[str, Any] = {}
    for klass in cls.__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if hasattr(value, slot):
                attrs[slot] = getattr(value, slot)
    attrs.update(getattr(value, "__dict__", {}))
    if not attrs:
        raise KeyGenerationError(
            f"{where} of type {cls.__qualname__} has no attributes to key on: "
            "give it a cache_key() method or pass a key_maker"
        )
    inner = ",".join(
        f"{name}={_token(attrs[name], depth + 1, f'{where}.{name}')}"
        for name in sorted(attrs)
        if not name.startswith("__")
    )
    return f"{cls.__module__}.{cls.__qualname__}({inner})"
