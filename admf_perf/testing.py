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
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
import redis

from admf_perf.config import configure, reset_settings
from admf_perf.server import EmbeddedServer, free_port
from admf_perf.stores.connection import redis_client as make_client

T = TypeVar("T")

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


class EmbeddedCluster:
    """A real Redis Cluster of ``masters`` embedded servers on loopback (no replicas),
    slots split evenly; ``url`` points at the first node."""

    SLOTS = 16384

    def __init__(self, masters: int = 3) -> None:
        self.bus_ports = [free_port() for _ in range(masters)]
        self.nodes = [
            EmbeddedServer(
                extra_args=[
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-port", str(bus),
                    "--cluster-node-timeout", "3000",
                ]
            )
            for bus in self.bus_ports
        ]  # fmt: skip

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> EmbeddedCluster:
        for node in self.nodes:
            node.start()
        clients = [redis.Redis.from_url(n.url) for n in self.nodes]
        share = self.SLOTS // len(self.nodes)
        for i, client in enumerate(clients):
            last = self.SLOTS - 1 if i == len(clients) - 1 else (i + 1) * share - 1
            client.execute_command("CLUSTER ADDSLOTSRANGE", i * share, last)
        for node, bus in zip(self.nodes[1:], self.bus_ports[1:], strict=True):
            clients[0].execute_command("CLUSTER MEET", "127.0.0.1", node.port, bus)
        deadline = time.monotonic() + 30
        while not all(self._ready(c) for c in clients):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the embedded cluster did not converge in 30 s")
            time.sleep(0.05)  # cluster gossip has no event to wait on
        for c in clients:
            c.close()
        return self

    def _ready(self, client: redis.Redis) -> bool:
        info = client.cluster("INFO")
        return bool(
            info.get("cluster_state") == "ok"
            and int(info.get("cluster_known_nodes", 0)) == len(self.nodes)
        )

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> EmbeddedCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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


def wait_until(condition: Callable[[], T], timeout: float = 20.0, what: str = "") -> T:
    """Re-check ``condition`` on real state (another process's writes, a registry, a
    queue) until it is truthy and return its value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.01)  # polling state another party writes: nothing to block on
    return value


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
    client = make_client(redis_url)
    yield client
    client.close()


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A fresh namespace for this test, configured with the test server; reset after."""
    ns = unique_name()
    configure(namespace=ns, redis_url=redis_url)
    yield ns
    reset_settings()
