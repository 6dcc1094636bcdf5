"""The caching API: ``@cached``, ``Cache``, keys, entries, strategies, stats, manager."""

from admf_perf.caching.cache import Cache
from admf_perf.caching.decorator import cached
from admf_perf.caching.entry import CacheEntry
from admf_perf.caching.keys import CacheKey
from admf_perf.caching.manager import CacheManager
from admf_perf.caching.stats import CacheStats
from admf_perf.caching.strategy import CacheStrategy

__all__ = [
    "Cache",
    "CacheEntry",
    "CacheKey",
    "CacheManager",
    "CacheStats",
    "CacheStrategy",
    "cached",
]
