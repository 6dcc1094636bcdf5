"""The incremental-calculation framework: decide, once for every calculator, between
appending new data and recomputing from scratch, and save/restore state.

``IncrementalCalculator.calculate`` asks ``_can_update_incrementally``; a yes runs
``_update_incrementally``, a no runs ``_calculate_full`` (the seed design's contract).

``ArrayCalculator`` implements that decision for calculators fed one float per bar, either
one bar at a time (``update``) or as arrays (``calculate``). It remembers what
``calculate`` last saw: the length, the bits of the last value, and the xxh3-64 digest of
the raw float64 bytes. A new array that is at least as long, ends the seen prefix with the
same bits, and hashes the prefix to the same digest is an append: only the tail is
processed, from a snapshot of the kernel taken after the last ``calculate``. Anything else
(a changed value anywhere, a shorter array) recomputes fully. Hashing runs at memory speed
(well under a millisecond per million bars, about 1 % of a vectorized recompute), so a
change deep in the history is never missed; the comparison is bitwise, so a different NaN
payload or ``-0.0`` counts as a change (a needless recompute, never a wrong answer).

``update`` never pays for this bookkeeping: bars fed through ``update`` after a
``calculate`` are simply replayed when the next ``calculate`` appends (``calculate(values)``
means "the data is ``values``").

``SeriesCalculator`` adds the per-bar output history ``calculate`` returns.

Calculators are not thread-safe: give each thread (or guard each with a lock) its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeVar

import numpy as np

from admf_perf.incremental._inputs import (
    NAN,
    Timestamp,
    as_float_array,
    check_after,
    digest,
    hasher,
    last_bits,
    timestamps_array,
)
from admf_perf.incremental.errors import StateError

STATE_VERSION = 1

C = TypeVar("C", bound="IncrementalCalculator")

_REGISTRY: dict[str, type[IncrementalCalculator]] = {}


class IncrementalCalculator(ABC):
    """Base of every calculator: ``calculate`` picks an incremental update or a full run.

    Subclasses implement ``_can_update_incrementally``, ``_update_incrementally``,
    ``_calculate_full``, ``reset``, ``value`` and the state hooks ``_config``, ``_state``
    and ``_load_state``. ``get_state()`` returns plain values (dicts, lists, floats, ints,
    strings, numpy arrays) that msgpack can carry, so a calculator can be cached on one
    machine and resumed with ``from_state`` on another.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def __init__(self) -> None:
        self._runs = {"full": 0, "incremental": 0}

    def calculate(self, *args: Any, **kwargs: Any) -> Any:
        """Update incrementally when possible, otherwise calculate from scratch."""
        if self._can_update_incrementally(*args, **kwargs):
            self._runs["incremental"] += 1
            return self._update_incrementally(*args, **kwargs)
        self._runs["full"] += 1
        return self._calculate_full(*args, **kwargs)

    @property
    def calculation_counts(self) -> dict[str, int]:
        """How many ``calculate`` calls ran in full and how many incrementally."""
        return dict(self._runs)

    @abstractmethod
    def _can_update_incrementally(self, *args: Any, **kwargs: Any) -> bool:
        """Whether the arguments extend what this calculator has already seen."""

    @abstractmethod
    def _update_incrementally(self, *args: Any, **kwargs: Any) -> Any:
        """Process only what is new since the last calculation."""

    @abstractmethod
    def _calculate_full(self, *args: Any, **kwargs: Any) -> Any:
        """Forget everything and calculate from the arguments alone."""

    @abstractmethod
    def reset(self) -> None:
        """Clear all state, as if just constructed."""

    @property
    @abstractmethod
    def value(self) -> Any:
        """The current (latest) result."""

    # -- state ------------------------------------------------------------------------

    @abstractmethod
    def _config(self) -> dict[str, Any]:
        """Constructor keyword arguments that rebuild an equivalent empty calculator."""

    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """Everything else, as plain values."""

    @abstractmethod
    def _load_state(self, state: dict[str, Any]) -> None:
        """Restore what ``_state`` returned (possibly after a msgpack round trip)."""

    def get_state(self) -> dict[str, Any]:
        """A msgpack-friendly snapshot: ``{"type", "version", "config", "state"}``."""
        return {
            "type": type(self).__name__,
            "version": STATE_VERSION,
            "config": self._config(),
            "state": self._state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from ``get_state`` of a calculator of the same type and config."""
        _check_envelope(state)
        if state["type"] != type(self).__name__:
            raise StateError(f"state is for a {state['type']}, not a {type(self).__name__}")
        if _plain(state["config"]) != _plain(self._config()):
            raise StateError(
                f"state was saved with config {state['config']!r}, "
                f"this calculator has {self._config()!r}"
            )
        try:
            self._load_state(state["state"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            self.reset()
            raise StateError(f"malformed {type(self).__name__} state: {exc!r}") from None

    @classmethod
    def from_state(cls: type[C], state: dict[str, Any]) -> C:
        """Build a calculator from a snapshot; on the base class, the type comes from the state."""
        _check_envelope(state)
        target: type[IncrementalCalculator] = cls
        if cls is IncrementalCalculator or state["type"] != cls.__name__:
            found = _REGISTRY.get(state["type"])
            if found is None or not issubclass(found, cls):
                raise StateError(f"state is for a {state['type']!r}, not a {cls.__name__}")
            target = found
        config = state["config"]
        if not isinstance(config, dict):
            raise StateError("state config must be a dict")
        calc = target(**config)
        calc.set_state(state)
        return calc  # type: ignore[return-value]


def _check_envelope(state: object) -> None:
    if not isinstance(state, dict) or not {"type", "version", "config", "state"} <= set(state):
        raise StateError("not a calculator state: expected keys type, version, config, state")
    if state["version"] != STATE_VERSION:
        raise StateError(f"unsupported state version {state['version']!r}")


def _plain(value: Any) -> Any:
    """Tuples as lists, so configs compare equal after a msgpack round trip."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class ArrayCalculator(IncrementalCalculator):
    """A calculator fed one float per bar: ``update(x)`` or ``calculate(array)``.

    Subclasses provide the kernel: ``update`` (one bar, O(1)), ``_consume`` (a chunk of
    bars, vectorized), ``_reset_kernel``, ``_kernel_state``/``_restore_kernel`` (plain
    values, small), and ``_result`` (what ``calculate`` returns).
    """

    #: tails shorter than this are replayed bar by bar through ``update``
    loop_threshold: ClassVar[int] = 64

    def __init__(self) -> None:
        super().__init__()
        self._last_ts: Timestamp | None = None
        self._seen_len = 0
        self._seen_digest: int | None = None
        self._seen_last = 0
        self._seen_kernel: dict[str, Any] | None = None
        self._prefix_hash: tuple[int, Any] | None = None  # (length, hasher) of a matched prefix
        self._reset_kernel()

    # -- kernel hooks -------------------------------------------------------------------

    @abstractmethod
    def update(self, value: object, timestamp: object = None) -> Any:
        """Process one new bar and return the current value."""

    @abstractmethod
    def _reset_kernel(self) -> None:
        """Empty the kernel (the per-bar state)."""

    @abstractmethod
    def _kernel_state(self) -> dict[str, Any]:
        """The kernel as plain values, enough to continue exactly (and to restore ``value``)."""

    @abstractmethod
    def _restore_kernel(self, state: dict[str, Any]) -> None:
        """Load a ``_kernel_state`` dict."""

    @abstractmethod
    def _consume(self, chunk: np.ndarray) -> None:
        """Advance the kernel over ``chunk`` (recording any per-bar results)."""

    @abstractmethod
    def _result(self) -> Any:
        """What ``calculate`` returns once the data is consumed."""

    def _clear_results(self) -> None:
        """Forget per-bar results kept for ``calculate`` (none by default)."""

    def _results_state(self) -> dict[str, Any]:
        return {}

    def _load_results(self, state: dict[str, Any]) -> None:
        """Restore what ``_results_state`` returned."""

    # -- the shared append-vs-recompute logic ------------------------------------------

    def calculate(self, values: object, timestamps: object = None) -> Any:
        """The result for ``values``; appends when ``values`` extends the data seen last.

        ``timestamps`` (optional, one per value, never decreasing) set the last timestamp
        that later ``update(value, timestamp)`` calls must not go behind.
        """
        arr = as_float_array(values)
        ts = None if timestamps is None else timestamps_array(timestamps, arr.shape[0])
        result = super().calculate(arr)
        self._last_ts = ts[-1].item() if ts is not None and ts.shape[0] else None
        return result

    def _can_update_incrementally(self, arr: np.ndarray) -> bool:
        n0 = self._seen_len
        self._prefix_hash = None
        if self._seen_digest is None or arr.shape[0] < n0 or last_bits(arr[:n0]) != self._seen_last:
            return False
        h = hasher(arr[:n0])
        if h.intdigest() != self._seen_digest:
            return False
        self._prefix_hash = (n0, h)  # extended by the tail in _remember: one pass in all
        return True

    def _update_incrementally(self, arr: np.ndarray) -> Any:
        assert self._seen_kernel is not None
        self._restore_kernel(self._seen_kernel)
        self._run(arr[self._seen_len :])
        self._remember(arr)
        return self._result()

    def _calculate_full(self, arr: np.ndarray) -> Any:
        self._prefix_hash = None
        self._seen_digest = None  # until this run completes, nothing is appendable
        self._reset_kernel()
        self._clear_results()
        self._run(arr)
        self._remember(arr)
        return self._result()

    def _run(self, chunk: np.ndarray) -> None:
        if chunk.shape[0]:
            self._consume(chunk)

    def _remember(self, arr: np.ndarray) -> None:
        pending, self._prefix_hash = self._prefix_hash, None
        if pending is not None and pending[0] == self._seen_len:
            h = pending[1]
            h.update(arr[pending[0] :].data)
            self._seen_digest = h.intdigest()
        else:
            self._seen_digest = digest(arr)
        self._seen_len = arr.shape[0]
        self._seen_last = last_bits(arr)
        self._seen_kernel = self._kernel_state()

    def _advance_time(self, timestamp: object) -> None:
        self._last_ts = check_after(timestamp, self._last_ts)

    @property
    def last_timestamp(self) -> Timestamp | None:
        """The newest timestamp seen (numbers as given, datetimes as int ns), or None."""
        return self._last_ts

    def reset(self) -> None:
        self._reset_kernel()
        self._clear_results()
        self._last_ts = None
        self._seen_len = 0
        self._seen_digest = None
        self._seen_last = 0
        self._seen_kernel = None
        self._prefix_hash = None

    # -- state ------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        seen = None
        if self._seen_digest is not None:
            seen = {
                "length": self._seen_len,
                "digest": self._seen_digest,
                "last_bits": self._seen_last,
                "kernel": self._seen_kernel,
                **self._results_state(),
            }
        return {"kernel": self._kernel_state(), "last_timestamp": self._last_ts, "seen": seen}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.reset()
        self._restore_kernel(state["kernel"])
        ts = state["last_timestamp"]
        self._last_ts = None if ts is None else check_after(ts, None)
        seen = state["seen"]
        if seen is not None:
            self._load_results(seen)
            self._seen_len = int(seen["length"])
            self._seen_digest = int(seen["digest"])
            self._seen_last = int(seen["last_bits"])
            self._seen_kernel = dict(seen["kernel"])


class SeriesCalculator(ArrayCalculator):
    """An indicator: ``calculate(values)`` returns one output per bar (NaN in warm-up).

    Outputs are kept in a growing buffer (amortized doubling), so an append only computes
    the tail; ``calculate`` returns a read-only view of it (copy it to modify).
    """

    #: trailing output dimensions: () for one float per bar, (3,) for Bollinger bands
    output_shape: ClassVar[tuple[int, ...]] = ()

    def __init__(self) -> None:
        self._out = np.empty((0, *self.output_shape))
        self._out_len = 0
        super().__init__()

    @abstractmethod
    def _batch(self, chunk: np.ndarray) -> np.ndarray:
        """Vectorized: outputs for ``chunk`` continuing from the kernel, kernel advanced."""

    def _consume(self, chunk: np.ndarray) -> None:
        if chunk.shape[0] < self.loop_threshold:
            upd = self.update
            out = np.array([upd(x) for x in chunk.tolist()], dtype=np.float64)
        else:
            out = self._batch(chunk)
        self._append(out.reshape(-1, *self.output_shape))

    def _append(self, out: np.ndarray) -> None:
        if not self._out_len and out.flags.c_contiguous and out.dtype == np.float64:
            self._out = out  # a fresh result array becomes the buffer: no copy
            self._out_len = out.shape[0]
            return
        need = self._out_len + out.shape[0]
        if need > self._out.shape[0]:
            grown = np.empty((max(need, 2 * self._out.shape[0], 64), *self.output_shape))
            grown[: self._out_len] = self._out[: self._out_len]
            self._out = grown
        self._out[self._out_len : need] = out
        self._out_len = need

    def _result(self) -> np.ndarray:
        view = self._out[: self._out_len]
        view.flags.writeable = False
        return view

    def _clear_results(self) -> None:
        self._out = np.empty((0, *self.output_shape))
        self._out_len = 0

    def _results_state(self) -> dict[str, Any]:
        return {"outputs": self._out[: self._out_len].copy()}

    def _load_results(self, state: dict[str, Any]) -> None:
        out = np.asarray(state["outputs"], dtype=np.float64).reshape(-1, *self.output_shape)
        if out.shape[0] != int(state["length"]):
            raise ValueError("outputs length does not match the seen length")
        self._clear_results()
        self._append(out)


def nan_value(shape: tuple[int, ...]) -> Any:
    """The warm-up value: NaN, or a tuple of NaNs for multi-output indicators."""
    return NAN if not shape else tuple([NAN] * shape[0])
