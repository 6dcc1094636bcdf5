"""One error hierarchy for the whole library: catch ``AdmfPerfError`` to catch them all.

Every message is one line that says what went wrong and, where it helps, what to do.
"""

from __future__ import annotations


class AdmfPerfError(Exception):
    """Root of every error admf-perf raises on purpose."""


class ConfigurationError(AdmfPerfError, ValueError):
    """A setting or argument has a value that cannot work; the message names the setting."""


class BackendUnavailableError(AdmfPerfError, ConnectionError):
    """The Redis server (or another backend) cannot be reached or answered with an error."""


class ServerStartError(AdmfPerfError, RuntimeError):
    """The embedded Redis-compatible server could not be found or started."""


class CodecError(AdmfPerfError, ValueError):
    """A value cannot be encoded, or a payload read back cannot be decoded."""


class KeyGenerationError(AdmfPerfError, TypeError):
    """An argument of a cached call cannot be turned into a stable cache key."""


class TaskError(AdmfPerfError, RuntimeError):
    """A task run by the executor raised; carries the item and the remote traceback."""
