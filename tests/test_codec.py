"""The codec: exact round trips of every supported type, clean errors for anything else."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import pickle
import uuid
import zoneinfo

import msgpack
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from admf_perf.codec import FORMAT, decode, encode
from admf_perf.errors import CodecError

SCALARS = [
    None, True, False, 0, -3, 2**70, -(2**90), 1.5, -0.0, float("inf"), "AAPL", "", "ünï", b"\x00raw",
    [1, [2]], (1, (2, 3)), (), {"a": 1, 2: "b", (1, 2): [3]}, {1, 2}, frozenset({"x"}), 1 + 2j,
    dt.datetime(2024, 1, 2, 9, 30, 0, 123456),
    dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.date(2024, 2, 29), dt.time(16, 0),
    dt.time(9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))), dt.timedelta(days=-2, microseconds=7),
    decimal.Decimal("1.10"), decimal.Decimal("-Infinity"), uuid.UUID(int=12345),
    np.float64(1.25), np.float32(0.5), np.int8(-7), np.uint64(2**63), np.bool_(True),
    np.datetime64("2024-01-01T09:30", "ns"), np.timedelta64(5, "s"), np.complex128(1 - 1j),
    pd.Timestamp("2024-03-10 02:30:00.000000001"), pd.Timestamp("2024-01-01 09:30", tz="America/New_York"),
    pd.Timestamp("2024-01-01", tz="UTC").as_unit("s"), pd.Timedelta("1h 5ns"), pd.Period("2024Q1", freq="Q"),
]  # fmt: skip


@pytest.mark.parametrize("value", SCALARS, ids=lambda v: type(v).__name__)
def test_values_round_trip_with_their_type(value):
    back = decode(encode(value))
    assert type(back) is type(value)
    assert back == value
    if isinstance(value, dt.datetime):
        assert back.fold == value.fold and back.tzinfo == value.tzinfo


def test_nan_and_nat_round_trip():
    assert np.isnan(decode(encode(float("nan"))))
    assert decode(encode(pd.NaT)) is pd.NaT


def test_bytearray_comes_back_as_bytes():
    assert decode(encode(bytearray(b"ab"))) == b"ab"


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12.0).reshape(3, 4),
        np.asfortranarray(np.arange(6).reshape(2, 3)),
        np.arange(20)[::3],
        np.array(7),
        np.empty((0, 5)),
        np.array(["2024-01-01", "NaT"], dtype="M8[ns]"),
        np.array([1, 2], dtype="m8[ms]"),
        np.arange(4, dtype=">i4"),
        np.array([1 + 1j, 2j]),
        np.array([True, False]),
    ],
    ids=lambda a: f"{a.dtype}-{a.shape}",
)
def test_numeric_arrays_round_trip(array):
    back = decode(encode(array))
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_numeric_arrays_decode_as_read_only_zero_copy_views():
    back = decode(encode(np.arange(1000.0)))
    assert not back.flags.writeable
    assert not back.flags.owndata
    with pytest.raises(ValueError, match="read-only"):
        back[0] = 1.0


def test_object_arrays_round_trip_element_by_element():
    array = np.array([1, "a", None, (1, 2)], dtype=object)
    back = decode(encode(array))
    assert back.dtype == object and list(back) == list(array)


@given(
    hnp.arrays(
        dtype=hnp.scalar_dtypes(), shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=5)
    )
)
def test_random_arrays_round_trip(array):
    back = decode(encode(array))
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


nested = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(nested)
def test_nested_structures_round_trip(value):
    assert decode(encode(value)) == value


def ohlcv(rows=50):
    index = pd.date_range("2024-01-01", periods=rows, freq="min", tz="America/New_York", name="ts")
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "open": rng.random(rows),
            "volume": rng.integers(0, 10_000, rows),
            "symbol": pd.Categorical(rng.choice(["AAPL", "MSFT"], rows)),
            "note": pd.array(rng.choice(["x", None], rows), dtype="str"),
            "mixed": [1, "a", None, 2.5, (1,)] * (rows // 5),
            "qty": pd.array(rng.choice([1, None], rows), dtype="Int64"),
            "flag": pd.array(rng.choice([True, None], rows), dtype="boolean"),
            "utc": pd.date_range("2024", periods=rows, tz="UTC"),
            "naive_s": pd.date_range("2024", periods=rows).as_unit("s"),
            "held": pd.to_timedelta(np.arange(rows), unit="s"),
        },
        index=index,
    )


def test_dataframe_with_every_column_kind_round_trips():
    frame = ohlcv()
    pd.testing.assert_frame_equal(decode(encode(frame)), frame)


def test_datetime_index_frequency_is_kept():
    series = pd.Series(np.arange(5.0), index=pd.date_range("2024", periods=5, freq="B"), name="px")
    back = decode(encode(series))
    pd.testing.assert_series_equal(back, series)
    assert back.index.freq == series.index.freq


@pytest.mark.parametrize(
    "index",
    [
        pd.RangeIndex(5, 50, 5, name="r"),
        pd.MultiIndex.from_product([["AAPL", "MSFT"], [1, 2]], names=["sym", ("w", 1)]),
        pd.CategoricalIndex(["b", "a", "b"], ordered=True),
        pd.Index([1.5, 2.5]),
        pd.Index(["x", "y"], dtype=object),
        pd.date_range("2024", periods=3, tz=dt.timezone(dt.timedelta(hours=2))),
    ],
    ids=lambda i: type(i).__name__,
)
def test_indexes_round_trip(index):
    pd.testing.assert_index_equal(decode(encode(index)), index, exact=True)


def test_empty_and_duplicate_column_frames_round_trip():
    pd.testing.assert_frame_equal(decode(encode(pd.DataFrame())), pd.DataFrame())
    dup = pd.DataFrame([[1, 2]], columns=["a", "a"])
    pd.testing.assert_frame_equal(decode(encode(dup)), dup)


@pytest.mark.parametrize("bad", [object(), lambda: 1, print, np.zeros(2, dtype=[("a", "i4")])])
def test_unencodable_values_raise_a_clear_error(bad):
    with pytest.raises(CodecError, match="cannot encode"):
        encode(bad)


def test_self_referencing_values_are_refused():
    loop: list = []
    loop.append(loop)
    with pytest.raises(CodecError, match="refers to itself"):
        encode(loop)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"garbage",
        pickle.dumps({"a": 1}),
        b'{"json": true}',
        FORMAT + b"\xdd\x7f\xff\xff\xff",  # an array header claiming 2**31 elements
        FORMAT
        + msgpack.packb(
            msgpack.ExtType(20, b"\x05\x00\x00\x00" + msgpack.packb(["<f8", [10**10]]))
        ),
        FORMAT
        + msgpack.packb(
            msgpack.ExtType(20, b"\x0c\x00\x00\x00" + msgpack.packb(["|O", [1]]) + b"x" * 8)
        ),
        FORMAT + msgpack.packb(msgpack.ExtType(77, b"")),
        FORMAT + msgpack.packb(msgpack.ExtType(99, pickle.dumps(1))),
        encode(np.arange(100.0))[:-3],
    ],
)
def test_corrupt_or_foreign_payloads_raise_codec_error(payload):
    with pytest.raises(CodecError):
        decode(payload)


class Odd:
    """A class msgpack can't hold (module level, so pickle can find it)."""

    def __eq__(self, other):
        return type(other) is Odd

    __hash__ = object.__hash__


def test_pickle_only_when_both_sides_opt_in():
    with pytest.raises(CodecError):
        encode(Odd())
    payload = encode(Odd(), allow_pickle=True)
    with pytest.raises(CodecError, match="unpickle"):
        decode(payload)
    assert decode(payload, allow_pickle=True) == Odd()


@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_decoder(data):
    for candidate in (data, FORMAT + data):
        with contextlib.suppress(CodecError):
            decode(candidate)
