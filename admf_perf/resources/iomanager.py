"""IOManager: file reads and writes off the calling thread, atomic writes, mmap, buffers.

One worker thread takes operations from a queue in order, so a read queued after a
write of the same path sees the new content. Each operation returns a
``concurrent.futures.Future``; an optional callback runs on the I/O thread as
``callback(result, error)`` -- ``error`` is ``None`` on success, otherwise ``result`` is
``None`` and ``error`` the exception -- *before* the future completes, so code waiting on
the future sees the callback's effects. Errors always reach the future (and the
callback); a callback that raises is logged and does not change the future.

Writes are atomic: data goes to a temporary file in the target's directory, is flushed
and fsynced, then ``os.replace``-d over the target, so a reader or a crash sees the old
file or the new one, never half of one.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import mmap
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, overload

from admf_perf.errors import ConfigurationError
from admf_perf.resources.errors import PoolError, ResourceClosedError

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
Callback = Callable[[Any, BaseException | None], None]
MIN_BUFFER = 4096


@dataclass(frozen=True)
class IOStats:
    """I/O counters of one path; ``errors`` counts failed operations."""

    reads: int = 0
    writes: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    opens: int = 0
    closes: int = 0
    errors: int = 0


def _umask() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def atomic_write(path: PathLike, data: bytes | bytearray | memoryview | str) -> int:
    """Write ``data`` to ``path`` atomically (temp file, fsync, ``os.replace``); bytes written.

    A new file gets the usual permissions (0o666 minus the umask); an existing file keeps
    its mode. On any error the temporary file is removed and the target is untouched.
    """
    payload = data.encode() if isinstance(data, str) else data
    target = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(target)
    try:
        mode = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable, where supported
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return len(memoryview(payload).cast("B"))


class IOManager:
    """Asynchronous file I/O on one worker thread, with stats and a buffer pool.

    ``buffers_per_size`` idle buffers are kept per power-of-two size, up to
    ``max_pooled_bytes`` in all; :meth:`trim` (run on memory pressure) drops them.
    """

    _instance: IOManager | None = None
    _instance_lock = threading.Lock()

    def __init__(
        self,
        *,
        monitoring: bool = True,
        buffers_per_size: int = 8,
        max_pooled_bytes: int = 64 * 1024 * 1024,
        register: bool = True,
    ) -> None:
        self.monitoring = monitoring
        self.buffers_per_size = buffers_per_size
        self.max_pooled_bytes = max_pooled_bytes
        self._lock = threading.Lock()
        self._stats: dict[str, IOStats] = {}
        self._buffers: dict[int, list[bytearray]] = {}
        self._pooled_bytes = 0
        self.buffer_hits = 0
        self.buffer_misses = 0
        self._closed = False
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any], Callback | None]]
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._worker, name="admf-io", daemon=True)
        self._thread.start()
        if register:
            from admf_perf.resources.memory import MemoryManager

            MemoryManager.get_instance().register_pool(self)

    @classmethod
    def get_instance(cls) -> IOManager:
        """The process-wide manager; a new one after ``shutdown()`` or in a forked child."""
        with cls._instance_lock:
            if cls._instance is None or cls._instance._closed:
                cls._instance = cls()
                atexit.register(cls._instance.shutdown)
            return cls._instance

    @classmethod
    def _forget_instance(cls) -> None:
        cls._instance = None
        cls._instance_lock = threading.Lock()

    # -- asynchronous operations ------------------------------------------------------

    def _submit(self, fn: Callable[[], Any], callback: Callback | None) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise ResourceClosedError("IOManager is shut down: use IOManager.get_instance()")
            self._queue.put((fn, future, callback))
        return future

    def _worker(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, future, callback = item
            if not future.set_running_or_notify_cancel():
                continue
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn()
            except Exception as exc:
                error = exc
            if callback is not None:
                try:
                    callback(result, error)
                except Exception:
                    log.exception("I/O callback %r failed", callback)
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

    def read_file_async(
        self, path: PathLike, callback: Callback | None = None, mode: str = "rb"
    ) -> Future[Any]:
        """Read the whole file: ``bytes`` for ``mode="rb"``, ``str`` (UTF-8) for ``"r"``."""
        if mode not in ("rb", "r"):
            raise ConfigurationError(f"mode must be 'rb' or 'r', got {mode!r}")
        return self._submit(lambda: self._read(path, mode), callback)

    def write_file_async(
        self,
        path: PathLike,
        data: bytes | bytearray | memoryview | str,
        callback: Callback | None = None,
    ) -> Future[int]:
        """Write ``data`` (``str`` as UTF-8) atomically; the future's result is the bytes written.

        ``bytearray`` and ``memoryview`` data are copied first: the caller may reuse them.
        """
        if not isinstance(data, bytes | bytearray | memoryview | str):
            raise ConfigurationError(f"data must be bytes or str, got {type(data).__name__}")
        payload = data if isinstance(data, bytes | str) else bytes(data)
        return self._submit(lambda: self._write(path, payload), callback)

    def _read(self, path: PathLike, mode: str) -> bytes | str:
        key = os.path.abspath(os.fspath(path))
        try:
            content: bytes | str
            if mode == "rb":
                with open(path, "rb") as fh:
                    self._count(key, opens=1)
                    content = fh.read()
            else:
                with open(path, encoding="utf-8") as fh:
                    self._count(key, opens=1)
                    content = fh.read()
        except Exception:
            self._count(key, errors=1)
            raise
        size = len(content.encode()) if isinstance(content, str) else len(content)
        self._count(key, reads=1, bytes_read=size, closes=1)
        return content

    def _write(self, path: PathLike, data: bytes | str) -> int:
        key = os.path.abspath(os.fspath(path))
        try:
            written = atomic_write(path, data)
        except Exception:
            self._count(key, errors=1)
            raise
        self._count(key, writes=1, bytes_written=written, opens=1, closes=1)
        return written

    # -- memory-mapped reading --------------------------------------------------------

    @contextlib.contextmanager
    def mmap_file(self, path: PathLike) -> Iterator[memoryview]:
        """``with io.mmap_file(p) as view:`` -- a read-only memoryview of the whole file.

        The mapping closes at the end of the block; if arrays or views made from it are
        still alive then, it stays mapped until they are garbage-collected.
        """
        key = os.path.abspath(os.fspath(path))
        mapped: mmap.mmap | None = None
        try:
            with open(path, "rb") as fh:
                self._count(key, opens=1)
                if os.fstat(fh.fileno()).st_size:
                    mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except Exception:
            self._count(key, errors=1)
            raise
        view = memoryview(mapped) if mapped is not None else memoryview(b"")
        self._count(key, reads=1, bytes_read=len(view), closes=1)
        try:
            yield view
        finally:
            with contextlib.suppress(BufferError):
                view.release()
                if mapped is not None:
                    mapped.close()

    # -- buffer pool ------------------------------------------------------------------

    def get_buffer(self, size: int) -> bytearray:
        """A ``bytearray`` of at least ``size`` bytes (a power of two >= 4096; not zeroed)."""
        if not isinstance(size, int) or size < 0:
            raise ConfigurationError(f"size must be an int >= 0, got {size!r}")
        length = max(MIN_BUFFER, 1 << max(size - 1, 0).bit_length())
        with self._lock:
            free = self._buffers.get(length)
            if free:
                self.buffer_hits += 1
                self._pooled_bytes -= length
                return free.pop()
            self.buffer_misses += 1
        return bytearray(length)

    def release_buffer(self, buf: bytearray) -> None:
        """Return a buffer from :meth:`get_buffer` for reuse (kept only if the pool has room).

        Raises :class:`PoolError` for a buffer released twice or resized since.
        """
        if not isinstance(buf, bytearray):
            raise ConfigurationError(f"expected a bytearray, got {type(buf).__name__}")
        length = len(buf)
        if length < MIN_BUFFER or length & (length - 1):
            raise PoolError(f"a buffer of {length} bytes did not come from get_buffer (resized?)")
        with self._lock:
            free = self._buffers.setdefault(length, [])
            if any(b is buf for b in free):
                raise PoolError("this buffer was already released")
            if len(free) < self.buffers_per_size and (
                self._pooled_bytes + length <= self.max_pooled_bytes
            ):
                free.append(buf)
                self._pooled_bytes += length

    def trim(self) -> int:
        """Drop every idle buffer; returns how many (called by MemoryManager on pressure)."""
        with self._lock:
            dropped = sum(len(v) for v in self._buffers.values())
            self._buffers.clear()
            self._pooled_bytes = 0
        return dropped

    # -- statistics -------------------------------------------------------------------

    def _count(self, key: str, **deltas: int) -> None:
        if not self.monitoring:
            return
        with self._lock:
            old = self._stats.get(key, IOStats())
            self._stats[key] = replace(old, **{k: getattr(old, k) + v for k, v in deltas.items()})

    @overload
    def io_stats(self, path: None = None) -> dict[str, IOStats]: ...
    @overload
    def io_stats(self, path: PathLike) -> IOStats: ...
    def io_stats(self, path: PathLike | None = None) -> IOStats | dict[str, IOStats]:
        """Counters of ``path`` (zeros if untouched), or of every path by absolute name."""
        with self._lock:
            if path is None:
                return dict(self._stats)
            return self._stats.get(os.path.abspath(os.fspath(path)), IOStats())

    # -- lifecycle --------------------------------------------------------------------

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking work; operations already queued still run. ``wait`` joins the thread."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)  # type: ignore[arg-type]
        if wait and self._thread is not threading.current_thread():
            self._thread.join()

    @property
    def closed(self) -> bool:
        return self._closed


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=IOManager._forget_instance)
