"""Where cache entries live: ``MemoryBackend`` (this process) or ``RedisBackend`` (shared).

``resolve_backend`` turns the ``backend=`` argument of a cache into a backend:
an explicit object > ``"memory"`` > a Redis URL > ``configure(redis_url=...)`` /
``ADMF_REDIS_URL`` > memory.
"""

from __future__ import annotations

import threading

from admf_perf.config import Settings, validate_redis_url
from admf_perf.errors import ConfigurationError
from admf_perf.stores.base import MISSING, Backend, CacheSpec, Store
from admf_perf.stores.memory import MemoryBackend, MemoryStore
from admf_perf.stores.redis_store import RedisBackend, RedisStore

__all__ = [
    "MISSING",
    "Backend",
    "CacheSpec",
    "MemoryBackend",
    "MemoryStore",
    "RedisBackend",
    "RedisStore",
    "Store",
    "resolve_backend",
]

_MEMORY = MemoryBackend()
_redis_backends: dict[tuple[str, Settings], RedisBackend] = {}
_lock = threading.Lock()


def resolve_backend(backend: object, settings: Settings) -> Backend:
    """The backend a cache uses, by the order of precedence in the module doc."""
    if backend is None:
        if settings.redis_url is None:
            return _MEMORY
        backend = settings.redis_url
    if isinstance(backend, str):
        if backend == "memory":
            return _MEMORY
        url = validate_redis_url(backend, setting="backend")
        with _lock:
            key = (url, settings)  # new settings (a signing key, a namespace): new backend
            if key not in _redis_backends:
                _redis_backends[key] = RedisBackend(url, settings=settings)
            return _redis_backends[key]
    if isinstance(backend, Backend):
        return backend
    raise ConfigurationError(
        f"backend {backend!r} is not 'memory', a redis://, rediss://, unix:// or "
        "redis+sentinel:// URL, or a backend object"
    )
