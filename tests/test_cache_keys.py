"""CacheKey: equal inputs, equal keys, in every process; different inputs, different keys."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from admf_perf import CacheKey, KeyGenerationError

key = CacheKey.generate_key


class Side(enum.Enum):
    BUY = 1


def samples():
    return [
        (("sma", "AAPL", 20), {}),
        ((1, 1.0, True, None, "1", "a:b", "True"), {}),
        (((1, 2), [1, 2], {"b": 2, "a": 1}, {3, 1}), {"window": 5}),
        ((dt.datetime(2024, 1, 2, 9, 30), dt.date(2024, 1, 2), dt.timedelta(hours=1)), {}),
        ((decimal.Decimal("1.10"), Side.BUY, b"raw", np.float32(1.5), np.int64(7)), {}),
        ((np.arange(1000, dtype=np.float64).reshape(10, 100),), {}),
        ((pd.Series([1.0, 2.0], index=pd.date_range("2024", periods=2), name="px"),), {}),
        (
            (pd.DataFrame({"a": [1, 2], "s": ["x", "y"]}),),
            {"as_of": pd.Timestamp("2024-01-01", tz="UTC")},
        ),
    ]


def test_small_inputs_give_readable_keys():
    assert key(("sma", "AAPL", 20), {}) == "sma:AAPL:20"
    assert key(("AAPL",), {"window": 20, "adjust": True}) == "AAPL:adjust=True:window=20"


def test_kwargs_order_does_not_matter():
    assert key((1,), {"a": 1, "b": 2}) == key((1,), {"b": 2, "a": 1})


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ((1,), (1.0,)),
        ((1,), ("1",)),
        ((1,), (True,)),
        (("a:b",), ("a", "b")),
        (("None",), (None,)),
        (((1, 2),), ([1, 2],)),
        ((("a", "b"),), ("a,b",)),
        ((b"ab",), ("ab",)),
        (({1: 2},), ({"1": 2},)),
    ],
)
def test_different_inputs_never_share_a_key(left, right):
    assert key(left, {}) != key(right, {})


def test_one_changed_element_in_a_million_changes_the_key():
    data = np.random.default_rng(1).random(1_000_000)
    before = key((data,), {})
    changed = data.copy()
    changed[654_321] = np.nextafter(changed[654_321], 2.0)
    assert key((changed,), {}) != before
    assert key((data.copy(),), {}) == before
    assert key((data.astype(np.float32),), {}) != before, "dtype is part of the key"
    assert key((data.reshape(1000, 1000),), {}) != before, "shape is part of the key"


def test_arrays_that_print_alike_do_not_collide():
    a = np.zeros(10_000)
    b = np.zeros(10_000)
    b[5000] = 1.0
    assert str(a) == str(b)
    assert key((a,), {}) != key((b,), {})


def test_pandas_keys_cover_values_index_columns_and_names():
    df = pd.DataFrame({"close": [1.0, 2.0, 3.0]}, index=pd.date_range("2024", periods=3))
    base = key((df,), {})
    assert key((df.copy(),), {}) == base
    assert key((df.rename(columns={"close": "open"}),), {}) != base
    assert key((df.set_axis(pd.date_range("2023", periods=3)),), {}) != base
    other = df.copy()
    other.iloc[1, 0] = 2.5
    assert key((other,), {}) != base
    s = df["close"]
    assert key((s,), {}) != key((s.rename("x"),), {})
    strings = pd.Series(["a", "b"])
    assert key((strings,), {}) != key((pd.Series(["a", "c"]),), {})
    assert key((pd.Series(["a", "b"], dtype="category"),), {}) != key((strings,), {})


def test_keys_are_the_same_in_another_process_with_another_hash_seed():
    script = (
        "import json, sys; sys.path.insert(0, '.');"
        "from tests.test_cache_keys import samples;"
        "from admf_perf import CacheKey;"
        "print(json.dumps([CacheKey.generate_key(a, k) for a, k in samples()]))"
    )
    results = []
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", script],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent.parent,
        )
        results.append(json.loads(out.stdout))
    here = [key(a, k) for a, k in samples()]
    assert results[0] == results[1] == here


def test_objects_with_cache_key_supply_their_own_token():
    class Bars:
        def __init__(self, symbol):
            self.symbol = symbol
            self.loaded_at = object()  # unkeyable, but cache_key() avoids it

        def cache_key(self):
            return f"bars-{self.symbol}"

    assert key((Bars("SPY"), 5), {}) == "bars-SPY:5"


def test_include_self_false_drops_the_first_argument():
    assert key((object(), "AAPL"), {}, include_self=False) == "AAPL"


@pytest.mark.parametrize("bad", [lambda: 1, object(), print, iter([1])])
def test_unkeyable_arguments_raise_a_clear_error(bad):
    with pytest.raises(KeyGenerationError, match=r"cannot be part of a cache key|no attributes"):
        key((1, bad), {})


def test_self_referencing_containers_are_refused():
    loop: list = []
    loop.append(loop)
    with pytest.raises(KeyGenerationError, match="nested"):
        key((loop,), {})


scalars = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.text(), st.booleans(), st.none(), st.binary()
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner), max_leaves=12
)


@given(a=values, b=values)
def test_keys_are_equal_exactly_when_values_and_types_are(a, b):
    same = _types_match(a, b) and a == b
    assert (key((a,), {}) == key((b,), {})) == same


def _types_match(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_types_match(x, y) for x, y in zip(a, b, strict=True))
    return True


@given(parts=st.lists(st.text(), min_size=1, max_size=4))
def test_string_arguments_never_collide_with_other_splits(parts):
    joined = ":".join(parts)
    if len(parts) > 1:
        assert key(tuple(parts), {}) != key((joined,), {})
