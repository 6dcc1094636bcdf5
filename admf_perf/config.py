"""Configuration in one place: defaults < environment variables < ``configure(...)``.

``get_settings()`` returns the current frozen :class:`Settings`; every module reads its
settings from there and nowhere else. A bad value fails at once with a
:class:`ConfigurationError` that names the setting.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from admf_perf.errors import ConfigurationError

EXECUTORS = ("local", "rq")
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel")
SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Settings:
    """The library's settings; build a new one with :func:`configure`, never mutate."""

    redis_url: str | None = None
    """Redis server shared by caches and the executor; ``None`` keeps everything in-process."""
    namespace: str = "admf"
    """Prefix of every Redis key and channel the library writes (``admf:...``)."""
    executor: str = "local"
    """``local`` (thread/process pools) or ``rq`` (the worker fleet behind ``redis_url``)."""
    cluster: bool = False
    """``redis_url`` is a node of a Redis Cluster (caches only; the executor needs one node)."""
    queue: str = "admf"
    """RQ queue the executor enqueues to and workers listen on."""
    signing_key: bytes | None = field(default=None, repr=False)
    """HMAC key: every payload is signed, and one that doesn't verify is a miss."""
    allow_pickle: bool = False
    """Pickle values msgpack can't hold (needs ``signing_key``: only verified data is unpickled)."""
    socket_timeout: float = 2.0
    """Seconds a Redis command may take before the call counts as failed."""
    connect_timeout: float = 1.0
    """Seconds to wait for a TCP/unix connection to the Redis server."""
    retry_after: float = 5.0
    """Seconds a cache stops trying an unreachable server before it tries again."""

    def __post_init__(self) -> None:
        _validate(self)


def _validate(s: Settings) -> None:
    if s.redis_url is not None:
        validate_redis_url(s.redis_url, setting="redis_url")
    if not _NAMESPACE_RE.match(s.namespace):
        raise ConfigurationError(
            f"namespace {s.namespace!r} is invalid: use 1-64 letters, digits, '_', '.' or '-'"
        )
    if s.executor not in EXECUTORS:
        raise ConfigurationError(
            f"executor {s.executor!r} is unknown: choose one of {', '.join(EXECUTORS)}"
        )
    if not s.queue or any(c.isspace() for c in s.queue):
        raise ConfigurationError(f"queue {s.queue!r} is invalid: a non-empty name without spaces")
    for name in ("socket_timeout", "connect_timeout", "retry_after"):
        value = getattr(s, name)
        if not isinstance(value, int | float) or value <= 0:
            raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    if s.signing_key is not None and len(s.signing_key) < 16:
        raise ConfigurationError("signing_key must be at least 16 bytes long")
    if s.allow_pickle and s.signing_key is None:
        raise ConfigurationError(
            "allow_pickle needs a signing_key: unsigned pickles from Redis could run any code"
        )


def validate_redis_url(url: str, *, setting: str = "redis_url") -> str:
    """Return ``url`` if it is a usable ``redis://``, ``rediss://``, ``unix://`` or
    ``redis+sentinel://`` URL."""
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{setting} must be a non-empty URL string, got {url!r}")
    if is_sentinel_url(url):
        parse_sentinel_url(url, setting=setting)
        return url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"{setting} is malformed ({exc}): {redact_url(url)}") from None
    if parts.scheme not in REDIS_SCHEMES:
        raise ConfigurationError(
            f"{setting} must start with redis://, rediss://, unix:// or redis+sentinel://, "
            f"got {redact_url(url)}"
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigurationError(f"{setting} names no socket path: {redact_url(url)}")
    elif not parts.hostname:
        raise ConfigurationError(f"{setting} names no host: {redact_url(url)}")
    if port is not None and not 0 < port < 65536:
        raise ConfigurationError(f"{setting} has an invalid port: {redact_url(url)}")
    return url


@dataclass(frozen=True)
class SentinelURL:
    """The parts of ``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]
    /service[/db][?sentinel_password=...]``: Sentinels to ask for the master of
    ``service``; the user and password are the master's."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


def parse_sentinel_url(url: str, *, setting: str = "redis_url") -> SentinelURL:
    """Split a ``redis+sentinel://`` URL; a one-line :class:`ConfigurationError` if bad."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigurationError(f"{setting} is malformed ({exc}): {shown}") from None
    hosts = parts.netloc.rpartition("@")[2]
    sentinels = []
    for item in (entry.strip() for entry in hosts.split(",")):
        bare = ":" not in item or item.endswith("]")  # no port (an IPv6 host is in [...])
        host, colon, port = (item, "", "") if bare else item.rpartition(":")
        bracketed = host.startswith("[") and host.endswith("]")
        host = host[1:-1] if bracketed else host
        if (
            not host
            or (":" in host and not bracketed)
            or (colon and not _is_number(port))
            or (port and not 0 < int(port) < 65536)
        ):
            raise ConfigurationError(
                f"{setting} has a bad Sentinel address {item!r} (host:port, IPv6 in "
                f"[brackets]): {shown}"
            )
        sentinels.append((host, int(port) if port else SENTINEL_PORT))
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not _is_number(path[1])):
        raise ConfigurationError(
            f"{setting} must name the master as /service or /service/db after the "
            f"Sentinels: {shown}"
        )
    query = dict(pair.partition("=")[::2] for pair in parts.query.split("&") if pair)
    unknown = set(query) - {"sentinel_password"}
    if unknown:
        raise ConfigurationError(f"{setting} has unknown options {sorted(unknown)}: {shown}")
    return SentinelURL(
        sentinels=tuple(sentinels),
        service=path[0],
        db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        sentinel_password=unquote(query["sentinel_password"]) if query else None,
    )


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def is_sentinel_url(url: str) -> bool:
    return url[: len(SENTINEL_SCHEME) + 3].lower() == f"{SENTINEL_SCHEME}://"


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to log or show in an error."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.query and _QUERY_SECRET.search(parts.query):  # redis-py reads ?password=
        base, _, query = url.partition("?")
        url = base + "?" + _QUERY_SECRET.sub(r"\1\2=***", query)
        parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


_QUERY_SECRET = re.compile(r"(?i)(^|[&;])([^&;=]*password)=[^&;]*")


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


_ENV: dict[str, tuple[str, Any]] = {
    "ADMF_REDIS_URL": ("redis_url", str),
    "ADMF_NAMESPACE": ("namespace", str),
    "ADMF_EXECUTOR": ("executor", str),
    "ADMF_QUEUE": ("queue", str),
    "ADMF_CLUSTER": ("cluster", _parse_bool),
    "ADMF_SIGNING_KEY": ("signing_key", str.encode),
    "ADMF_ALLOW_PICKLE": ("allow_pickle", _parse_bool),
    "ADMF_SOCKET_TIMEOUT": ("socket_timeout", float),
    "ADMF_CONNECT_TIMEOUT": ("connect_timeout", float),
    "ADMF_RETRY_AFTER": ("retry_after", float),
}


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    """Settings built from the ``ADMF_*`` environment variables over the defaults."""
    source = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for var, (name, convert) in _ENV.items():
        raw = source.get(var)
        if raw is None or raw == "":
            continue
        try:
            values[name] = convert(raw)
        except ValueError:
            raise ConfigurationError(f"{var}={raw!r} is not a valid {name}") from None
    try:
        return Settings(**values)
    except ConfigurationError as exc:
        origin = next((v for v, (n, _) in _ENV.items() if str(exc).startswith(n)), None)
        raise ConfigurationError(f"{exc} (from {origin})" if origin else str(exc)) from None


_lock = threading.Lock()
_current: Settings | None = None


def get_settings() -> Settings:
    """The settings in force: the environment at first use, then each ``configure`` call."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = settings_from_env()
    return _current


def configure(**changes: Any) -> Settings:
    """Change settings for this process, e.g. ``configure(redis_url="redis://host:6379/0")``.

    Unknown names and bad values raise :class:`ConfigurationError` naming the setting;
    nothing changes unless every value is valid. Caches created before the call keep the
    backend they resolved; the executor and new caches use the new settings.
    """
    global _current
    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown setting {unknown[0]!r}: known settings are {', '.join(sorted(known))}"
        )
    if isinstance(changes.get("signing_key"), str):
        changes["signing_key"] = changes["signing_key"].encode()
    with _lock:
        base = _current if _current is not None else settings_from_env()
        _current = dataclasses.replace(base, **changes)
        return _current


def reset_settings() -> None:
    """Forget ``configure`` calls; the next read starts again from the environment."""
    global _current
    with _lock:
        _current = None
