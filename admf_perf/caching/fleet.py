"""The caches of a whole namespace on one Redis server, for tools that don't run the
code that made them: the CLI, the host agent, scripts.

Every Redis cache records itself (name, strategy, max_size, ttl) in ``ns:caches`` on
its first write; these functions open those caches by name and act on them with the
same scripts the caches use, so stats and metadata stay exact whoever acts.
"""

from __future__ import annotations

from dataclasses import dataclass

from admf_perf import codec
from admf_perf.caching.cache import Cache
from admf_perf.caching.manager import key_patterns_for
from admf_perf.caching.stats import CacheStats
from admf_perf.errors import ConfigurationError
from admf_perf.stores.redis_store import RedisBackend, registry_key


@dataclass(frozen=True)
class KnownCache:
    name: str
    strategy: str
    max_size: int | None
    ttl: float | None


def known_caches(backend: RedisBackend) -> dict[str, KnownCache]:
    """Every cache that has written to the namespace, by name."""
    raw = backend.call(backend.client.hgetall, registry_key(backend.namespace))
    found = {}
    for name, blob in raw.items():
        spec = codec.decode(blob)
        text = name.decode("utf-8", "surrogateescape")
        if isinstance(spec, dict):
            found[text] = KnownCache(text, spec["strategy"], spec["max_size"], spec["ttl"])
    return dict(sorted(found.items()))


def open_cache(backend: RedisBackend, name: str) -> Cache:
    """The cache ``name`` as its own code opened it; unknown names are an error."""
    known = known_caches(backend)
    if name not in known:
        hint = ", ".join(list(known)[:10]) or "none yet"
        raise ConfigurationError(
            f"no cache named {name!r} in namespace {backend.namespace!r} (known: {hint})"
        )
    spec = known[name]
    return Cache(
        name,
        max_size=spec.max_size or 1,
        strategy=spec.strategy,
        ttl=spec.ttl,
        backend=backend,
        single_flight=False,
    )


def caches_matching(backend: RedisBackend, pattern: str) -> dict[str, list[str]]:
    """For a glob over ``"<cache name>:<key>"``: each cache it can touch, and the key
    globs to apply to it."""
    out = {}
    for name in known_caches(backend):
        rests = key_patterns_for(pattern, name)
        if rests:
            out[name] = rests
    return out


def invalidate(backend: RedisBackend, pattern: str, *, dry_run: bool = False) -> dict[str, int]:
    """Remove (or with ``dry_run`` count) the entries matching ``pattern`` over
    ``"<cache name>:<key>"`` in every cache of the namespace; the count per cache."""
    counts = {}
    for name, rests in caches_matching(backend, pattern).items():
        cache = open_cache(backend, name)
        total = 0
        for rest in rests:
            if dry_run:
                total += cache.count(rest) if rest else int("" in cache)
            else:
                total += cache.invalidate(pattern=rest) if rest else cache.invalidate(key="")
        counts[name] = total
    return counts


def stats(backend: RedisBackend) -> dict[str, CacheStats]:
    """Fleet-wide stats of every cache of the namespace."""
    return {name: open_cache(backend, name).stats() for name in known_caches(backend)}
