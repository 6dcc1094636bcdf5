"""Errors of the incremental calculators, all rooted at :class:`AdmfPerfError`.

Bad constructor arguments raise :class:`~admf_perf.errors.ConfigurationError`; the classes
here name bad *data*: values that are not numbers, timestamps that go back in time, and
saved states that do not belong to the calculator they are loaded into.
"""

from __future__ import annotations

from admf_perf.errors import AdmfPerfError


class InvalidInputError(AdmfPerfError, ValueError):
    """A value fed to a calculator cannot be used (for example a NaN return or price)."""


class NonNumericInputError(InvalidInputError, TypeError):
    """A value or array is not numeric (strings, booleans, objects, datetimes)."""


class OutOfOrderError(InvalidInputError):
    """A timestamp is older than the last one the calculator has seen."""


class StateError(AdmfPerfError, ValueError):
    """A saved state is malformed or belongs to another calculator or configuration."""
