"""How a map's items are cut into chunks: fixed sizes, or guided sizes by default.

A chunk is the unit of transport (one pool submission, one RQ job), so fewer chunks
mean less overhead, and smaller chunks a shorter tail when workers finish unevenly.
:func:`guided` gets both: it hands out half of what is left divided by the workers
(large chunks first, while every worker is busy anyway), then ever smaller ones down to
a floor of ``1/16`` of an even share per worker, so the last chunks are short and the
workers finish together. ``1000`` items on ``2`` workers make 11 chunks, from 250
items down to 32; 10,000 make 14, none over ``cap``.
"""

from __future__ import annotations

import math

MAX_CHUNK = 1000
"""Largest automatic chunk: bounds one job's payload and the work lost with a worker."""
FINEST = 16
"""The smallest automatic chunk is an even share per worker divided by this."""


def fixed(count: int, size: int) -> list[range]:
    """Consecutive chunks of ``size`` items (the last one shorter)."""
    return [range(start, min(count, start + size)) for start in range(0, count, size)]


def guided(count: int, workers: int, cap: int = MAX_CHUNK) -> list[range]:
    """Decreasing chunk sizes for ``workers`` workers; see the module doc."""
    workers = max(1, workers)
    floor = max(1, math.ceil(count / (FINEST * workers)))
    chunks: list[range] = []
    start = 0
    while start < count:
        left = count - start
        size = min(cap, left, max(floor, math.ceil(left / (2 * workers))))
        if left - size < floor and left <= cap:
            size = left  # no runt chunk at the end
        chunks.append(range(start, start + size))
        start += size
    return chunks
