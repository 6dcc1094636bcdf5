"""TopNResults: keep only the best N results of a parameter sweep, not all of them.

A sweep of thousands of backtests rarely needs every equity curve; holding the top N in
a heap bounds memory at N results whatever the grid size. Among results of equal score
the one that arrived first wins. ``collect_garbage=True`` runs ``gc.collect()`` after
each result, for backtests that leave reference cycles behind.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import math
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from admf_perf.errors import ConfigurationError

T = TypeVar("T")


class TopNResults(Generic[T]):
    """The ``n`` results with the highest ``key(result)`` (lowest with ``maximize=False``).

    ``key`` returns a number; a NaN score counts as the worst possible.
    """

    def __init__(
        self,
        n: int,
        key: Callable[[T], float],
        *,
        maximize: bool = True,
        collect_garbage: bool = False,
    ) -> None:
        if not isinstance(n, int) or n < 1:
            raise ConfigurationError(f"n must be an int >= 1, got {n!r}")
        if not callable(key):
            raise ConfigurationError(f"key must be callable, got {key!r}")
        self.n = n
        self._key = key
        self._sign = 1.0 if maximize else -1.0
        self.collect_garbage = collect_garbage
        self._heap: list[tuple[float, int, T]] = []
        self._seq = itertools.count()
        self.seen = 0
        """Results offered so far, kept or not."""

    def _score(self, result: T) -> float:
        score = float(self._key(result))
        return -math.inf if math.isnan(score) else self._sign * score

    def add(self, result: T) -> bool:
        """Offer one result; ``True`` if it is (for now) among the best ``n``."""
        # Heap entries order by (score, -arrival): the root is the worst kept result,
        # and among equal scores the latest arrival, which is the one to drop first.
        entry = (self._score(result), -next(self._seq), result)
        self.seen += 1
        try:
            if len(self._heap) < self.n:
                heapq.heappush(self._heap, entry)
                return True
            if entry[:2] > self._heap[0][:2]:
                heapq.heapreplace(self._heap, entry)
                return True
            return False
        finally:
            if self.collect_garbage:
                gc.collect()

    def extend(self, results: Iterable[T]) -> None:
        """Offer each of ``results`` in turn."""
        for result in results:
            self.add(result)

    def results(self) -> list[T]:
        """The kept results, best first (ties in the order they were added)."""
        return [r for _, _, r in sorted(self._heap, key=lambda e: e[:2], reverse=True)]

    def __len__(self) -> int:
        return len(self._heap)
