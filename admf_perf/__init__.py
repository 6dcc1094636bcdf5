"""admf-perf: the shared cache and parallel executor of a trading research system.

Public names live here; see the README for a tour. Everything else is internal.
"""

from admf_perf.caching import (
    Cache,
    CacheEntry,
    CacheKey,
    CacheManager,
    CacheStats,
    CacheStrategy,
    cached,
)
from admf_perf.config import Settings, configure, get_settings
from admf_perf.errors import (
    AdmfPerfError,
    BackendUnavailableError,
    CodecError,
    ConfigurationError,
    KeyGenerationError,
    ServerStartError,
    TaskError,
)
from admf_perf.server import EmbeddedServer

__all__ = [
    "AdmfPerfError",
    "BackendUnavailableError",
    "Cache",
    "CacheEntry",
    "CacheKey",
    "CacheManager",
    "CacheStats",
    "CacheStrategy",
    "CodecError",
    "ConfigurationError",
    "EmbeddedServer",
    "KeyGenerationError",
    "ServerStartError",
    "Settings",
    "TaskError",
    "cached",
    "configure",
    "get_settings",
]
