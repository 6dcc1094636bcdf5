"""Lua scripts as objects: read from their ``.lua`` files once, run with ``EVALSHA``,
reloaded and retried once on ``NOSCRIPT`` (after a restart or ``SCRIPT FLUSH``)."""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from typing import Any

import redis

_LUA_PACKAGE = "admf_perf.stores.lua"


_STANDALONE = ("lock_",)
"""Scripts that don't work on a cache's keys, so don't get the cache library."""


@functools.cache
def _source(name: str) -> str:
    """The script ``name``; cache scripts get ``_lib.lua`` inserted after their shebang."""
    text = resources.files(_LUA_PACKAGE).joinpath(f"{name}.lua").read_text()
    shebang, _, body = text.partition("\n")
    if not shebang.startswith("#!lua"):
        raise RuntimeError(f"{name}.lua must start with a '#!lua' line declaring its flags")
    if name.startswith(_STANDALONE):
        return text
    lib = resources.files(_LUA_PACKAGE).joinpath("_lib.lua").read_text()
    return f"{shebang}\n{lib}\n{body}"


class Script:
    """One Lua script; call it with a client, its keys and its arguments."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.source = _source(name)
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()

    def __call__(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            client.script_load(self.source)
            return client.evalsha(self.sha, len(keys), *keys, *args)


@functools.cache
def script(name: str) -> Script:
    """The shared :class:`Script` object for ``name`` (one per process)."""
    return Script(name)
