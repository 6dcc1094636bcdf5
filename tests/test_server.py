"""The embedded server: starts from the pip-installed binary, stops, leaves no orphan."""

import os
import signal
import subprocess
import sys
import textwrap

import psutil
import pytest
import redis

from admf_perf import EmbeddedServer, ServerStartError
from admf_perf.server import find_server_binary
from admf_perf.testing import cli_command


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    try:
        psutil.Process(pid).wait(timeout=timeout)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return False
    return True


def test_server_answers_on_tcp_and_unix_socket_and_stops():
    with EmbeddedServer(unix_socket=True) as server:
        pid = server.pid
        assert redis.Redis.from_url(server.url).ping()
        assert redis.Redis.from_url(server.unix_url).ping()
        persistence = redis.Redis.from_url(server.url).config_get("save")
        assert persistence["save"] == ""
    assert not server.is_running()
    assert pid is not None and _wait_gone(pid)


def test_two_servers_get_different_ports():
    with EmbeddedServer() as a, EmbeddedServer() as b:
        assert a.port != b.port
        redis.Redis.from_url(a.url).set("k", "a")
        assert redis.Redis.from_url(b.url).get("k") is None


def test_explicit_binary_variable_wins_and_bad_one_is_reported(monkeypatch, tmp_path):
    real = find_server_binary()
    monkeypatch.setenv("ADMF_REDIS_SERVER_BIN", str(real))
    assert find_server_binary() == real
    monkeypatch.setenv("ADMF_REDIS_SERVER_BIN", str(tmp_path / "missing"))
    with pytest.raises(ServerStartError, match="ADMF_REDIS_SERVER_BIN"):
        find_server_binary()


def test_server_that_cannot_start_says_why(tmp_path):
    with pytest.raises(ServerStartError, match="did not start"):
        EmbeddedServer(extra_args=["--no-such-option", "1"], startup_timeout=5).start()


def _spawn_owner(code: str) -> tuple[subprocess.Popen[str], int]:
    """A Python process that starts a server, prints its pid, and waits."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PID "), line
    return proc, int(line.split()[1])


OWNER = """
    import sys, time
    from admf_perf import EmbeddedServer
    with EmbeddedServer() as s:
        print("PID", s.pid, flush=True)
        sys.stdin.read() if False else time.sleep(600)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_no_orphan_server_when_owner_is_stopped(sig):
    proc, server_pid = _spawn_owner(OWNER)
    assert psutil.pid_exists(server_pid)
    proc.send_signal(sig)
    proc.wait(timeout=15)
    assert _wait_gone(server_pid), f"server {server_pid} survived {sig.name} of its owner"


def test_ctrl_c_of_a_pytest_run_leaves_no_server(tmp_path):
    test_file = tmp_path / "test_hang.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import os, time
            def test_hang(redis_server_url):
                import redis
                info = redis.Redis.from_url(redis_server_url).info("server")
                print("PID", info["process_id"], flush=True)
                time.sleep(600)
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "ADMF_TEST_REDIS_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-s", "-q", "-p", "admf_perf.testing", str(test_file)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert proc.stdout is not None
    server_pid = None
    for line in proc.stdout:
        if line.startswith("PID "):
            server_pid = int(line.split()[1])
            break
    assert server_pid is not None and psutil.pid_exists(server_pid)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert _wait_gone(server_pid), "Ctrl-C of pytest left the server running"


def test_cli_server_prints_url_and_stops_on_sigterm():
    proc = subprocess.Popen([*cli_command(), "server"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("ADMF_REDIS_URL=redis://127.0.0.1:")
    url = line.split("=", 1)[1]
    client = redis.Redis.from_url(url)
    server_pid = client.info("server")["process_id"]
    assert client.ping()
    proc.terminate()
    proc.wait(timeout=15)
    assert _wait_gone(server_pid)
