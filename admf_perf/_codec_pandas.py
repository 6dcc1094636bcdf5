"""pandas for :mod:`admf_perf.codec`: Series, DataFrame, every Index, scalars, extension arrays.

Imported by the codec only when a pandas object is encoded or a pandas marker decoded, so a
process that never touches pandas never imports it. Columns of numpy dtypes travel as raw
buffers; categoricals as codes plus categories, tz-aware datetimes as UTC int buffers plus
the zone, nullable ints/floats/bools as data plus mask buffers, strings and other extension
dtypes element by element. Decoded Series and DataFrames own writable data (one copy, as a
DataFrame consolidates anyway); indexes, being immutable, stay views of the payload.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray, ExtensionDtype

from admf_perf.codec import Builder, Handler, _Decoder, _Encoder, _marker, _tz_from_spec, _tz_spec

TIMESTAMP, TIMEDELTA, NAT, NA, PERIOD, SERIES, FRAME, INDEX = range(32, 40)
RANGEINDEX, MULTIINDEX, CATEGORICAL, DTTZ, MASKED, STRING, EXTENSION, NPARRAY = range(40, 48)
_M = {code: _marker(code) for code in range(32, 48)}
_UNITS = ("s", "ms", "us", "ns")
_MASKED = (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)
_MASKED_NAMES = frozenset(
    [f"{sign}Int{bits}" for sign in ("", "U") for bits in (8, 16, 32, 64)]
    + ["Float32", "Float64", "boolean"]
)


def _values(obj: pd.Series | pd.Index) -> object:
    """The values of a Series or Index: an ndarray for numpy dtypes, else the ExtensionArray."""
    return obj.to_numpy() if isinstance(obj.dtype, np.dtype) else obj.array


def _enc_index(enc: _Encoder, idx: pd.Index) -> object:
    freq = idx.freqstr if isinstance(idx, pd.DatetimeIndex | pd.TimedeltaIndex) else None
    return [_M[INDEX], _values(idx), idx.name, freq]


def _enc_ext_array(enc: _Encoder, arr: ExtensionArray) -> object:
    dtype = arr.dtype
    if isinstance(dtype, np.dtype):  # naive datetimes, timedeltas, NumpyExtensionArray
        return [_M[NPARRAY], np.asarray(arr)]
    if isinstance(dtype, pd.CategoricalDtype):
        return [_M[CATEGORICAL], np.asarray(arr.codes), dtype.categories, bool(dtype.ordered)]
    if isinstance(dtype, pd.DatetimeTZDtype):
        return [_M[DTTZ], np.asarray(arr.tz_convert(None)), _tz_spec(dtype.tz, None)]
    if isinstance(arr, _MASKED):
        data = arr.to_numpy(dtype=dtype.numpy_dtype, na_value=dtype.numpy_dtype.type(0))
        return [_M[MASKED], str(dtype), data, np.asarray(arr.isna())]
    values = np.asarray(arr, dtype=object)
    if isinstance(dtype, pd.StringDtype):
        na_is_nan = getattr(dtype, "na_value", pd.NA) is not pd.NA
        return [_M[STRING], dtype.storage, na_is_nan, values]
    return [_M[EXTENSION], str(dtype), values]


_HANDLERS: dict[type, Handler] = {
    pd.Timestamp: lambda enc, v: [
        _M[TIMESTAMP],
        int(v.asm8.view("i8")),
        v.unit,
        _tz_spec(v.tz, None),
    ],
    pd.Timedelta: lambda enc, v: [_M[TIMEDELTA], int(v.asm8.view("i8")), v.unit],
    type(pd.NaT): lambda enc, v: [_M[NAT]],
    type(pd.NA): lambda enc, v: [_M[NA]],
    pd.Period: lambda enc, v: [_M[PERIOD], v.ordinal, v.freqstr],
    pd.Series: lambda enc, v: [_M[SERIES], _values(v), v.index, v.name],
    pd.DataFrame: lambda enc, v: [
        _M[FRAME],
        v.columns,
        v.index,
        [_values(col) for _, col in v.items()],
    ],
    pd.RangeIndex: lambda enc, v: [_M[RANGEINDEX], v.start, v.stop, v.step, v.name],
    pd.MultiIndex: lambda enc, v: [
        _M[MULTIINDEX],
        list(v.levels),
        [np.asarray(c) for c in v.codes],
        list(v.names),
    ],
}


def handler_for(tp: type) -> Handler | None:
    """The encoder of a pandas type, or None; subclasses from outside pandas are refused."""
    if tp in _HANDLERS:
        return _HANDLERS[tp]
    if not tp.__module__.startswith("pandas"):
        return None
    if issubclass(tp, pd.Index):
        return _enc_index
    if issubclass(tp, ExtensionArray):
        return _enc_ext_array
    return None


# ---------------------------------------------------------------------------- decoding


def _array(values: object, ndim: int = 1) -> np.ndarray | ExtensionArray:
    if isinstance(values, np.ndarray) and values.ndim == ndim:
        return values
    if isinstance(values, ExtensionArray) and ndim == 1:
        return values
    raise ValueError(f"expected a {ndim}-D array, got {type(values).__name__}")


def _index(value: object, length: int | None = None) -> pd.Index:
    if not isinstance(value, pd.Index) or (length is not None and len(value) != length):
        raise ValueError("expected an index of matching length")
    return value


def _writable(values: np.ndarray | ExtensionArray) -> Any:
    if isinstance(values, np.ndarray) and not values.flags.writeable:
        return values.copy()
    return values


def _build_timestamp(dec: _Decoder, items: list[Any]) -> pd.Timestamp:
    _, value, unit, tz = items
    if type(value) is not int or unit not in _UNITS:
        raise ValueError("bad timestamp")
    stamp = pd.Timestamp(np.datetime64(value, unit))
    zone = _tz_from_spec(tz)
    return stamp if zone is None else stamp.tz_localize("UTC").tz_convert(zone)


def _build_timedelta(dec: _Decoder, items: list[Any]) -> pd.Timedelta:
    _, value, unit = items
    if type(value) is not int or unit not in _UNITS:
        raise ValueError("bad timedelta")
    return pd.Timedelta(np.timedelta64(value, unit))


def _build_period(dec: _Decoder, items: list[Any]) -> pd.Period:
    _, ordinal, freq = items
    if type(ordinal) is not int or type(freq) is not str:
        raise ValueError("bad period")
    return pd.Period(ordinal=ordinal, freq=freq)


def _build_series(dec: _Decoder, items: list[Any]) -> pd.Series:
    _, values, index, name = items
    values = _array(values)
    return pd.Series(
        values, index=_index(index, len(values)), name=name, dtype=values.dtype, copy=True
    )


def _build_frame(dec: _Decoder, items: list[Any]) -> pd.DataFrame:
    _, columns, index, arrays = items
    columns, index = _index(columns), _index(index)
    if type(arrays) is not list or len(arrays) != len(columns):
        raise ValueError("frame columns do not match their labels")
    data = {}
    for i, column in enumerate(arrays):
        values = _array(column)
        if len(values) != len(index):
            raise ValueError("frame column length does not match its index")
        data[i] = pd.Series(values, index=index, dtype=values.dtype, copy=False)
    frame = pd.DataFrame(data, index=index, copy=True)  # consolidated, writable
    frame.columns = columns
    return frame


def _build_index(dec: _Decoder, items: list[Any]) -> pd.Index:
    _, values, name, freq = items
    values = _array(values)
    idx = pd.Index(values, dtype=values.dtype, name=name, copy=False)
    if freq is None:
        return idx
    if type(freq) is not str:
        raise ValueError("bad index freq")
    if isinstance(idx, pd.DatetimeIndex):
        return pd.DatetimeIndex(idx, freq=freq)
    if isinstance(idx, pd.TimedeltaIndex):
        return pd.TimedeltaIndex(idx, freq=freq)
    raise ValueError("freq on an index that has none")


def _build_range(dec: _Decoder, items: list[Any]) -> pd.RangeIndex:
    _, start, stop, step, name = items
    if not all(type(x) is int for x in (start, stop, step)):
        raise ValueError("bad range index")
    return pd.RangeIndex(start, stop, step, name=name)


def _build_multi(dec: _Decoder, items: list[Any]) -> pd.MultiIndex:
    _, levels, codes, names = items
    if not (type(levels) is type(codes) is type(names) is list):
        raise ValueError("bad multi-index")
    levels = [_index(level) for level in levels]
    codes = [_array(c) for c in codes]
    return pd.MultiIndex(levels=levels, codes=codes, names=names, verify_integrity=True)


def _build_categorical(dec: _Decoder, items: list[Any]) -> pd.Categorical:
    _, codes, categories, ordered = items
    codes = _array(codes)
    if codes.dtype.kind != "i" or type(ordered) is not bool:
        raise ValueError("bad categorical")
    dtype = pd.CategoricalDtype(_index(categories), ordered=ordered)
    return pd.Categorical.from_codes(_writable(codes), dtype=dtype)


def _build_dttz(dec: _Decoder, items: list[Any]) -> ExtensionArray:
    _, stamps, tz = items
    stamps = _array(stamps)
    zone = _tz_from_spec(tz)
    if stamps.dtype.kind != "M" or zone is None:
        raise ValueError("bad tz-aware datetimes")
    naive = pd.array(stamps, dtype=stamps.dtype)
    return naive.tz_localize("UTC").tz_convert(zone)


def _build_masked(dec: _Decoder, items: list[Any]) -> ExtensionArray:
    _, name, data, mask = items
    if name not in _MASKED_NAMES:
        raise ValueError(f"unknown nullable dtype {name!r:.40}")
    dtype = pd.api.types.pandas_dtype(name)
    data, mask = _array(data), _array(mask)
    if data.dtype != dtype.numpy_dtype or mask.dtype != np.bool_ or len(data) != len(mask):
        raise ValueError("bad nullable array")
    return dtype.construct_array_type()(data.copy(), mask.copy())


def _build_string(dec: _Decoder, items: list[Any]) -> ExtensionArray:
    _, storage, na_is_nan, values = items
    if storage not in ("python", "pyarrow", "pyarrow_numpy") or type(na_is_nan) is not bool:
        raise ValueError("bad string dtype")
    dtype = pd.StringDtype(storage, na_value=np.nan) if na_is_nan else pd.StringDtype(storage)
    return pd.array(_object_values(values), dtype=dtype)


def _build_extension(dec: _Decoder, items: list[Any]) -> ExtensionArray:
    _, name, values = items
    if type(name) is not str or len(name) > 200:
        raise ValueError("bad extension dtype")
    dtype = pd.api.types.pandas_dtype(name)
    if not isinstance(dtype, ExtensionDtype):
        raise ValueError(f"not an extension dtype: {name!r:.40}")
    return pd.array(_object_values(values), dtype=dtype)


def _object_values(values: object) -> np.ndarray:
    values = _array(values)
    if not isinstance(values, np.ndarray) or values.dtype != object:
        raise ValueError("expected an object array")
    return values


def _build_nparray(dec: _Decoder, items: list[Any]) -> ExtensionArray:
    _, values = items
    values = _array(values)
    if not isinstance(values, np.ndarray):
        raise ValueError("expected a numpy array")
    return pd.array(_writable(values), dtype=values.dtype)


def _build_const(value: object) -> Callable[[_Decoder, list[Any]], object]:
    def build(dec: _Decoder, items: list[Any]) -> object:
        if len(items) != 1:
            raise ValueError("bad constant")
        return value

    return build


BUILDERS: dict[int, Builder] = {
    TIMESTAMP: _build_timestamp,
    TIMEDELTA: _build_timedelta,
    NAT: _build_const(pd.NaT),
    NA: _build_const(pd.NA),
    PERIOD: _build_period,
    SERIES: _build_series,
    FRAME: _build_frame,
    INDEX: _build_index,
    RANGEINDEX: _build_range,
    MULTIINDEX: _build_multi,
    CATEGORICAL: _build_categorical,
    DTTZ: _build_dttz,
    MASKED: _build_masked,
    STRING: _build_string,
    EXTENSION: _build_extension,
    NPARRAY: _build_nparray,
}
