"""The codec: exact round trips (value and type), zero-copy arrays, clean errors, safe decode."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import decimal
import enum
import json
import math
import pickle
import struct
import time
import tracemalloc
import uuid
import zoneinfo
from typing import Any

import msgpack
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from admf_perf import _codec_pandas as pdc
from admf_perf import codec
from admf_perf.codec import FORMAT, MAX_DEPTH, decode, encode
from admf_perf.errors import CodecError

NY = zoneinfo.ZoneInfo("America/New_York")


def assert_same(back: Any, value: Any) -> None:
    """Equal and of the same type, all the way down (1 == 1.0 == True, b"" == bytearray())."""
    assert type(back) is type(value), (back, value)
    if isinstance(value, dict):
        assert list(back) == list(value)  # insertion order kept
        for key in value:
            assert_same(back[key], value[key])
    elif isinstance(value, list | tuple):
        assert len(back) == len(value)
        for b, v in zip(back, value, strict=True):
            assert_same(b, v)
    elif isinstance(value, complex):
        assert_same(back.real, value.real)
        assert_same(back.imag, value.imag)
    elif isinstance(value, float) and math.isnan(value):
        assert math.isnan(back)
    else:
        assert back == value
        if isinstance(value, float):
            assert math.copysign(1, back) == math.copysign(1, value)


VALUES = [
    None, True, False, 0, -3, 2**63 - 1, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 2**200, -(2**90),
    1.5, -0.0, math.inf, -math.inf, math.nan, "AAPL", "", "ünï ✓", "lone \ud800", b"\x00raw", b"",
    bytearray(b"buf"), [bytearray(b"x"), {"k": (bytearray(b"y"),)}], [1, [2, [3]]], (1, (2, 3)), (),
    ([],), {"a": 1, 2: "b", (1, 2): [3], None: 0, 1.5: 1}, {1, 2}, frozenset({"x", (1, 2)}), set(),
    {frozenset({1}): {(2,): None}}, collections.OrderedDict([("b", 1), ("a", (2,))]), 1 + 2j,
    dt.datetime(2024, 1, 2, 9, 30, 0, 123456), dt.date(2024, 2, 29), dt.time(16, 0),
    dt.time(9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))), dt.timedelta(days=-2, microseconds=7),
    decimal.Decimal("1.10"), decimal.Decimal("-Infinity"), decimal.Decimal("-0E-7"), uuid.UUID(int=12345),
    np.float64(1.25), np.float32(0.5), np.float16(2), np.int8(-7), np.int32(7), np.uint64(2**63),
    np.bool_(True), np.complex128(1 - 1j), np.datetime64("2024-01-01T09:30", "ns"),
    np.datetime64("2024-01-01", "D"), np.timedelta64(5, "s"), np.str_("hé"), np.bytes_(b"ab"),
    pd.Timestamp("2024-03-10 02:30:00.000000001"), pd.Timestamp("2024-01-01 09:30", tz=NY),
    pd.Timestamp("2024-01-01", tz="UTC").as_unit("s"), pd.Timedelta("1h 5ns"),
    pd.Timedelta(days=-1).as_unit("ms"), pd.Period("2024Q1", freq="Q"), pd.Period("2024-01-01 10:00", freq="h"),
]  # fmt: skip


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_value_round_trips_with_its_type(value: Any) -> None:
    assert_same(decode(encode(value)), value)


def test_decimal_nans_round_trip() -> None:
    for text in ("NaN", "-sNaN", "NaN123"):
        back = decode(encode(decimal.Decimal(text)))
        assert type(back) is decimal.Decimal and str(back) == text


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NY),
        dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1), "Desk time")),
        dt.time(9, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    ],
    ids=str,
)
def test_aware_datetimes_keep_their_tzinfo_and_fold(value: dt.datetime | dt.time) -> None:
    back = decode(encode(value))
    assert type(back) is type(value) and back == value
    assert back.tzinfo == value.tzinfo and back.fold == value.fold
    if isinstance(value, dt.datetime):
        assert back.tzname() == value.tzname() and back.utcoffset() == value.utcoffset()


def test_pandas_missing_value_singletons_come_back_as_themselves() -> None:
    assert decode(encode(pd.NaT)) is pd.NaT
    assert decode(encode([pd.NA, None])) == [pd.NA, None]


hashable = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
nested = st.recursive(
    hashable
    | st.floats()
    | st.binary(max_size=8)
    | st.builds(bytearray, st.binary(max_size=8))
    | st.complex_numbers(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(hashable, inner, max_size=4)
        | st.sets(hashable, max_size=4)
    ),
    max_leaves=25,
)


@given(nested)
def test_nested_builtin_structures_round_trip_exactly(value: Any) -> None:
    back = decode(encode(value))
    if isinstance(value, set | frozenset):
        assert type(back) is type(value) and back == value
    else:
        assert_same(back, value)


# ---------------------------------------------------------------------------- numpy

ARRAYS = [
    np.arange(12.0).reshape(3, 4),
    np.asfortranarray(np.arange(6).reshape(2, 3)),
    np.arange(20)[::3],
    np.arange(24.0).reshape(2, 3, 4)[:, ::2, 1:],
    np.array(7),
    np.empty((0, 5)),
    np.array(["2024-01-01", "NaT"], dtype="M8[ns]"),
    np.array(["2024-01-01"], dtype="M8[D]"),
    np.array([1, 2], dtype="m8[ms]"),
    np.arange(4, dtype=">i4"),
    np.arange(3, dtype=">f8").reshape(3, 1),
    np.array([1 + 1j, 2j], dtype="c8"),
    np.array([True, False]),
    np.array(["a", "ünï"]),
    np.array([b"ab", b""]),
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}-{a.shape}")
def test_numeric_arrays_round_trip_with_dtype_and_shape(array: np.ndarray) -> None:
    back = decode(encode(array))
    assert type(back) is np.ndarray
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_fortran_order_arrays_keep_their_layout() -> None:
    array = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    assert decode(encode(array)).flags.f_contiguous


array_dtypes = (
    hnp.scalar_dtypes()
    | hnp.byte_string_dtypes(max_len=4)
    | hnp.unicode_string_dtypes(max_len=4)
    | hnp.integer_dtypes(endianness=">")
    | hnp.floating_dtypes(endianness=">")
)


@given(
    hnp.arrays(array_dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)),
    st.sampled_from(["as is", "transposed", "strided"]),
)
def test_random_arrays_round_trip(array: np.ndarray, view: str) -> None:
    if view == "transposed":
        array = array.T
    elif view == "strided" and array.ndim:
        array = array[::2]
    back = decode(encode(array))
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_numeric_arrays_decode_as_read_only_zero_copy_views_of_the_payload() -> None:
    payload = encode(np.arange(1000.0))
    back = decode(payload)
    assert back.base is payload
    assert not back.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        back[0] = 1.0
    matrix = decode(encode(np.ones((40, 25))))
    assert not matrix.flags.writeable and not matrix.flags.owndata
    assert back.ctypes.data % 16 == np.asarray(memoryview(payload)).ctypes.data % 16


def test_arrays_decoded_from_a_bytearray_are_read_only_too() -> None:
    back = decode(bytearray(encode(np.arange(10))))
    assert not back.flags.writeable
    np.testing.assert_array_equal(back, np.arange(10))


def test_array_buffers_are_raw_bytes_in_the_payload() -> None:
    array = np.random.default_rng(0).random(10_000)
    payload = encode({"x": array})
    assert array.tobytes() in payload
    assert len(payload) < array.nbytes + 100


def test_object_arrays_round_trip_element_by_element() -> None:
    array = np.array([1, "a", None, (1, 2), [3], pd.Timestamp("2024")] * 2, dtype=object)
    back = decode(encode(array.reshape(3, 4)))
    assert back.dtype == object and back.shape == (3, 4)
    for b, v in zip(back.ravel(), array, strict=True):
        assert_same(b, v)


# ---------------------------------------------------------------------------- pandas


def every_column_kind(rows: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "f32": rng.random(rows).astype("f4"),
            "i8": rng.integers(-5, 5, rows).astype("i1"),
            "u64": np.arange(rows, dtype="u8"),
            "c128": rng.random(rows) + 1j,
            "bool": rng.random(rows) > 0.5,
            "ns": pd.date_range("2024", periods=rows, freq="h"),
            "ms": pd.date_range("2024", periods=rows).as_unit("ms"),
            "tz": pd.date_range("2024", periods=rows, tz="Asia/Tokyo"),
            "fixed": pd.date_range("2024", periods=rows, tz=dt.timezone(dt.timedelta(hours=-3))),
            "td": pd.to_timedelta(np.arange(rows), unit="ms"),
            "cat": pd.Categorical(list("abcabcabca"), categories=list("cba"), ordered=True),
            "cat_int": pd.Categorical([1, 2] * 5),
            "obj": pd.Series(
                [1, "a", None, 2.5, (1,), pd.Timestamp("2024"), dt.date(2024, 1, 1), [1], {}, b""],
                dtype=object,
            ),
            "str": pd.array(["x", None] * 5, dtype="str"),
            "string": pd.array(["x", None] * 5, dtype="string"),
            "py_string": pd.array(["x", None] * 5, dtype=pd.StringDtype("python")),
            "Int64": pd.array([1, None] * 5, dtype="Int64"),
            "UInt8": pd.array([1, None] * 5, dtype="UInt8"),
            "Float64": pd.array([1.5, None] * 5, dtype="Float64"),
            "boolean": pd.array([True, None] * 5, dtype="boolean"),
            "period": pd.period_range("2024-01", periods=rows, freq="M"),
            "sparse": pd.arrays.SparseArray([0, 1] * 5),
            ("tuple", "name"): np.arange(rows),
            None: np.zeros(rows),
        },
        index=pd.MultiIndex.from_arrays(
            [list("aabbccddee"), np.arange(rows)], names=["sym", ("t", 1)]
        ),
    )


def test_dataframe_with_every_column_kind_round_trips() -> None:
    frame = every_column_kind()
    pd.testing.assert_frame_equal(decode(encode(frame)), frame)


def ohlcv(rows: int, tz: str | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-01-01", periods=rows, freq="min", tz=tz, name="ts")
    prices = {name: rng.random(rows) for name in ("open", "high", "low", "close")}
    return pd.DataFrame(
        {
            **prices,
            "volume": rng.integers(0, 10_000, rows),
            "symbol": pd.Categorical(rng.choice(["AAPL", "MSFT"], rows)),
        },
        index=index,
    )


def test_dataframe_with_tz_index_round_trips_with_its_freq() -> None:
    frame = ohlcv(500, tz="America/New_York")
    back = decode(encode(frame))
    pd.testing.assert_frame_equal(back, frame)
    assert back.index.freq == frame.index.freq and str(back.index.tz) == "America/New_York"


def test_frame_columns_travel_as_raw_buffers() -> None:
    frame = ohlcv(10_000)
    payload = encode(frame)
    assert frame["close"].to_numpy().tobytes() in payload
    assert frame.index.asi8.tobytes() in payload


def test_decoded_series_and_frames_are_writable() -> None:
    frame = decode(encode(ohlcv(5)))
    frame.iloc[0, 0] = 9.0
    frame.loc[frame.index[1], "symbol"] = "MSFT"
    series = decode(encode(pd.Series([1.0, 2.0])))
    series.iloc[0] = 3.0
    assert frame.iloc[0, 0] == 9.0 and series.iloc[0] == 3.0


@pytest.mark.parametrize("freq", ["D", "B", "15min", "W-SUN", "MS", "h"])
def test_datetime_index_freq_is_kept(freq: str) -> None:
    series = pd.Series(np.arange(6.0), index=pd.date_range("2024", periods=6, freq=freq), name="px")
    back = decode(encode(series))
    pd.testing.assert_series_equal(back, series)
    assert back.index.freq == series.index.freq


@pytest.mark.parametrize(
    "index",
    [
        pd.RangeIndex(5, 50, 5, name="r"),
        pd.MultiIndex.from_product([["AAPL", "MSFT"], [1, 2]], names=["sym", ("w", 1)]),
        pd.CategoricalIndex(["b", "a", "b"], ordered=True, name="c"),
        pd.Index([1.5, 2.5]),
        pd.Index(["x", "y"]),
        pd.Index(["x", 1], dtype=object),
        pd.Index([1, None], dtype="Int64"),
        pd.date_range("2024", periods=3, tz=dt.timezone(dt.timedelta(hours=2))),
        pd.date_range("2024", periods=4, freq="15min", tz="America/New_York", name="ts"),
        pd.timedelta_range(0, periods=4, freq="2h"),
        pd.period_range("2024", periods=3, freq="Q"),
    ],
    ids=lambda i: type(i).__name__,
)
def test_indexes_round_trip(index: pd.Index) -> None:
    back = decode(encode(index))
    pd.testing.assert_index_equal(back, index, exact=True)
    assert getattr(back, "freq", None) == getattr(index, "freq", None)


@pytest.mark.parametrize(
    "value",
    [
        pd.DataFrame(),
        pd.DataFrame([[1, 2]], columns=["a", "a"]),
        pd.DataFrame(columns=["a", "b"]),
        pd.DataFrame(
            np.arange(12).reshape(3, 4), columns=pd.MultiIndex.from_product([["a", "b"], [1, 2]])
        ),
        pd.Series([], dtype="float64"),
        pd.Series([1.0, 2.0], name=("px", 1), index=pd.Index(["a", "b"], name="sym")),
    ],
    ids=lambda v: f"{type(v).__name__}{v.shape}",
)
def test_edge_shaped_frames_and_series_round_trip(value: pd.DataFrame | pd.Series) -> None:
    back = decode(encode(value))
    if isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(back, value)
    else:
        pd.testing.assert_series_equal(back, value)


@pytest.mark.parametrize(
    "array",
    [
        pd.Categorical(["a", "b"]),
        pd.array([1, None], dtype="Int64"),
        pd.array(["a", None], dtype="string"),
        pd.array(pd.date_range("2024", periods=2)),
        pd.array(pd.date_range("2024", periods=2, tz="UTC")),
    ],
    ids=lambda a: str(a.dtype),
)
def test_standalone_extension_arrays_round_trip(array: Any) -> None:
    back = decode(encode(array))
    assert type(back) is type(array)
    pd.testing.assert_extension_array_equal(back, array)


# ---------------------------------------------------------------------------- encode errors


class Foo:
    """A class no codec knows."""


class Side(enum.IntEnum):
    BUY = 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), "type 'object': no codec"),
        (lambda: 1, "type 'function'"),
        (print, "type 'builtin_function_or_method'"),
        ([1, {"x": [0, 0, Foo()]}], "type 'Foo' at [1]['x'][2]"),
        ({"k": (1, Foo())}, "type 'Foo' at ['k'][1]"),
        ({Foo(): 1}, "type 'Foo' at [key "),
        (collections.namedtuple("Row", "a b")(1, 2), "subclasses of tuple"),
        (collections.defaultdict(list), "subclasses of dict"),
        (Side.BUY, "subclasses of int"),
        ([memoryview(b"x")], "type 'memoryview' at [0]"),
        (np.zeros(2, dtype=[("a", "i4")]), "type 'ndarray'"),
        (np.ma.masked_array([1, 2]), "subclasses of ndarray"),
        (pd.DataFrame({"a": [Foo()]}), "type 'Foo'"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_unencodable_values_raise_codec_error_naming_type_and_place(
    value: Any, message: str
) -> None:
    with pytest.raises(CodecError, match=r"^cannot encode value of ") as info:
        encode(value)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def self_referencing() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    mapping: dict[str, Any] = {}
    mapping["me"] = mapping
    holder: list[Any] = []
    through_tuple = (holder,)
    holder.append(through_tuple)
    array = np.empty(1, dtype=object)
    array[0] = array
    return [loop, mapping, through_tuple, array]


@pytest.mark.parametrize("value", self_referencing(), ids=lambda v: type(v).__name__)
def test_self_referencing_values_are_refused(value: Any) -> None:
    with pytest.raises(CodecError, match="nested too deeply or refers to itself"):
        encode(value)


def test_nesting_up_to_the_limit_is_fine_and_deeper_is_refused() -> None:
    def nest(depth: int) -> list[Any]:
        value: list[Any] = []
        for _ in range(depth):
            value = [value]
        return value

    assert decode(encode(nest(MAX_DEPTH - 1))) == nest(MAX_DEPTH - 1)
    with pytest.raises(CodecError, match=f"nested deeper than {MAX_DEPTH}"):
        encode(nest(MAX_DEPTH + 1))


class Odd:
    """A class only pickle can hold (module level, so pickle finds it)."""

    def __eq__(self, other: object) -> bool:
        return type(other) is Odd

    __hash__ = object.__hash__


def test_pickle_only_when_both_sides_opt_in() -> None:
    with pytest.raises(CodecError):
        encode(Odd())
    payload = encode([Odd(), np.arange(3)], allow_pickle=True)
    with pytest.raises(CodecError, match="unpickle"):
        decode(payload)
    back = decode(payload, allow_pickle=True)
    assert back[0] == Odd()
    np.testing.assert_array_equal(back[1], np.arange(3))


# ---------------------------------------------------------------------------- decode safety

M = {code: msgpack.ExtType(code, b"") for code in range(1, 64)}


def crafted(header: Any, buffers: bytes = b"") -> bytes:
    """A payload in the codec's layout with a hand-made header (and buffer area)."""
    packed = msgpack.packb(header)
    start = 5 + len(packed)
    area = bytes(-start % 16) + buffers if buffers else b""
    return FORMAT + struct.pack("<I", len(packed)) + packed + area


ND = codec.NDARRAY
RANGE_10E12 = [M[pdc.RANGEINDEX], 0, 10**12, 1, None]
EMPTY_F8 = [M[ND], "<f8", [0], "C", 0, 0]
FOREIGN = {
    "empty": b"",
    "format byte only": FORMAT,
    "text": b"garbage",
    "pickle": pickle.dumps({"a": 1}),
    "json": json.dumps({"a": 1}).encode(),
    "plain msgpack": msgpack.packb({"a": 1}),
    "header longer than payload": FORMAT + struct.pack("<I", 2**31) + b"\x90",
    "array of 2**31 items": FORMAT + struct.pack("<I", 5) + b"\xdd\x7f\xff\xff\xff",
    "map of 2**31 items": FORMAT + struct.pack("<I", 5) + b"\xdf\x7f\xff\xff\xff",
    "str of 2 GiB": FORMAT + struct.pack("<I", 5) + b"\xdb\x7f\xff\xff\xff",
    "ndarray claiming 10 GB": crafted([M[ND], "<f8", [1_250_000_000], "C", 0, 10**10], b"x" * 64),
    "ndarray shape vs bytes": crafted([M[ND], "<f8", [10], "C", 0, 8], b"x" * 8),
    "ndarray object dtype": crafted([M[ND], "|O", [1], "C", 0, 8], b"x" * 8),
    "ndarray structured dtype": crafted([M[ND], "i4,i4", [1], "C", 0, 8], b"x" * 8),
    "ndarray negative offset": crafted([M[ND], "<f8", [1], "C", -8, 8], b"x" * 8),
    "ndarray negative dims": crafted([M[ND], "<f8", [-1, -8], "C", 0, 64], b"x" * 64),
    "object array of 10**18": crafted([M[codec.OBJARRAY], [10**9, 10**9], [1]]),
    "empty array of 2**62 rows": crafted([M[ND], "<f8", [0, 2**62], "C", 0, 0]),
    "unknown marker": crafted(M[31]),
    "marker with data": crafted(msgpack.ExtType(codec.TUPLE, b"abc")),
    "marker out of place": crafted([1, M[codec.TUPLE]]),
    "marker as map value": crafted({"a": M[codec.SET]}),
    "unhashable set item": crafted([M[codec.SET], [1]]),
    "pickle without opt-in": crafted([M[codec.PICKLE], pickle.dumps(1)]),
    "zone path": crafted([M[codec.DATETIME], 2024, 1, 1, 0, 0, 0, 0, 0, [1, "../../etc/passwd"]]),
    "series broadcasting a scalar": crafted([M[pdc.SERIES], 5, RANGE_10E12, None]),
    "frame column shorter than index": crafted(
        [M[pdc.FRAME], [M[pdc.RANGEINDEX], 0, 1, 1, None], RANGE_10E12, [EMPTY_F8]]
    ),
    "series with an unknown nullable dtype": crafted(
        [M[pdc.SERIES], [M[pdc.MASKED], "object", EMPTY_F8, EMPTY_F8], RANGE_10E12, None]
    ),
    "nested markers 3000 deep": crafted(None)[:1]
    + struct.pack("<I", 4 * 3000 + 1)
    + b"\x92\xc7\x00\x01" * 3000
    + b"\xc0",
    "truncated array": encode(np.arange(100.0))[:-3],
}  # fmt: skip


@pytest.mark.parametrize("payload", FOREIGN.values(), ids=FOREIGN.keys())
def test_corrupt_or_foreign_payloads_raise_codec_error_quickly_and_cheaply(payload: bytes) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(CodecError):
            decode(payload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 10 * 2**20


@pytest.mark.parametrize("value", [[1, "a", (2, 3.5)], np.arange(5.0), ohlcv(3)], ids=type)
def test_every_truncation_of_a_payload_is_refused(value: Any) -> None:
    payload = encode(value)
    for cut in range(len(payload)):
        with pytest.raises(CodecError):
            decode(payload[:cut])


def test_non_bytes_input_raises_codec_error() -> None:
    with pytest.raises(CodecError, match="expected bytes"):
        decode("not bytes")  # type: ignore[arg-type]


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    for candidate in (data, FORMAT + data, FORMAT + struct.pack("<I", len(data)) + data):
        with contextlib.suppress(CodecError):
            decode(candidate)


SAMPLE = encode([1, (2.5, "x"), {"k": np.arange(4)}, dt.datetime(2024, 1, 1, tzinfo=NY), ohlcv(3)])


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(0, 255)), max_size=4))
def test_corrupted_payloads_decode_or_raise_codec_error(edits: list[tuple[int, int]]) -> None:
    data = bytearray(SAMPLE)
    for position, byte in edits:
        data[position] = byte
    with contextlib.suppress(CodecError):
        decode(bytes(data))
