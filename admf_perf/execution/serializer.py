"""What crosses Redis between client and workers, and what a worker agrees to run.

- :class:`CodecSerializer` is the RQ serializer (``dumps``/``loads``) of every job,
  meta and record the executor writes: the project's msgpack codec, never pickle, so a
  payload written into Redis by someone else cannot run code when it is read.
- :func:`function_path` turns a function into the import path workers load it from,
  and refuses, at submit time, functions no worker could import (lambdas, nested
  functions, functions of ``__main__``).
- :class:`Allowlist` is the worker's side: a job runs only if its function lives in an
  allowed module, so a job naming ``os.remove`` written straight into Redis is refused.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from typing import Any

from admf_perf.execution.errors import ForbiddenFunctionError, UnimportableFunctionError

ALLOW_ENV = "ADMF_WORKER_ALLOW"
"""Comma-separated module prefixes a worker may run functions from (added to ``--allow``)."""

RUNNER_PATH = "admf_perf.execution.runner.run_chunk"
"""The one function every chunk job names; always allowed."""


class CodecSerializer:
    """RQ serializer over :mod:`admf_perf.codec` (msgpack): no pickle in job payloads.

    Everything the executor sends through Redis goes through here; the codec is imported
    on first use, so local pools work without it.
    """

    @staticmethod
    def dumps(obj: Any) -> bytes:
        from admf_perf import codec

        return codec.encode(obj)

    @staticmethod
    def loads(data: bytes) -> Any:
        from admf_perf import codec

        return codec.decode(data)


def function_path(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of ``fn``, checked to be importable by a worker.

    Raises :class:`UnimportableFunctionError` naming the function for lambdas, nested
    functions, functions of ``__main__``, bound methods and callables without a name.
    """
    if isinstance(fn, str):
        return fn
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    module = getattr(fn, "__module__", None)
    label = f"{module}.{name}" if module and name else repr(fn)
    if not callable(fn) or not name or not module:
        raise UnimportableFunctionError(
            f"{label} cannot run on workers: pass a module-level function, not {type(fn).__name__}"
        )
    if name == "<lambda>" or name.endswith(".<lambda>"):
        raise UnimportableFunctionError(
            f"{label} is a lambda: workers import functions by path, define it with def in a module"
        )
    if "<locals>" in name:
        raise UnimportableFunctionError(
            f"{label} is defined inside another function: move it to module level"
        )
    if module == "__main__":
        raise UnimportableFunctionError(
            f"{label} is defined in __main__, which workers cannot import: move it into a module"
        )
    if getattr(fn, "__self__", None) is not None and not isinstance(fn.__self__, type):  # type: ignore[attr-defined]
        raise UnimportableFunctionError(
            f"{label} is a bound method: pass a module-level function (or a staticmethod)"
        )
    path = f"{module}.{name}"
    try:
        found = _resolve(module, name)
    except (ImportError, AttributeError):
        found = None
    if not (found is fn or found == fn or getattr(found, "__wrapped__", None) is fn):
        raise UnimportableFunctionError(
            f"{label} is not reachable at its import path {path}: define it at module level"
        )
    return path


def _resolve(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def split_path(path: str) -> tuple[str, str]:
    """``(module, qualname)`` of an import path: the longest prefix that is a module."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:cut])
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return module, ".".join(parts[cut:])
    raise ImportError(f"no importable module in {path!r}")


class Allowlist:
    """Module prefixes a worker runs functions from.

    ``prefixes`` are module names; a function is allowed when its module equals one or
    lives under it (``tests`` allows ``tests.tasks``, not ``testsuite``), and the object
    found at the path really is defined there (``pkg.mod.os.system`` is refused because
    ``system`` lives in ``posix``). The chunk runner is always allowed.
    """

    def __init__(self, prefixes: Iterable[str] = ()) -> None:
        cleaned = {p.strip().rstrip(".") for p in prefixes if p and p.strip()}
        self.prefixes: tuple[str, ...] = tuple(sorted(cleaned))
        self._cache: dict[str, Callable[..., Any]] = {}

    @classmethod
    def from_env(
        cls, extra: Iterable[str] = (), environ: dict[str, str] | None = None
    ) -> Allowlist:
        """Prefixes from ``ADMF_WORKER_ALLOW`` plus ``extra``."""
        env = os.environ if environ is None else environ
        return cls([*env.get(ALLOW_ENV, "").split(","), *extra])

    def module_allowed(self, module: str) -> bool:
        return any(module == p or module.startswith(p + ".") for p in self.prefixes)

    def check(self, path: str) -> None:
        """Raise :class:`ForbiddenFunctionError` unless ``path`` may run here."""
        if path == RUNNER_PATH:
            return
        module = path.rsplit(".", 1)[0] if "." in path else path
        if not self.module_allowed(module):
            allowed = ", ".join(self.prefixes) or "none"
            raise ForbiddenFunctionError(
                f"refused to run {path}: its module is not allowed on this worker (allowed: {allowed}); "
                "workers run only modules given with --import or --allow"
            )

    def resolve(self, path: str) -> Callable[..., Any]:
        """The function at ``path``, after :meth:`check` and a check it is defined there."""
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        self.check(path)
        try:
            module, qualname = split_path(path)
            fn = _resolve(module, qualname)
        except (ImportError, AttributeError) as exc:
            raise ForbiddenFunctionError(f"cannot import {path} on this worker: {exc}") from None
        if not callable(fn):
            raise ForbiddenFunctionError(f"refused to run {path}: not a callable")
        real = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"
        if real != path or (path != RUNNER_PATH and not self.module_allowed(module)):
            raise ForbiddenFunctionError(
                f"refused to run {path}: it resolves to {real}, defined outside the allowed modules"
            )
        self._cache[path] = fn
        return fn
