"""Passwords and TLS: the URL's password (in its user part or as ``?password=``) and the
``rediss://`` scheme are honoured, and no password ever shows in a log line, an error,
a repr or a CLI message: URLs are shown redacted (``***``).

The embedded valkey-server has no TLS built in (``--tls-port`` fails with "Missing
implement of connection type tls"), so TLS is terminated by a small proxy in front of
it with a throw-away certificate made by ``openssl``; the client side is the real
``rediss://`` path of redis-py with certificate verification on.
"""

from __future__ import annotations

import logging
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from rq import Queue, Worker

from admf_perf import BackendUnavailableError, Cache
from admf_perf.caching import fleet
from admf_perf.execution import CPUManager, RQBackend
from admf_perf.server import EmbeddedServer
from admf_perf.stores import RedisBackend
from admf_perf.testing import WorkerProcess, cli_command, run_cli, unique_name, wait_until
from tests import tasks
from tests.faultkit import TlsTerminator

PASSWORD = "hunter2-correct-horse-battery"
WRONG = "wrong-staple-4711-password"


@pytest.fixture(scope="module")
def locked() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(extra_args=["--requirepass", PASSWORD]) as server:
        yield server


def url_with(password: str, port: int, *, query: bool = False, scheme: str = "redis") -> str:
    if query:
        return f"{scheme}://127.0.0.1:{port}/0?password={password}"
    return f"{scheme}://:{password}@127.0.0.1:{port}/0"


def assert_secret_free(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text and WRONG not in text, text


@pytest.mark.parametrize("query", [False, True], ids=["user-part", "query"])
def test_the_password_is_used_and_never_shown(
    locked: EmbeddedServer, query: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = url_with(PASSWORD, locked.port, query=query)
    bad = url_with(WRONG, locked.port, query=query)

    cache = Cache(unique_name(), backend=good)
    cache.set("k", 1)
    assert cache.get("k") == 1, "the password was used"
    assert "***" in cache.describe_backend()

    wrong = Cache(unique_name(), backend=bad)
    assert wrong.get("k", "computed") == "computed", "a wrong password is an outage"
    wrong.set("k", 2)
    backend = RedisBackend(bad, namespace=unique_name())
    with pytest.raises(BackendUnavailableError) as refused:
        fleet.stats(backend)
    assert "***" in str(refused.value) and "invalid" in str(refused.value)
    with pytest.raises(BackendUnavailableError) as refused_map:
        CPUManager(backend=RQBackend(bad, unique_name("q"))).map_tasks(tasks.square, [1])
    assert "***" in str(refused_map.value)
    logged = [r.getMessage() for r in caplog.records]
    assert any("***" in m and "unavailable" in m for m in logged), logged
    assert_secret_free(
        cache.describe_backend(),
        wrong.describe_backend(),
        str(refused.value),
        str(refused_map.value),
        repr(RQBackend(good, "q")),
        repr(backend.health.url),
        *logged,
    )


def test_the_cli_and_workers_never_print_the_password(
    locked: EmbeddedServer, tmp_path: Path
) -> None:
    good, bad = url_with(PASSWORD, locked.port), url_with(WRONG, locked.port)
    Cache(unique_name("cli"), backend=good).set("k", 1)
    shown = run_cli("-vv", "stats", "--url", good)
    assert shown.returncode == 0, shown.stderr
    refused = run_cli("-vv", "stats", "--url", bad)
    assert refused.returncode == 1 and "***" in refused.stderr
    assert_secret_free(shown.stdout, shown.stderr, refused.stdout, refused.stderr)

    log = tmp_path / "worker.log"
    worker = WorkerProcess(
        good, unique_name("q"), extra_args=["--log-level", "DEBUG"], log_path=log
    )
    wait_until(lambda: "Listening on" in log.read_text(), what="the worker's start-up lines")
    worker.stop()
    stranger = WorkerProcess(bad, unique_name("q"), log_path=tmp_path / "refused.log")
    assert stranger.process.wait(timeout=60) != 0
    stranger.stop()
    refused_log = (tmp_path / "refused.log").read_text()
    assert "***" in refused_log
    assert_secret_free(log.read_text(), refused_log)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificate for the TLS test")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_rediss_urls_speak_verified_tls_and_are_redacted(
    locked: EmbeddedServer, certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    terminator = TlsTerminator(("127.0.0.1", locked.port), context)
    caplog.set_level(logging.DEBUG)
    try:
        url = f"rediss://:{PASSWORD}@127.0.0.1:{terminator.port}/0?ssl_ca_certs={cert}"
        cache = Cache(unique_name("tls"), backend=url)
        cache.set("k", {"over": "tls"})
        assert cache.get("k") == {"over": "tls"}
        assert terminator.handshakes >= 1, "the client did not speak TLS"
        assert cache.describe_backend().startswith("redis rediss://:***@")

        # an unknown CA (the system store has not our certificate): refused, an outage
        untrusted = Cache(unique_name("tls"), backend=url.split("?", maxsplit=1)[0])
        assert untrusted.get("k", "computed") == "computed"
        plain = Cache(unique_name("tls"), backend=url_with(PASSWORD, terminator.port))
        assert plain.get("k", "computed") == "computed", "plain text to a TLS port"
        logged = [r.getMessage() for r in caplog.records]
        assert any("certificate" in m.lower() for m in logged), logged
        assert_secret_free(*logged)
    finally:
        terminator.close()


def test_a_password_given_by_environment_stays_out_of_worker_command_lines(
    locked: EmbeddedServer,
) -> None:
    """``ps`` shows every process's command line to every user of the host: a URL given
    in ``ADMF_REDIS_URL`` must not be copied into the supervised workers' arguments."""
    queue = unique_name("q")
    supervisor = subprocess.Popen(
        [*cli_command(), "worker", "--queue", queue, "--processes", "2", "--log-level", "ERROR"],
        env={**os.environ, "ADMF_REDIS_URL": url_with(PASSWORD, locked.port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    admin = locked.client(password=PASSWORD)
    try:
        rq_queue = Queue(queue, connection=admin)
        wait_until(lambda: Worker.count(connection=admin, queue=rq_queue) == 2, what="2 workers")
        children = psutil.Process(supervisor.pid).children()
        assert len(children) == 2
        for process in [psutil.Process(supervisor.pid), *children]:
            assert_secret_free(" ".join(process.cmdline()))
    finally:
        supervisor.terminate()
        supervisor.wait(timeout=30)
        admin.close()
