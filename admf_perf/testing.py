"""Helpers for tests of code that uses admf-perf (ours and our users'): a real server,
a fresh namespace per test, real RQ worker processes and CLI subprocesses.

Use as a pytest plugin (``pytest_plugins = ["admf_perf.testing"]``) to get the fixtures
``redis_server_url`` (one server per session: ``ADMF_TEST_REDIS_URL`` if set, else an
:class:`~admf_perf.server.EmbeddedServer`), ``redis_url`` and ``redis_client`` (per test),
and ``namespace`` (a fresh key prefix, configured for the test and forgotten after it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from admf_perf.config import configure, reset_settings
from admf_perf.server import EmbeddedServer

TEST_URL_ENV = "ADMF_TEST_REDIS_URL"


@contextmanager
def server_for_tests() -> Iterator[str]:
    """Yield the URL of the server tests use: ``ADMF_TEST_REDIS_URL`` or an embedded one."""
    external = os.environ.get(TEST_URL_ENV)
    if external:
        yield external
        return
    with EmbeddedServer() as server:
        yield server.url


def cli_command() -> list[str]:
    """The argv prefix that runs the ``admf-perf`` CLI with this interpreter."""
    return [sys.executable, "-m", "admf_perf"]


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``admf-perf ARGS`` in a subprocess; returns the completed process (text output)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*cli_command(), *args],
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class WorkerProcess:
    """A real RQ worker process (``admf-perf worker``) serving ``queue`` on ``url``."""

    def __init__(
        self,
        url: str,
        queue: str,
        *,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.url = url
        self.queue = queue
        argv = [*cli_command(), "worker", "--url", url, "--queue", queue, *extra_args]
        self._log = open(log_path, "ab") if log_path else None  # noqa: SIM115
        self.process = subprocess.Popen(
            argv,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """``kill -9`` the worker, as a crashed host would."""
        self.process.kill()
        self.process.wait()

    def stop(self, timeout: float = 10) -> None:
        """Ask the worker to finish (SIGTERM, a warm shutdown), SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log:
            self._log.close()
            self._log = None


@contextmanager
def worker_processes(
    url: str, queue: str, count: int = 2, **kwargs: object
) -> Iterator[list[WorkerProcess]]:
    """Start ``count`` worker processes for the block and stop them after it."""
    workers = [WorkerProcess(url, queue, **kwargs) for _ in range(count)]  # type: ignore[arg-type]
    try:
        yield workers
    finally:
        for worker in workers:
            worker.stop()


def unique_name(prefix: str = "t") -> str:
    """A short name no other test uses: for namespaces, queues and caches."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


# -- pytest fixtures -------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """One real server for the whole test session."""
    with server_for_tests() as url:
        yield url


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    return redis_server_url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A fresh namespace for this test, configured with the test server; reset after."""
    ns = unique_name()
    configure(namespace=ns, redis_url=redis_url)
    yield ns
    reset_settings()
