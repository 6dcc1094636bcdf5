"""Lua scripts as objects: read from their ``.lua`` files once, run with ``EVALSHA``,
reloaded and retried once on ``NOSCRIPT`` (after a restart or ``SCRIPT FLUSH``).

Every script starts with a ``#!lua flags=...`` line (Redis 7+): a full server refuses
a write script before it runs. Redis 6.2 doesn't know that line and refuses to compile
it; a client that meets such a server once runs the same scripts without the line (a
Lua comment keeps the line numbers), and a write refused there for memory is raised as
the ``OutOfMemoryError`` Redis 7 would give.
"""

from __future__ import annotations

import functools
import hashlib
import weakref
from importlib import resources
from typing import Any

import redis

_LUA_PACKAGE = "admf_perf.stores.lua"


_STANDALONE = ("lock_",)
"""Scripts that don't work on a cache's keys, so don't get the cache library."""

_UNFLAGGED: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
"""Clients whose server has no script flags (Redis < 7)."""


@functools.cache
def _source(name: str) -> str:
    """The cache script ``name``, with ``_lib.lua`` inserted after its shebang."""
    text = resources.files(_LUA_PACKAGE).joinpath(f"{name}.lua").read_text()
    if name.startswith(_STANDALONE):
        return text
    shebang, _, body = text.partition("\n")
    lib = resources.files(_LUA_PACKAGE).joinpath("_lib.lua").read_text()
    return f"{shebang}\n{lib}\n{body}"


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


class Script:
    """One Lua script; call it with a client, its keys and its arguments."""

    def __init__(self, name: str, source: str) -> None:
        shebang, _, body = source.partition("\n")
        if not shebang.startswith("#!lua"):
            raise RuntimeError(f"{name}.lua must start with a '#!lua' line declaring its flags")
        self.name = name
        self.source = source
        self.sha = _sha(source)
        self.unflagged_source = f"-- {shebang[2:]} (not understood before Redis 7)\n{body}"
        self.unflagged_sha = _sha(self.unflagged_source)

    def __call__(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        unflagged = bool(_UNFLAGGED) and _UNFLAGGED.get(client, False)  # empty on Redis 7+
        sha = self.unflagged_sha if unflagged else self.sha
        try:
            try:
                return client.evalsha(sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                sha = self._load(client)
                return client.evalsha(sha, len(keys), *keys, *args)
        except redis.exceptions.ResponseError as exc:
            text = str(exc)
            if "OOM command not allowed" in text and _UNFLAGGED.get(client, False):
                oom = text[text.index("OOM command not allowed") :].splitlines()[0]
                raise redis.exceptions.OutOfMemoryError(oom) from None
            raise

    def _load(self, client: Any) -> str:
        """Load the script for ``client``'s server; returns the SHA to call. Tried with
        flags first every time (after a failover the server may be a newer one)."""
        try:
            client.script_load(self.source)
        except redis.exceptions.ResponseError as exc:
            if "near '#'" not in str(exc):
                raise
            _UNFLAGGED[client] = True  # Redis < 7: no shebang, no flags
            client.script_load(self.unflagged_source)
            return self.unflagged_sha
        _UNFLAGGED.pop(client, None)
        return self.sha


@functools.cache
def script(name: str) -> Script:
    """The shared cache :class:`Script` ``name`` (one per process)."""
    return Script(name, _source(name))
