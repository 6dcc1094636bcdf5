"""The worker side of a chunk: run its items, push their results, hold its lease.

:func:`run_chunk` is the one function every chunk job names. It resolves the task
function through the worker's :class:`~admf_perf.execution.serializer.Allowlist`, sets
the chunk's lease and pushes a start record in one round trip, then runs the items
(:func:`~admf_perf.execution.calls.run_item`: timeout, retries), pushing results every
``flush`` seconds and at the end. The final push and the lease's deletion share one
MULTI, so a client that sees no lease has already received the final records.

While a chunk runs, a daemon thread (:class:`LeaseKeeper`) renews its lease every third
of its TTL; a worker killed with ``kill -9`` stops renewing, the lease expires, and the
client enqueues the chunk's unfinished items again. See :mod:`admf_perf.execution.tracker`
for the records' format.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import redis
from rq.job import get_current_job
from rq.timeouts import BaseTimeoutException

from admf_perf.errors import CodecError
from admf_perf.execution.calls import error_info, run_item
from admf_perf.execution.errors import ForbiddenFunctionError
from admf_perf.execution.serializer import Allowlist, CodecSerializer

log = logging.getLogger(__name__)

_allowlist = Allowlist.from_env()


def set_allowlist(allowlist: Allowlist) -> None:
    """The modules this process's chunks may run functions from (set by the worker)."""
    global _allowlist
    _allowlist = allowlist


def get_allowlist() -> Allowlist:
    return _allowlist


class LeaseKeeper:
    """A daemon thread that renews the leases of the chunks this process is running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases: dict[str, tuple[redis.Redis, int]] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def hold(self, client: redis.Redis, key: str, ttl_ms: int) -> Iterator[None]:
        with self._lock:
            self._leases[key] = (client, ttl_ms)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="admf-lease-keeper", daemon=True
                )
                self._thread.start()
        self._wake.set()
        try:
            yield
        finally:
            with self._lock:
                self._leases.pop(key, None)

    def _run(self) -> None:
        while True:
            with self._lock:
                leases = list(self._leases.items())
            if not leases:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            for key, (client, ttl_ms) in leases:
                try:
                    client.pexpire(key, ttl_ms)  # never creates a key the chunk already deleted
                except redis.RedisError as exc:
                    log.warning("could not renew lease %s: %s", key, exc)
            self._wake.wait(min(ttl for _, (_, ttl) in leases) / 3000)
            self._wake.clear()


_keeper = LeaseKeeper()


def _reset_after_fork() -> None:
    global _keeper
    _keeper = LeaseKeeper()


os.register_at_fork(after_in_child=_reset_after_fork)


def run_chunk(spec: dict[str, Any]) -> None:
    """Run one chunk described by ``spec`` (built by the client's tracker)."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_chunk runs inside an RQ job")
    Chunk(job.connection, spec, job.worker_name or "").run()


class Chunk:
    """One execution of one chunk on this worker."""

    def __init__(self, client: redis.Redis, spec: dict[str, Any], worker: str) -> None:
        self.client = client
        self.spec = spec
        self.worker = worker
        self.cid = int(spec["chunk"])
        self.attempt = int(spec["attempt"])
        self.channel = str(spec["channel"])
        self.lease = str(spec["lease"])
        self.lease_ms = int(spec["lease_ms"])
        self.ttl = int(spec["ttl"])
        self.buffer: list[list[Any]] = []

    def run(self) -> None:
        spec = self.spec
        indices: list[int] = list(spec["idx"])
        items: list[Any] = list(spec["items"])
        try:
            fn = _allowlist.resolve(str(spec["fn"]))
        except ForbiddenFunctionError as exc:
            info = error_info(exc)
            self.buffer = [[i, False, list(info), 0.0, 1] for i in indices]
            self._push(final=True)
            raise
        if self._start():
            self._push(final=True)  # cancelled before it began: nothing to run
            return
        with _keeper.hold(self.client, self.lease, self.lease_ms):
            self._run_items(fn, indices, items)

    def _start(self) -> bool:
        """Take the lease, announce the start; True if the map was cancelled meanwhile."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.set(self.lease, self.worker or "1", px=self.lease_ms)
            pipe.rpush(
                self.channel, CodecSerializer.dumps(["S", self.cid, self.attempt, self.worker])
            )
            pipe.expire(self.channel, self.ttl)
            pipe.exists(str(self.spec["cancel"]))
            return bool(pipe.execute()[-1])

    def _run_items(self, fn: Any, indices: list[int], items: list[Any]) -> None:
        spec = self.spec
        mode, timeout = int(spec["mode"]), spec["timeout"]
        retries, backoff = int(spec["retries"]), float(spec["backoff"])
        flush_every = float(spec["flush"])
        last_flush = time.monotonic()
        for index, item in zip(indices, items, strict=True):
            try:
                ok, value, seconds, tries = run_item(fn, item, mode, timeout, retries, backoff)
            except BaseTimeoutException as exc:  # RQ's chunk timeout: this item fails
                self.buffer.append([index, False, list(error_info(exc)), 0.0, 1])
                self._give_up(f"chunk timed out: {exc}")
                raise
            except BaseException as exc:  # shutdown: the client re-runs what is left
                self._give_up(f"worker {self.worker} stopped: {type(exc).__name__}")
                raise
            self.buffer.append([index, ok, list(value) if not ok else value, seconds, tries])
            now = time.monotonic()
            if now - last_flush >= flush_every:
                last_flush = now
                if self._push(final=False):
                    log.info("chunk %d cancelled by the client", self.cid)
                    break
        self._push(final=True)

    def _give_up(self, reason: str) -> None:
        try:
            self._push(final=False)
            with self.client.pipeline(transaction=True) as pipe:
                pipe.rpush(
                    self.channel, CodecSerializer.dumps(["X", self.cid, self.attempt, reason])
                )
                pipe.expire(self.channel, self.ttl)
                pipe.delete(self.lease)
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("could not hand chunk %d back: %s", self.cid, exc)

    def _encode_results(self, final: bool) -> bytes:
        try:
            return CodecSerializer.dumps(["R", self.cid, self.attempt, final, self.buffer])
        except CodecError:
            pass
        for entry in self.buffer:
            try:
                CodecSerializer.dumps(entry[2])
            except CodecError as exc:
                kind = type(entry[2]).__name__
                entry[1:3] = [False, ["CodecError", f"the {kind} result cannot be sent: {exc}", ""]]
        return CodecSerializer.dumps(["R", self.cid, self.attempt, final, self.buffer])

    def _push(self, final: bool) -> bool:
        """Send buffered results (and end the lease if ``final``); True if cancelled."""
        if not self.buffer and not final:
            return False
        payload = self._encode_results(final)
        self.buffer = []
        with self.client.pipeline(transaction=final) as pipe:
            pipe.rpush(self.channel, payload)
            pipe.expire(self.channel, self.ttl)
            if final:
                pipe.delete(self.lease)
            else:
                pipe.exists(str(self.spec["cancel"]))
            replies = pipe.execute()
        return bool(replies[-1]) if not final else False
