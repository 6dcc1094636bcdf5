"""Positions, average cost, P&L and portfolio value, updated in O(1) per trade and tick.

Accounting (average-cost method):

- ``on_trade(symbol, quantity, price, commission)``: signed quantity (buy > 0, sell < 0).
  Cash falls by ``quantity * price + commission``. Adding to a position (or opening one)
  moves the average cost to the quantity-weighted mean; reducing it realizes
  ``closed * (price - average_cost)`` (sign-adjusted for shorts) and keeps the average;
  crossing through zero closes the whole position and opens the rest at ``price``.
  Commissions are expensed into realized P&L (not capitalized into the cost).
  The trade price becomes the symbol's mark.
- ``on_price(symbol, price)``: marks the symbol; only market value and unrealized P&L move.

So ``total_value = cash + market_value = initial_cash + realized_pnl + unrealized_pnl``.

Totals (market value, cost basis) are running sums adjusted by each update's delta, never
recomputed per update: O(1) whatever the number of positions. To keep rounding from
accumulating they are rebuilt exactly every ``max(4096, 8 * symbols)`` updates (amortized
O(1)); ``recompute()`` rebuilds them on demand. A quantity within 1e-12 (relative) of
zero after a trade is snapped to flat, so 0.1 + 0.2 - 0.3 closes a position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from admf_perf.incremental._inputs import finite_float
from admf_perf.incremental.errors import InvalidInputError, NonNumericInputError, StateError

_SNAP = 1e-12

# a book entry: [quantity, average_cost, mark, realized_pnl]
_Q, _AVG, _MARK, _REAL = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Position:
    """A snapshot of one open position."""

    symbol: str
    quantity: float
    average_cost: float
    last_price: float
    realized_pnl: float

    @property
    def market_value(self) -> float:
        return self.quantity * self.last_price

    @property
    def unrealized_pnl(self) -> float:
        return self.quantity * (self.last_price - self.average_cost)


def _finite(name: str, value: object) -> float:
    if value.__class__ is float:
        f: float = value
    elif value is None or isinstance(value, bool | np.bool_) or not isinstance(value, Real):
        raise NonNumericInputError(f"{name} must be a number, got {value!r}")
    else:
        f = float(value)
    if f - f != 0.0:
        raise InvalidInputError(f"{name} must be finite, got {value!r}")
    return f


class IncrementalPositionTracker:
    """A portfolio of positions with running P&L (see the module doc for the accounting)."""

    def __init__(self, initial_cash: float = 0.0) -> None:
        self._initial_cash = finite_float("initial_cash", initial_cash)
        self.reset()

    def reset(self) -> None:
        """Back to ``initial_cash`` and no positions."""
        self._book: dict[str, list[float]] = {}
        self._cash = self._initial_cash
        self._realized = 0.0
        self._mv = 0.0  # sum of quantity * mark
        self._basis = 0.0  # sum of quantity * average_cost
        self._ops = 0
        self._rebuild_at = 4096

    # -- updates ----------------------------------------------------------------------

    def on_trade(self, symbol: str, quantity: float, price: float, commission: float = 0.0) -> None:
        """Apply a fill: ``quantity`` > 0 buys, < 0 sells (or shorts)."""
        if symbol.__class__ is not str:
            raise NonNumericInputError(f"symbol must be a str, got {symbol!r}")
        q = _finite("quantity", quantity)
        p = _finite("price", price)
        c = commission if commission == 0.0 else _finite("commission", commission)
        rec = self._book.get(symbol)
        if rec is None:
            rec = self._book[symbol] = [0.0, 0.0, p, 0.0]
        q0, avg0, mark = rec[_Q], rec[_AVG], rec[_MARK]
        avg = avg0
        realized = -c
        if q == 0.0:
            new_q = q0
        elif q0 == 0.0 or (q0 > 0.0) == (q > 0.0):  # open or add
            new_q = q0 + q
            avg = (q0 * avg + q * p) / new_q
        else:  # reduce, close or flip
            new_q = q0 + q
            if abs(new_q) <= _SNAP * abs(q0):
                new_q = 0.0
            if new_q == 0.0 or (new_q > 0.0) == (q0 > 0.0):  # reduced or closed
                realized += -q * (p - avg)
                if new_q == 0.0:
                    avg = 0.0
            else:  # flipped through zero: close q0, open the rest at p
                realized += q0 * (p - avg)
                avg = p
        rec[_Q] = new_q
        rec[_AVG] = avg
        rec[_MARK] = p
        rec[_REAL] += realized
        self._realized += realized
        self._cash -= q * p + c
        self._mv += new_q * p - q0 * mark
        self._basis += new_q * avg - q0 * avg0
        self._tick()

    def on_price(self, symbol: str, price: float) -> None:
        """Mark ``symbol`` at ``price`` (a symbol without a position just records it)."""
        p = price if price.__class__ is float and price - price == 0.0 else _finite("price", price)
        rec = self._book.get(symbol)
        if rec is None:
            if symbol.__class__ is not str:
                raise NonNumericInputError(f"symbol must be a str, got {symbol!r}")
            self._book[symbol] = [0.0, 0.0, p, 0.0]
            return
        q = rec[_Q]
        if q:
            self._mv += q * (p - rec[_MARK])
        rec[_MARK] = p
        self._ops += 1
        if self._ops >= self._rebuild_at:
            self.recompute()

    def _tick(self) -> None:
        self._ops += 1
        if self._ops >= self._rebuild_at:
            self.recompute()

    def recompute(self) -> None:
        """Rebuild the running totals exactly from the per-symbol book (O(symbols))."""
        self._mv = math.fsum(r[_Q] * r[_MARK] for r in self._book.values())
        self._basis = math.fsum(r[_Q] * r[_AVG] for r in self._book.values())
        self._ops = 0
        self._rebuild_at = max(4096, 8 * len(self._book))

    # -- views ------------------------------------------------------------------------

    @property
    def initial_cash(self) -> float:
        return self._initial_cash

    @property
    def cash(self) -> float:
        return self._cash

    @property
    def realized_pnl(self) -> float:
        """Closed-trade P&L less every commission paid."""
        return self._realized

    @property
    def market_value(self) -> float:
        """Sum of quantity * last price over open positions (shorts count negative)."""
        return self._mv

    @property
    def unrealized_pnl(self) -> float:
        """Sum of quantity * (last price - average cost) over open positions."""
        return self._mv - self._basis

    @property
    def total_value(self) -> float:
        """Cash plus market value."""
        return self._cash + self._mv

    @property
    def value(self) -> float:
        """Same as :attr:`total_value`."""
        return self.total_value

    @property
    def positions(self) -> dict[str, Position]:
        """Open positions by symbol (a fresh snapshot; O(symbols))."""
        return {s: self._snapshot(s, r) for s, r in self._book.items() if r[_Q] != 0.0}

    def position(self, symbol: str) -> Position | None:
        """The open position in ``symbol``, or None when flat."""
        rec = self._book.get(symbol)
        return None if rec is None or rec[_Q] == 0.0 else self._snapshot(symbol, rec)

    def last_price(self, symbol: str) -> float | None:
        """The latest mark of ``symbol`` (trade or tick), or None if never seen."""
        rec = self._book.get(symbol)
        return None if rec is None else rec[_MARK]

    @staticmethod
    def _snapshot(symbol: str, rec: list[float]) -> Position:
        return Position(symbol, rec[_Q], rec[_AVG], rec[_MARK], rec[_REAL])

    # -- state ------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """Plain values (msgpack-friendly): cash, realized P&L and the per-symbol book."""
        return {
            "type": type(self).__name__,
            "version": 1,
            "config": {"initial_cash": self._initial_cash},
            "state": {
                "cash": self._cash,
                "realized": self._realized,
                "book": {s: list(r) for s, r in self._book.items()},
            },
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore ``get_state()`` output (totals are rebuilt exactly)."""
        try:
            if state["type"] != type(self).__name__ or state["version"] != 1:
                raise StateError(f"not an {type(self).__name__} state")
            if float(state["config"]["initial_cash"]) != self._initial_cash:
                raise StateError("state was saved with a different initial_cash")
            body = state["state"]
            book = {str(s): [float(v) for v in r] for s, r in body["book"].items()}
            if any(len(r) != 4 for r in book.values()):
                raise StateError("malformed position book")
            cash, realized = float(body["cash"]), float(body["realized"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, StateError):
                raise
            raise StateError(f"malformed position tracker state: {exc!r}") from None
        self.reset()
        self._book, self._cash, self._realized = book, cash, realized
        self.recompute()

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IncrementalPositionTracker:
        """A tracker rebuilt from ``get_state()`` output."""
        try:
            initial = state["config"]["initial_cash"]
        except (KeyError, TypeError):
            raise StateError("not a position tracker state") from None
        tracker = cls(initial)
        tracker.set_state(state)
        return tracker
