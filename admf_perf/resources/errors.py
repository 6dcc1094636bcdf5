"""Errors specific to the resource managers, all rooted at :class:`AdmfPerfError`.

Bad arguments raise :class:`~admf_perf.errors.ConfigurationError`; the classes here name
the misuses and conditions that are not about a setting's value.
"""

from __future__ import annotations

from admf_perf.errors import AdmfPerfError


class PoolError(AdmfPerfError, ValueError):
    """An object was released to a pool that did not hand it out, or released twice."""


class OutOfOrderError(AdmfPerfError, ValueError):
    """A timestamp older than the last one was appended to a :class:`TimeSeriesArray`."""


class MissingDependencyError(AdmfPerfError, ImportError):
    """An optional package a feature needs is not installed; the message names it."""


class ResourceClosedError(AdmfPerfError, RuntimeError):
    """The manager was shut down; get a new one with ``get_instance()``."""
