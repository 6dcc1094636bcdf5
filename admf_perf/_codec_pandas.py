"""The pandas part of the codec: objects to plain parts (lists, numpy arrays, scalars)
that the msgpack codec packs, and back. Numeric columns stay numpy arrays, so they travel
as raw buffers; other columns keep their dtype by name."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np


def _tz_text(tz: Any) -> Any:
    """A time zone as text pandas can read back, or fixed offset seconds."""
    if isinstance(tz, dt.timezone) and tz is not dt.UTC:
        offset = tz.utcoffset(None)
        return offset.days * 86400 + offset.seconds
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    return key if key else str(tz)


def _tz_from(text: Any) -> Any:
    if isinstance(text, int):
        return dt.timezone(dt.timedelta(seconds=text))
    return text


def _array(values: Any) -> list[Any]:
    """Parts of a column's or index's values, whatever the dtype."""
    import pandas as pd

    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        index = pd.DatetimeIndex(values)
        return ["dttz", index.asi8, _tz_text(dtype.tz), dtype.unit]
    if isinstance(dtype, pd.CategoricalDtype):
        cat = pd.Categorical(values)
        return ["cat", np.asarray(cat.codes), _index(cat.categories), bool(cat.ordered)]
    if isinstance(dtype, np.dtype):
        array = np.asarray(values)
        if dtype.hasobject:
            return ["obj", array.tolist()]
        return ["np", array]
    items = [None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v for v in values]
    return ["ext", str(dtype), [_scalar(v) for v in items]]


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _array_from(parts: list[Any]) -> Any:
    import pandas as pd

    kind = parts[0]
    if kind == "np":
        return parts[1]
    if kind == "obj":
        out = np.empty(len(parts[1]), dtype=object)
        out[:] = parts[1]
        return out
    if kind == "dttz":
        _, i8, tz, unit = parts
        naive = pd.DatetimeIndex(np.asarray(i8, dtype=np.int64).view(f"M8[{unit}]"))
        return naive.tz_localize("UTC").tz_convert(_tz_from(tz)).array
    if kind == "cat":
        _, codes, categories, ordered = parts
        return pd.Categorical.from_codes(codes, categories=_index_from(categories), ordered=ordered)
    if kind == "ext":
        return pd.array(parts[2], dtype=parts[1])
    raise ValueError(f"unknown pandas array kind {kind!r}")


def _index(index: Any) -> list[Any]:
    import pandas as pd

    if isinstance(index, pd.RangeIndex):
        return ["range", index.start, index.stop, index.step, index.name]
    if isinstance(index, pd.MultiIndex):
        return [
            "multi",
            [_index(level) for level in index.levels],
            [np.asarray(codes) for codes in index.codes],
            list(index.names),
        ]
    freq = index.freqstr if isinstance(index, pd.DatetimeIndex | pd.TimedeltaIndex) else None
    return ["index", _array(index), index.name, freq, str(index.dtype)]


def _index_from(parts: list[Any]) -> Any:
    import pandas as pd

    kind = parts[0]
    if kind == "range":
        return pd.RangeIndex(parts[1], parts[2], parts[3], name=parts[4])
    if kind == "multi":
        levels = [_index_from(level) for level in parts[1]]
        return pd.MultiIndex(levels=levels, codes=parts[2], names=parts[3])
    if kind == "index":
        _, values, name, freq, dtype = parts
        array = _array_from(values)
        if freq is not None:
            if dtype.startswith("timedelta"):
                return pd.TimedeltaIndex(array, name=name, freq=freq)
            return pd.DatetimeIndex(array, name=name, freq=freq)
        if values[0] == "obj":
            return pd.Index(array, name=name, dtype=object)
        return pd.Index(array, name=name)
    raise ValueError(f"unknown index kind {kind!r}")


def encode(obj: Any) -> list[Any] | None:
    """Parts of a pandas object, or ``None`` for a type this codec doesn't know."""
    import pandas as pd

    if obj is pd.NaT:
        return ["nat"]
    if isinstance(obj, pd.Timestamp):
        return ["ts", obj.value, obj.unit, None if obj.tz is None else _tz_text(obj.tz)]
    if isinstance(obj, pd.Timedelta):
        return ["td", obj.value, obj.unit]
    if isinstance(obj, pd.Period):
        return ["period", str(obj), obj.freqstr]
    if isinstance(obj, pd.DataFrame):
        columns = [_array(obj.iloc[:, i]) for i in range(obj.shape[1])]
        return ["frame", _index(obj.columns), _index(obj.index), columns]
    if isinstance(obj, pd.Series):
        return ["series", _array(obj), _index(obj.index), obj.name]
    if isinstance(obj, pd.Index):
        return ["idx", _index(obj)]
    return None


def decode(parts: list[Any]) -> Any:
    import pandas as pd

    kind = parts[0]
    if kind == "nat":
        return pd.NaT
    if kind == "ts":
        _, nanos, unit, tz = parts  # Timestamp.value is nanoseconds whatever the unit
        stamp = pd.Timestamp(int(nanos)).as_unit(unit)
        return stamp if tz is None else stamp.tz_localize("UTC").tz_convert(_tz_from(tz))
    if kind == "td":
        return pd.Timedelta(int(parts[1])).as_unit(parts[2])
    if kind == "period":
        return pd.Period(parts[1], freq=parts[2])
    if kind == "series":
        _, values, index, name = parts
        return pd.Series(_array_from(values), index=_index_from(index), name=name, copy=False)
    if kind == "frame":
        _, columns, index, arrays = parts
        frame = pd.DataFrame(
            {i: _array_from(a) for i, a in enumerate(arrays)}, index=_index_from(index), copy=False
        )
        frame.columns = _index_from(columns)
        return frame
    if kind == "idx":
        return _index_from(parts[1])
    raise ValueError(f"unknown pandas kind {kind!r}")
