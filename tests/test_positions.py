"""IncrementalPositionTracker: hand-checked trades, and random trade/tick sequences against a
brute-force replay that recomputes every total from scratch after each event."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admf_perf.errors import AdmfPerfError, ConfigurationError
from admf_perf.incremental import (
    IncrementalPositionTracker,
    InvalidInputError,
    NonNumericInputError,
    StateError,
)


def test_long_round_trip() -> None:
    t = IncrementalPositionTracker(initial_cash=10_000)
    t.on_trade("AAPL", 10, 100.0, commission=1.0)
    assert t.cash == 10_000 - 1000 - 1
    assert t.realized_pnl == -1.0
    t.on_trade("AAPL", 10, 110.0)
    pos = t.positions["AAPL"]
    assert pos.quantity == 20 and pos.average_cost == 105.0 and pos.last_price == 110.0
    assert t.unrealized_pnl == pytest.approx(100.0)
    t.on_price("AAPL", 120.0)
    assert t.market_value == 2400.0 and t.unrealized_pnl == pytest.approx(300.0)
    t.on_trade("AAPL", -5, 130.0)  # partial close: realizes 5 * (130 - 105)
    assert t.realized_pnl == pytest.approx(-1.0 + 125.0)
    assert t.positions["AAPL"].average_cost == 105.0
    t.on_trade("AAPL", -15, 100.0)  # close: realizes 15 * (100 - 105)
    assert t.positions == {} and t.position("AAPL") is None
    assert t.realized_pnl == pytest.approx(124.0 - 75.0)
    assert t.market_value == 0.0 and t.unrealized_pnl == pytest.approx(0.0)
    assert t.total_value == pytest.approx(10_000 + 49.0)


def test_short_and_flip_through_zero() -> None:
    t = IncrementalPositionTracker()
    t.on_trade("ES", -3, 50.0)  # short 3 @ 50
    assert t.cash == 150.0 and t.market_value == -150.0 and t.total_value == 0.0
    t.on_price("ES", 45.0)
    assert t.unrealized_pnl == pytest.approx(15.0)
    t.on_trade("ES", 5, 40.0)  # buy 5: cover 3 (realize 3 * 10), then long 2 @ 40
    assert t.realized_pnl == pytest.approx(30.0)
    pos = t.positions["ES"]
    assert (
        pos.quantity == 2 and pos.average_cost == 40.0 and pos.realized_pnl == pytest.approx(30.0)
    )
    assert t.unrealized_pnl == pytest.approx(0.0)
    t.on_trade("ES", -4, 42.0)  # sell 4: close 2 (realize 2 * 2), short 2 @ 42
    assert t.realized_pnl == pytest.approx(34.0)
    assert t.positions["ES"].quantity == -2 and t.positions["ES"].average_cost == 42.0


def test_fractional_quantities_snap_to_flat() -> None:
    t = IncrementalPositionTracker()
    t.on_trade("BTC", 0.1, 100.0)
    t.on_trade("BTC", 0.2, 100.0)
    t.on_trade("BTC", -0.3, 110.0)
    assert t.positions == {}
    assert t.realized_pnl == pytest.approx(3.0)


def test_zero_quantity_trade_only_costs_commission() -> None:
    t = IncrementalPositionTracker(100.0)
    t.on_trade("X", 5, 10.0)
    t.on_trade("X", 0, 12.0, commission=0.5)
    assert t.positions["X"].quantity == 5 and t.positions["X"].average_cost == 10.0
    assert t.cash == pytest.approx(49.5) and t.realized_pnl == -0.5
    assert t.last_price("X") == 12.0


def test_price_without_position() -> None:
    t = IncrementalPositionTracker()
    t.on_price("MSFT", 300.0)
    assert t.positions == {} and t.market_value == 0.0 and t.last_price("MSFT") == 300.0
    assert t.last_price("NOPE") is None


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("A", float("nan"), 1.0), InvalidInputError),
        (("A", 1.0, float("inf")), InvalidInputError),
        (("A", 1.0, 1.0, float("nan")), InvalidInputError),
        (("A", "10", 1.0), NonNumericInputError),
        (("A", 1.0, None), NonNumericInputError),
        (("A", True, 1.0), NonNumericInputError),
        ((7, 1.0, 1.0), NonNumericInputError),
    ],
)
def test_bad_trades_are_rejected_without_side_effects(args: tuple, error: type) -> None:
    t = IncrementalPositionTracker(1000.0)
    t.on_trade("A", 2, 10.0)
    before = t.get_state()
    with pytest.raises(error):
        t.on_trade(*args)
    assert t.get_state() == before
    with pytest.raises(AdmfPerfError):
        t.on_price("A", float("nan"))
    assert t.get_state() == before


def test_bad_initial_cash() -> None:
    with pytest.raises(ConfigurationError):
        IncrementalPositionTracker(initial_cash=float("inf"))


# -- random sequences against a brute-force replay --------------------------------------


@dataclass
class Book:
    """Reference: quantity and *total* cost per symbol; every total recomputed per event."""

    cash: float
    qty: dict[str, float] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)  # signed total cost of the open lot
    mark: dict[str, float] = field(default_factory=dict)
    realized: float = 0.0

    def trade(self, s: str, q: float, p: float, c: float) -> None:
        self.cash -= q * p + c
        self.realized -= c
        held, cost = self.qty.get(s, 0.0), self.cost.get(s, 0.0)
        self.mark[s] = p
        if held == 0 or math.copysign(1, held) == math.copysign(1, q):
            self.qty[s], self.cost[s] = held + q, cost + q * p
            return
        closing = min(abs(q), abs(held))
        unit = cost / held
        sign = math.copysign(1, held)
        self.realized += closing * sign * (p - unit)
        remaining = held + q
        if abs(q) <= abs(held):
            self.qty[s], self.cost[s] = remaining, cost - closing * sign * unit
        else:
            self.qty[s], self.cost[s] = remaining, remaining * p

    def totals(self) -> tuple[float, float]:
        market = sum(self.qty[s] * self.mark[s] for s in self.qty)
        unrealized = sum(self.qty[s] * self.mark[s] - self.cost[s] for s in self.qty)
        return market, unrealized


events = st.lists(
    st.tuples(
        st.booleans(),  # trade or tick
        st.sampled_from(["A", "B", "C", "D"]),
        st.integers(-50, 50),  # integer quantities: the reference needs no snapping
        st.integers(1, 20_000),  # price in cents
        st.sampled_from([0.0, 0.0, 1.0, 2.5]),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(evs=events, cash=st.sampled_from([0.0, 1e6]))
def test_random_sequences_match_brute_force(evs: list, cash: float) -> None:
    tracker = IncrementalPositionTracker(cash)
    ref = Book(cash)
    for is_trade, sym, q, cents, comm in evs:
        p = cents / 100
        if is_trade:
            tracker.on_trade(sym, q, p, comm)
            ref.trade(sym, q, p, comm)
        else:
            tracker.on_price(sym, p)
            ref.mark[sym] = p
        market, unrealized = ref.totals()
        scale = 1.0 + sum(abs(ref.qty[s] * ref.mark[s]) for s in ref.qty) + abs(ref.cash)
        tol = 1e-9 * scale
        assert tracker.market_value == pytest.approx(market, abs=tol)
        assert tracker.unrealized_pnl == pytest.approx(unrealized, abs=tol)
        assert tracker.realized_pnl == pytest.approx(ref.realized, abs=tol)
        assert tracker.cash == pytest.approx(ref.cash, abs=tol)
        assert tracker.total_value == pytest.approx(ref.cash + market, abs=tol)
        # the accounting identity
        assert tracker.total_value == pytest.approx(
            cash + tracker.realized_pnl + tracker.unrealized_pnl, abs=tol
        )
    open_ref = {s: q for s, q in ref.qty.items() if q}
    assert {s: p.quantity for s, p in tracker.positions.items()} == open_ref
    for s, pos in tracker.positions.items():
        assert pos.average_cost == pytest.approx(ref.cost[s] / ref.qty[s], rel=1e-12)
        assert pos.market_value == pytest.approx(ref.qty[s] * ref.mark[s])


def test_running_totals_stay_exact_over_many_updates() -> None:
    """500k ticks and trades over 200 symbols: the O(1) totals agree with a fresh sum."""
    rng = np.random.default_rng(5)
    tracker = IncrementalPositionTracker(1e7)
    symbols = [f"S{i}" for i in range(200)]
    prices = dict.fromkeys(symbols, 100.0)
    for s in symbols:
        tracker.on_trade(s, float(rng.integers(-100, 100)), 100.0)
    kinds = rng.random(500_000) < 0.05
    picks = rng.integers(0, 200, 500_000)
    moves = rng.normal(0, 0.01, 500_000)
    for trade, i, m in zip(kinds.tolist(), picks.tolist(), moves.tolist(), strict=True):
        s = symbols[i]
        prices[s] *= 1 + m
        if trade:
            tracker.on_trade(s, float(rng.integers(-10, 10)), prices[s], 0.1)
        else:
            tracker.on_price(s, prices[s])
    book = tracker.positions
    exact_mv = math.fsum(p.quantity * p.last_price for p in book.values())
    exact_unreal = math.fsum(p.quantity * (p.last_price - p.average_cost) for p in book.values())
    assert tracker.market_value == pytest.approx(exact_mv, rel=1e-12, abs=1e-6)
    assert tracker.unrealized_pnl == pytest.approx(exact_unreal, rel=1e-9, abs=1e-6)


def test_state_round_trip() -> None:
    t = IncrementalPositionTracker(5000.0)
    t.on_trade("A", 3, 10.0, 1.0)
    t.on_trade("B", -2, 20.0)
    t.on_price("A", 12.0)
    blob = msgpack.packb(t.get_state())
    restored = IncrementalPositionTracker.from_state(msgpack.unpackb(blob))
    for tracker in (t, restored):
        tracker.on_trade("A", -1, 13.0)
        tracker.on_price("B", 18.0)
    for name in ("cash", "realized_pnl", "unrealized_pnl", "market_value", "total_value"):
        assert getattr(restored, name) == pytest.approx(getattr(t, name)), name
    assert restored.positions == t.positions
    with pytest.raises(StateError):
        IncrementalPositionTracker(1.0).set_state(t.get_state())
    with pytest.raises(StateError):
        IncrementalPositionTracker.from_state({"type": "IncrementalPositionTracker"})
    t.reset()
    assert t.positions == {} and t.cash == 5000.0 and t.total_value == 5000.0
