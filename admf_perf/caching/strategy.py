"""Eviction strategies, each defined once as an ordering that both stores follow.

Every live entry has a place in an eviction order; when a bounded cache is full, the
entry at the front goes. What moves an entry to the back is the whole definition:

============  ==========================  ==================================================
strategy      a write (new or overwrite)  a read (hit)
============  ==========================  ==================================================
LRU           moves it to the back        moves it to the back
TLRU          like LRU; every entry has a TTL and expired entries go before any live one
LFU           back of its frequency       count + 1, back of the next frequency; the order
              (new entries: count 0)      is (fewest reads, then least recent use)
FIFO          moves it to the back        nothing
UNBOUNDED     no size limit (TTL still applies)
============  ==========================  ==================================================

The memory store keeps this order in ordered dicts, the Redis store in a sorted set
whose score is a per-cache logical clock (LFU: the read count, ties ordered by the clock
in the member name). A logical clock instead of wall time keeps the order exact across
machines whose clocks disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from admf_perf.errors import ConfigurationError


class CacheStrategy(StrEnum):
    """How a full cache chooses what to evict; also accepted as a case-insensitive string."""

    LRU = "lru"
    LFU = "lfu"
    TLRU = "tlru"
    FIFO = "fifo"
    UNBOUNDED = "unbounded"

    @classmethod
    def parse(cls, value: CacheStrategy | str) -> CacheStrategy:
        """``value`` as a strategy, or a :class:`ConfigurationError` listing the choices."""
        if isinstance(value, CacheStrategy):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        choices = ", ".join(s.name for s in cls)
        raise ConfigurationError(f"strategy {value!r} is unknown: choose one of {choices}")

    @property
    def ordering(self) -> Ordering:
        return _ORDERINGS[self]


@dataclass(frozen=True)
class Ordering:
    """The one definition of a strategy that the memory store and the Lua scripts share."""

    touch_on_read: bool
    """A hit moves the entry to the back of the order."""
    by_frequency: bool
    """Order by read count first (LFU), recency second."""
    bounded: bool
    """``max_size`` is enforced by eviction."""
    requires_ttl: bool
    """The cache must have a TTL (TLRU)."""


_ORDERINGS = {
    CacheStrategy.LRU: Ordering(touch_on_read=True, by_frequency=False, bounded=True, requires_ttl=False),
    CacheStrategy.TLRU: Ordering(touch_on_read=True, by_frequency=False, bounded=True, requires_ttl=True),
    CacheStrategy.LFU: Ordering(touch_on_read=True, by_frequency=True, bounded=True, requires_ttl=False),
    CacheStrategy.FIFO: Ordering(touch_on_read=False, by_frequency=False, bounded=True, requires_ttl=False),
    CacheStrategy.UNBOUNDED: Ordering(touch_on_read=False, by_frequency=False, bounded=False, requires_ttl=False),
}  # fmt: skip
