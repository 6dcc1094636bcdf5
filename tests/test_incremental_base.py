"""The framework itself: the calculate contract, saved state, timestamps, reset."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import msgpack
import numpy as np
import pandas as pd
import pytest

from admf_perf.errors import AdmfPerfError
from admf_perf.incremental import (
    BollingerBandsCalculator,
    CachingRiskCalculator,
    ExponentialMovingAverageCalculator,
    IncrementalCalculator,
    InvalidInputError,
    MovingAverageCalculator,
    OutOfOrderError,
    RollingMaxCalculator,
    RollingMinCalculator,
    RollingStdCalculator,
    RollingVarianceCalculator,
    RSICalculator,
    StateError,
)

MAKERS = [
    lambda: MovingAverageCalculator(5),
    lambda: ExponentialMovingAverageCalculator(span=4, min_periods=3),
    lambda: ExponentialMovingAverageCalculator(alpha=0.25),
    lambda: RollingVarianceCalculator(4, ddof=0),
    lambda: RollingStdCalculator(6),
    lambda: BollingerBandsCalculator(5, num_std=2.5),
    lambda: RollingMaxCalculator(4),
    lambda: RollingMinCalculator(4),
    lambda: RSICalculator(3),
    lambda: CachingRiskCalculator(periods_per_year=12, risk_free=0.001),
]


def msgpack_round_trip(state: dict[str, Any]) -> dict[str, Any]:
    """What a cache does with the state: plain msgpack, numpy arrays as an ext type."""

    def default(obj: object) -> object:
        if isinstance(obj, np.ndarray):
            return msgpack.ExtType(
                1, msgpack.packb([obj.dtype.str, list(obj.shape), obj.tobytes()])
            )
        raise TypeError(f"not msgpack-friendly: {type(obj).__name__}")

    def ext_hook(code: int, data: bytes) -> object:
        dtype, shape, raw = msgpack.unpackb(data)
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()

    return msgpack.unpackb(
        msgpack.packb(state, default=default), ext_hook=ext_hook, strict_map_key=False
    )


def data(n: int, seed: int = 0, returns: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if returns:
        return rng.normal(0.001, 0.02, n)
    x = 50 + np.cumsum(rng.normal(size=n))
    x[rng.random(n) < 0.05] = np.nan
    return x


def same(a: object, b: object) -> bool:
    return bool(
        np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)
    )


class Doubler(IncrementalCalculator):
    """A toy calculator: the contract of the seed design, nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        self.seen: list[int] = []
        self.calls: list[str] = []

    @property
    def value(self) -> list[int]:
        return [2 * v for v in self.seen]

    def _can_update_incrementally(self, items: list[int]) -> bool:  # type: ignore[override]
        self.calls.append("check")
        return items[: len(self.seen)] == self.seen

    def _update_incrementally(self, items: list[int]) -> list[int]:  # type: ignore[override]
        self.calls.append(f"append {len(items) - len(self.seen)}")
        self.seen = list(items)
        return self.value

    def _calculate_full(self, items: list[int]) -> list[int]:  # type: ignore[override]
        self.calls.append(f"full {len(items)}")
        self.seen = list(items)
        return self.value

    def _config(self) -> dict[str, Any]:
        return {}

    def _state(self) -> dict[str, Any]:
        return {"seen": self.seen}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.seen = list(state["seen"])


def test_calculate_dispatches_through_can_update_incrementally() -> None:
    calc = Doubler()
    assert calc.calculate([1, 2]) == [2, 4]
    assert calc.calculate([1, 2, 3]) == [2, 4, 6]
    assert calc.calculate([9]) == [18]
    assert calc.calls == ["check", "append 2", "check", "append 1", "check", "full 1"]
    assert calc.calculation_counts == {"full": 1, "incremental": 2}
    restored = IncrementalCalculator.from_state(msgpack_round_trip(calc.get_state()))
    assert isinstance(restored, Doubler) and restored.seen == [9]


@pytest.mark.parametrize("make", MAKERS)
@pytest.mark.parametrize("split", [0, 2, 7, 150])
def test_state_round_trip_continues_exactly(make: Any, split: int) -> None:
    """Save after calculate + some updates, restore elsewhere, continue: same as never stopping."""
    is_risk = isinstance(make(), CachingRiskCalculator)
    x = data(300, seed=split, returns=is_risk)
    if is_risk:
        x = x[np.isfinite(x)]
    original = make()
    original.calculate(x[:split])
    for v in x[split : split + 5]:
        original.update(v)
    state = msgpack_round_trip(original.get_state())
    restored = IncrementalCalculator.from_state(state)
    assert type(restored) is type(original)
    assert same(restored.value, original.value)
    for v in x[split + 5 :]:
        assert same(restored.update(v), original.update(v))
    assert same(restored.value, original.value)
    # the saved calculate() history is still appendable on the restored copy
    again = make().from_state(state)
    got = again.calculate(x)
    assert again.calculation_counts == {"full": 0, "incremental": 1}
    want = make().calculate(x)
    np.testing.assert_allclose(
        np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=1e-9, equal_nan=True
    )


@pytest.mark.parametrize("make", MAKERS)
def test_state_survives_the_project_codec(make: Any) -> None:
    """The cache stores states with admf_perf.codec: decoded arrays are read-only views."""
    codec = pytest.importorskip("admf_perf.codec")
    x = data(200, returns=isinstance(make(), CachingRiskCalculator))
    x = x[np.isfinite(x)]
    calc = make()
    calc.calculate(x[:150])
    restored = IncrementalCalculator.from_state(codec.decode(codec.encode(calc.get_state())))
    for c in (calc, restored):
        c.calculate(x)  # appends onto the restored (read-only) output history
    assert restored.calculation_counts == {"full": 0, "incremental": 1}
    assert same(restored.value, calc.value)


def test_restored_history_returns_the_full_output() -> None:
    x = data(500)
    calc = RollingStdCalculator(10)
    calc.calculate(x[:400])
    restored = RollingStdCalculator.from_state(msgpack_round_trip(calc.get_state()))
    out = restored.calculate(x)
    assert restored.calculation_counts == {"full": 0, "incremental": 1}
    np.testing.assert_allclose(
        out, RollingStdCalculator(10).calculate(x), rtol=1e-12, equal_nan=True
    )


def test_state_is_plain_data() -> None:
    calc = BollingerBandsCalculator(3)
    calc.calculate([1.0, 2.0, 3.0, 4.0])

    def walk(obj: object) -> None:
        if isinstance(obj, dict):
            assert all(isinstance(k, str) for k in obj)
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)
        else:
            assert obj is None or isinstance(obj, str | int | float | np.ndarray), type(obj)

    walk(calc.get_state())


def test_mismatched_or_malformed_state_is_rejected() -> None:
    state = MovingAverageCalculator(5).get_state()
    with pytest.raises(StateError):
        MovingAverageCalculator(6).set_state(state)  # other config
    with pytest.raises(StateError):
        RollingMaxCalculator(5).set_state(state)  # other type
    with pytest.raises(StateError):
        RollingMaxCalculator.from_state(state)
    with pytest.raises(StateError):
        IncrementalCalculator.from_state({"type": "Nope", "version": 1, "config": {}, "state": {}})
    with pytest.raises(StateError):
        IncrementalCalculator.from_state({"just": "junk"})
    with pytest.raises(StateError):
        MovingAverageCalculator(5).set_state({**state, "version": 99})
    broken = {**state, "state": {**state["state"], "kernel": {"tail": [1.0] * 9}}}
    calc = MovingAverageCalculator(5)
    with pytest.raises(StateError):
        calc.set_state(broken)
    assert math.isnan(calc.value)  # left empty, not half-loaded
    assert issubclass(StateError, AdmfPerfError)


def test_reset_forgets_everything() -> None:
    calc = MovingAverageCalculator(2)
    calc.calculate([1.0, 2.0, 3.0], timestamps=[1, 2, 3])
    calc.reset()
    assert math.isnan(calc.value) and calc.last_timestamp is None
    assert math.isnan(calc.update(10.0))
    assert calc.update(20.0) == 15.0
    calc.calculate([1.0, 2.0])
    assert calc.calculation_counts["full"] == 2


# -- timestamps ------------------------------------------------------------------------


def test_update_rejects_a_timestamp_older_than_the_last() -> None:
    calc = MovingAverageCalculator(2)
    calc.update(1.0, timestamp=10)
    calc.update(2.0, timestamp=10)  # equal is fine (two ticks in the same instant)
    with pytest.raises(OutOfOrderError):
        calc.update(3.0, timestamp=9)
    assert calc.value == 1.5  # the rejected bar changed nothing
    calc.update(3.0)  # no timestamp: not checked
    assert calc.value == 2.5


def test_datetime_timestamps_are_normalized() -> None:
    calc = ExponentialMovingAverageCalculator(span=3)
    t0 = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
    calc.update(1.0, timestamp=t0)
    calc.update(2.0, timestamp=pd.Timestamp(t0) + pd.Timedelta(minutes=1))
    calc.update(3.0, timestamp=np.datetime64("2024-01-02T09:32"))
    assert calc.last_timestamp == pd.Timestamp("2024-01-02T09:32", tz="UTC").value
    with pytest.raises(OutOfOrderError):
        calc.update(4.0, timestamp=t0 + timedelta(minutes=1))
    with pytest.raises(InvalidInputError):
        calc.update(4.0, timestamp=float("nan"))
    with pytest.raises(AdmfPerfError):
        calc.update(4.0, timestamp="yesterday")


def test_calculate_checks_timestamps() -> None:
    calc = MovingAverageCalculator(2)
    times = pd.date_range("2024-01-01", periods=4, freq="D")
    calc.calculate([1.0, 2.0, 3.0, 4.0], timestamps=times)
    assert calc.last_timestamp == times[-1].value
    with pytest.raises(OutOfOrderError):
        calc.update(5.0, timestamp=times[-2])
    with pytest.raises(OutOfOrderError):
        calc.calculate([1.0, 2.0, 3.0], timestamps=[1, 3, 2])
    with pytest.raises(InvalidInputError):
        calc.calculate([1.0, 2.0, 3.0], timestamps=[1, 2])
    with pytest.raises(InvalidInputError):
        calc.calculate(
            [1.0, 2.0], timestamps=np.array(["2024-01-01", "NaT"], dtype="datetime64[ns]")
        )
    tz = pd.date_range("2024-01-01", periods=2, freq="h", tz="Europe/Paris")
    calc.calculate([1.0, 2.0], timestamps=pd.Series(tz))
    assert calc.last_timestamp == tz[-1].value
