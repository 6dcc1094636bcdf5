"""IOManager: async reads and writes through futures, atomicity, errors, mmap, buffers."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from admf_perf.errors import ConfigurationError
from admf_perf.resources import IOManager, IOStats, PoolError, ResourceClosedError


@pytest.fixture
def io() -> Iterator[IOManager]:
    manager = IOManager(register=False)
    yield manager
    manager.shutdown()


class Recorder:
    """A callback that remembers every ``(result, error)`` it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, BaseException | None]] = []

    def __call__(self, result: Any, error: BaseException | None) -> None:
        self.calls.append((result, error))


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_write_then_read_with_callbacks_run_before_the_future(
    io: IOManager, tmp_path: Path
) -> None:
    path = tmp_path / "result.bin"
    wrote, read = Recorder(), Recorder()
    assert io.write_file_async(path, b"\x00payload", callback=wrote).result(timeout=10) == 8
    assert wrote.calls == [(8, None)]
    assert io.read_file_async(path, callback=read).result(timeout=10) == b"\x00payload"
    assert read.calls == [(b"\x00payload", None)]
    io.write_file_async(path, "héllo").result(timeout=10)
    assert io.read_file_async(path, mode="r").result(timeout=10) == "héllo"
    assert leftovers(tmp_path) == []


def test_operations_run_in_submission_order(io: IOManager, tmp_path: Path) -> None:
    path = tmp_path / "seq.txt"
    futures: list[Future[Any]] = []
    for i in range(20):
        futures.append(io.write_file_async(path, str(i)))
        futures.append(io.read_file_async(path, mode="r"))
    reads = [f.result(timeout=10) for f in futures[1::2]]
    assert reads == [str(i) for i in range(20)]


def test_missing_file_reaches_the_future_and_the_callback(io: IOManager, tmp_path: Path) -> None:
    calls = Recorder()
    future = io.read_file_async(tmp_path / "absent.csv", callback=calls)
    with pytest.raises(FileNotFoundError):
        future.result(timeout=10)
    assert len(calls.calls) == 1
    result, error = calls.calls[0]
    assert result is None and isinstance(error, FileNotFoundError)
    assert io.io_stats(tmp_path / "absent.csv").errors == 1


def test_failed_writes_leave_no_temp_file_and_no_target(io: IOManager, tmp_path: Path) -> None:
    calls = Recorder()
    with pytest.raises(FileNotFoundError):
        io.write_file_async(tmp_path / "no" / "dir.bin", b"x", callback=calls).result(timeout=10)
    assert isinstance(calls.calls[0][1], FileNotFoundError)
    (tmp_path / "adir").mkdir()
    with pytest.raises(IsADirectoryError):
        io.write_file_async(tmp_path / "adir", b"x").result(timeout=10)
    assert (tmp_path / "adir").is_dir()
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_permission_denied_reaches_the_future(io: IOManager, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "f").write_bytes(b"old")
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(PermissionError):
            io.write_file_async(locked / "f", b"new").result(timeout=10)
        assert (locked / "f").read_bytes() == b"old"
    finally:
        locked.chmod(stat.S_IRWXU)


CRASH_SCRIPT = """
import resource, signal, sys
from admf_perf.resources import IOManager
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
_, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
io = IOManager(register=False)
seen = []
try:
    io.write_file_async(sys.argv[1], b"N" * 100_000, callback=lambda r, e: seen.append(e)).result()
except OSError as exc:
    print("error", type(seen[0]).__name__, exc.errno)
"""


def test_a_write_that_fails_midway_leaves_the_old_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "equity.bin"
    target.write_bytes(b"OLD" * 100)
    out = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    assert out.stdout.startswith("error OSError"), out.stdout + out.stderr
    assert target.read_bytes() == b"OLD" * 100
    assert leftovers(tmp_path) == []


def test_readers_never_see_a_partial_file(io: IOManager, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    payloads = [bytes([i]) * 2_000_000 for i in range(6)]
    io.write_file_async(path, payloads[0]).result(timeout=10)
    done = threading.Event()
    bad: list[int] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not done.is_set():
            data = path.read_bytes()
            reads += 1
            if data not in payloads:
                bad.append(len(data))

    thread = threading.Thread(target=reader)
    thread.start()
    futures = [io.write_file_async(path, payloads[i % 6]) for i in range(1, 30)]
    for f in futures:
        f.result(timeout=30)
    done.set()
    thread.join()
    assert bad == [] and reads > 0


def test_existing_file_keeps_its_mode(io: IOManager, tmp_path: Path) -> None:
    path = tmp_path / "script.sh"
    path.write_text("old")
    path.chmod(0o751)
    io.write_file_async(path, "new").result(timeout=10)
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    fresh = tmp_path / "fresh.txt"
    io.write_file_async(fresh, "x").result(timeout=10)
    assert stat.S_IMODE(fresh.stat().st_mode) & 0o600 == 0o600


def test_a_failing_callback_does_not_lose_the_result(io: IOManager, tmp_path: Path) -> None:
    def broken(result: Any, error: BaseException | None) -> None:
        raise RuntimeError("callback bug")

    assert io.write_file_async(tmp_path / "f", b"abc", callback=broken).result(timeout=10) == 3


def test_mmap_gives_a_read_only_view(io: IOManager, tmp_path: Path) -> None:
    path = tmp_path / "prices.f64"
    prices = np.arange(1000, dtype=np.float64)
    path.write_bytes(prices.tobytes())
    with io.mmap_file(path) as view:
        assert view.readonly and len(view) == 8000
        assert np.array_equal(np.frombuffer(view, dtype=np.float64), prices)
        with pytest.raises(TypeError):
            view[0] = 1
    kept = None
    with io.mmap_file(path) as view:
        kept = np.frombuffer(view, dtype=np.float64)  # outlives the block: mapping stays alive
    assert kept[999] == 999.0
    (tmp_path / "empty").write_bytes(b"")
    with io.mmap_file(tmp_path / "empty") as view:
        assert len(view) == 0
    with pytest.raises(FileNotFoundError), io.mmap_file(tmp_path / "absent"):
        pass
    stats = io.io_stats(path)
    assert (stats.opens, stats.closes, stats.reads, stats.bytes_read) == (2, 2, 2, 16000)


def test_io_stats_per_path(io: IOManager, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    io.write_file_async(a, b"12345").result(timeout=10)
    io.write_file_async(a, b"123").result(timeout=10)
    io.read_file_async(a).result(timeout=10)
    io.write_file_async(b, b"x").result(timeout=10)
    assert io.io_stats(a) == IOStats(
        reads=1, writes=2, bytes_read=3, bytes_written=8, opens=3, closes=3, errors=0
    )
    assert set(io.io_stats()) == {str(a), str(b)}
    assert io.io_stats(tmp_path / "never") == IOStats()


def test_buffer_pool_reuses_and_refuses_misuse(io: IOManager) -> None:
    buf = io.get_buffer(5000)
    assert isinstance(buf, bytearray) and len(buf) == 8192
    assert len(io.get_buffer(0)) == 4096 and len(io.get_buffer(4096)) == 4096
    io.release_buffer(buf)
    with pytest.raises(PoolError, match="already released"):
        io.release_buffer(buf)
    assert io.get_buffer(6000) is buf
    buf.extend(b"x")
    with pytest.raises(PoolError, match="resized"):
        io.release_buffer(buf)
    with pytest.raises(ConfigurationError):
        io.release_buffer(b"x" * 4096)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        io.get_buffer(-1)
    fresh = [io.get_buffer(100) for _ in range(3)]
    for b in fresh:
        io.release_buffer(b)
    assert io.trim() == 3
    assert all(io.get_buffer(100) is not b for b in fresh)


def test_shutdown_finishes_queued_work_then_refuses(tmp_path: Path) -> None:
    io = IOManager(register=False)
    futures = [io.write_file_async(tmp_path / f"f{i}", b"x" * i) for i in range(50)]
    io.shutdown(wait=True)
    assert [f.result(timeout=0) for f in futures] == list(range(50))
    with pytest.raises(ResourceClosedError):
        io.read_file_async(tmp_path / "f1")
    io.shutdown()  # idempotent


def test_get_instance_replaces_a_shut_down_manager() -> None:
    first = IOManager.get_instance()
    assert IOManager.get_instance() is first
    first.shutdown()
    second = IOManager.get_instance()
    assert second is not first and not second.closed


def test_bad_arguments_raise(io: IOManager, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        io.read_file_async(tmp_path / "x", mode="w")
    with pytest.raises(ConfigurationError):
        io.write_file_async(tmp_path / "x", 123)  # type: ignore[arg-type]
