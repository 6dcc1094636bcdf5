"""``@cached``: memoize a function or method in a :class:`Cache` (memory or Redis)."""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
import random
import time
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar, overload

from admf_perf.caching.cache import Cache
from admf_perf.caching.keys import CacheKey, check_key_text
from admf_perf.caching.manager import CacheManager
from admf_perf.caching.strategy import CacheStrategy
from admf_perf.errors import ConfigurationError
from admf_perf.stores import MISSING

P = ParamSpec("P")
R = TypeVar("R")
KeyMaker = Callable[..., Any]


class CachedFunction(Protocol[P, R]):
    """What ``@cached`` returns: the function, plus its :class:`Cache` as ``.cache``."""

    cache: Cache
    __wrapped__: Callable[P, R]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...


@overload
def cached(fn: Callable[P, R], /) -> CachedFunction[P, R]: ...


@overload
def cached(
    max_size: int = 128,
    strategy: CacheStrategy | str = CacheStrategy.LRU,
    ttl: float | None = None,
    key_maker: KeyMaker | None = None,
    *,
    name: str | None = None,
    backend: object = None,
    include_self: bool = True,
    local_size: int = 0,
    single_flight: bool = True,
    lease: float = 30.0,
    version: str | None = None,
    shards: int = 1,
    early_refresh: float = 0.0,
) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...


def cached(
    max_size: Any = 128,
    strategy: CacheStrategy | str = CacheStrategy.LRU,
    ttl: float | None = None,
    key_maker: KeyMaker | None = None,
    *,
    name: str | None = None,
    backend: object = None,
    include_self: bool = True,
    local_size: int = 0,
    single_flight: bool = True,
    lease: float = 30.0,
    version: str | None = None,
    shards: int = 1,
    early_refresh: float = 0.0,
) -> Any:
    """Cache a function's results; the wrapper's ``.cache`` is its :class:`Cache`.

    ``key_maker(*args, **kwargs)`` replaces the default key (:meth:`CacheKey.generate_key`);
    ``include_self=False`` leaves a method's ``self`` out of the key. ``name`` defaults to
    ``module.qualname``. ``version`` defaults to a fingerprint of the function's source,
    so results of an edited function are not reused; pin it (``version="v3"``) to keep
    entries across edits. ``local_size``, ``single_flight``, ``lease`` and ``shards``: see
    :class:`Cache`. ``early_refresh`` (beta of "XFetch", Vattani et al. 2015; 1.0 is the
    usual choice, 0 turns it off) lets one caller recompute a hot TTL entry shortly before
    it expires, with a probability that grows as expiry nears and with the compute time,
    so readers never all miss at once. Usable bare (``@cached``) or with arguments (``@cached(ttl=60)``).
    While the :class:`CacheManager` is disabled the function just computes.
    """
    options = {
        "strategy": strategy,
        "ttl": ttl,
        "backend": backend,
        "local_size": local_size,
        "single_flight": single_flight,
        "lease": lease,
        "shards": shards,
    }
    if not isinstance(early_refresh, int | float) or early_refresh < 0:
        raise ConfigurationError(f"early_refresh must be >= 0, got {early_refresh!r}")
    if callable(max_size) and not isinstance(max_size, int):
        return _decorate(max_size, 128, options, key_maker, name, include_self, version, 0.0)
    if key_maker is not None and not callable(key_maker):
        raise ConfigurationError(f"key_maker must be callable, got {key_maker!r}")

    def decorator(fn: Callable[P, R]) -> CachedFunction[P, R]:
        return _decorate(
            fn, max_size, options, key_maker, name, include_self, version, float(early_refresh)
        )

    return decorator


def _decorate(
    fn: Callable[P, R],
    max_size: int,
    options: dict[str, Any],
    key_maker: KeyMaker | None,
    name: str | None,
    include_self: bool,
    version: str | None,
    early_refresh: float,
) -> CachedFunction[P, R]:
    if not callable(fn):
        raise ConfigurationError(f"@cached decorates functions, got {fn!r}")
    cache = Cache(
        name or f"{fn.__module__}.{fn.__qualname__}",
        max_size=max_size,
        version=code_fingerprint(fn) if version is None else version,
        **options,
    )
    manager = CacheManager.get_instance()
    make_key = _key_function(key_maker, include_self)

    def compute_and_store(
        store: Any, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        flight = getattr(store, "flight", None)
        if flight is not None and cache.single_flight:
            return flight.run(key, lambda: fn(*args, **kwargs))
        start = time.perf_counter()
        value = fn(*args, **kwargs)
        store.set(key, value, compute_time=time.perf_counter() - start)
        return value

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not manager.enabled:
            return fn(*args, **kwargs)
        key = make_key(args, kwargs)
        store = cache.store
        if early_refresh and hasattr(store, "lookup"):
            return _with_early_refresh(store, key, args, kwargs)
        value = store.get(key)
        if value is not MISSING:
            return value
        return compute_and_store(store, key, args, kwargs)

    def _with_early_refresh(
        store: Any, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        found = store.lookup(key)
        if found is None:
            return compute_and_store(store, key, args, kwargs)
        value, expires_in, compute_time = found
        if expires_in is None or not should_refresh_early(expires_in, compute_time, early_refresh):
            return value
        flight = getattr(store, "flight", None)
        if flight is None:
            return compute_and_store(store, key, args, kwargs)
        fresh = flight.refresh(key, lambda: fn(*args, **kwargs))
        return value if fresh is MISSING else fresh

    wrapper.cache = cache  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _key_function(
    key_maker: KeyMaker | None, include_self: bool
) -> Callable[[tuple[Any, ...], dict[str, Any]], str]:
    if key_maker is not None:

        def custom(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
            key = key_maker(*args, **kwargs)
            return check_key_text(key) if isinstance(key, str) else CacheKey.token(key)

        return custom
    generate = CacheKey.generate_key
    if not include_self:
        return lambda args, kwargs: generate(args, kwargs, False)
    # Calls whose arguments are all immutable scalars (the common case: symbols, windows,
    # flags) reuse their key text from a small typed memo, keyed in C by lru_cache. The
    # type checks are unrolled for up to three arguments: this is the hot path of a hit.
    memo = functools.lru_cache(maxsize=4096, typed=True)(lambda *args: generate(args))
    safe = _MEMO_SAFE

    def make_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if not kwargs:
            n = len(args)
            if n == 2:
                if type(args[0]) in safe and type(args[1]) in safe:
                    return memo(*args)
            elif n == 1:
                if type(args[0]) in safe:
                    return memo(*args)
            elif n == 3:
                if type(args[0]) in safe and type(args[1]) in safe and type(args[2]) in safe:
                    return memo(*args)
            elif safe.issuperset(map(type, args)):
                return memo(*args)
        return generate(args, kwargs)

    return make_key


_MEMO_SAFE = frozenset({int, str, float, bool, type(None)})
"""Types whose key text depends only on value and type (immutable, hashed by value)."""


def code_fingerprint(fn: Callable[..., Any]) -> str:
    """A short digest of ``fn``'s source (its bytecode and constants if the source is
    not available), the same on every machine for the same code."""
    target = inspect.unwrap(fn)
    try:
        text = inspect.getsource(target).encode()
    except (OSError, TypeError):
        code = getattr(target, "__code__", None)
        if code is None:
            return ""
        text = code.co_code + repr(code.co_names).encode()
    return hashlib.blake2b(text, digest_size=6).hexdigest()


def should_refresh_early(expires_in: float, compute_time: float, beta: float) -> bool:
    """XFetch: refresh when ``compute_time * beta * -ln(U)`` reaches the time left."""
    return compute_time * beta * -math.log(1.0 - random.random()) >= expires_in
