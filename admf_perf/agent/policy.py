"""The pressure policy: when the agent acts, and what it invalidates, in which order.

A policy comes from a TOML file (``admf-perf agent --config agent.toml``) with flags on
top; every key is optional::

    interval = 5                        # seconds between samples
    memory_threshold = 0.90             # host memory used (1 - available/total), 0-1
    redis_memory_threshold = 0.90       # Redis used_memory against its limit, 0-1
    redis_budget = "2GB"                # the limit when set, else the server's maxmemory
    patterns = ["indicator:*:1m:*", "signal:*"]   # over "<cache name>:<key>", in order
    cooldown = 30                       # seconds before a pass that left pressure repeats
    release_wait = 1.0                  # seconds the host's processes get to release
    history = 720                       # samples kept per host in its stream
    metrics_port = 9108                 # Prometheus endpoint (absent: none)

Pressure is a measured value *above* its threshold: ``memory_threshold = 0.0`` means
always, ``1.0`` never. A threshold of ``none`` (flag) or leaving out the Redis limit
(no ``redis_budget`` and a server without ``maxmemory``) turns that trigger off.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from admf_perf.errors import ConfigurationError

_UNITS = {"": 1, "B": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?)B?\s*$", re.IGNORECASE)


def parse_bytes(value: object, *, setting: str = "redis_budget") -> int:
    """Bytes from an integer or a size like ``"512MB"``, ``"2GiB"``, ``"1.5G"``."""
    if isinstance(value, bool):
        raise ConfigurationError(f"{setting} must be a size in bytes, got {value!r}")
    if isinstance(value, int):
        number = value
    else:
        match = _SIZE_RE.match(str(value))
        if not match:
            raise ConfigurationError(
                f"{setting} must be bytes or a size like 512MB or 2GiB, got {value!r}"
            )
        digits, unit, binary = match.groups()
        unit = unit.upper()
        scale = 1024 ** ("KMGT".index(unit) + 1) if binary and unit else _UNITS[unit]
        number = int(float(digits) * scale)
    if number <= 0:
        raise ConfigurationError(f"{setting} must be positive, got {value!r}")
    return number


@dataclass(frozen=True)
class Policy:
    """What the agent does under pressure. Build with :func:`load_policy`."""

    interval: float = 5.0
    memory_threshold: float | None = 0.90
    redis_memory_threshold: float | None = 0.90
    redis_budget: int | None = None
    patterns: tuple[str, ...] = ()
    cooldown: float = 30.0
    release_wait: float = 1.0
    history: int = 720
    metrics_port: int | None = None

    def __post_init__(self) -> None:
        if not self.interval > 0:
            raise ConfigurationError(
                f"interval must be a positive number of seconds, got {self.interval!r}"
            )
        for name in ("memory_threshold", "redis_memory_threshold"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigurationError(f"{name} must be a fraction from 0 to 1, got {value!r}")
        for name in ("cooldown", "release_wait"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"{name} must be zero or more seconds")
        if self.history < 1:
            raise ConfigurationError(f"history must be at least 1 sample, got {self.history!r}")
        if any(not isinstance(p, str) or not p for p in self.patterns):
            raise ConfigurationError("patterns must be non-empty glob strings")
        if self.metrics_port is not None and not 0 <= self.metrics_port < 65536:
            raise ConfigurationError(f"metrics_port {self.metrics_port!r} is not a port")

    @property
    def lease_ttl(self) -> float:
        """Seconds the pressure lease lives without renewal: three intervals, at least 2 s."""
        return max(3 * self.interval, 2.0)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "patterns": list(self.patterns)}


_FIELDS = {f.name: f for f in dataclasses.fields(Policy)}
_NUMBERS = ("interval", "memory_threshold", "redis_memory_threshold", "cooldown", "release_wait")


def load_policy(path: str | Path | None = None, **overrides: Any) -> Policy:
    """The policy of the TOML file at ``path`` (if any) with ``overrides`` on top;
    an override of ``None`` leaves the file's value (flags not given)."""
    values: dict[str, Any] = {}
    if path is not None:
        values.update(_read(Path(path)))
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigurationError(
            f"unknown agent setting {unknown[0]!r}: known settings are {', '.join(_FIELDS)}"
        )
    return Policy(**{k: _convert(k, v) for k, v in values.items()})


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigurationError(f"cannot read agent config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"agent config {path} is not valid TOML: {exc}") from None


def _convert(name: str, value: Any) -> Any:
    if name in ("memory_threshold", "redis_memory_threshold") and _is_off(value):
        return None
    if name == "redis_budget":
        return None if _is_off(value) else parse_bytes(value)
    if name == "patterns":
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ConfigurationError("patterns must be a list of glob strings, in order")
        return tuple(value)
    if name in _NUMBERS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigurationError(f"{name} must be a number, got {value!r}")
        return float(value)
    if name in ("history", "metrics_port") and (
        isinstance(value, bool) or not isinstance(value, int)
    ):
        raise ConfigurationError(f"{name} must be an integer, got {value!r}")
    return value


def _is_off(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in ("none", "off", "")
