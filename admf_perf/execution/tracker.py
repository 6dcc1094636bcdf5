"""The client side of chunks on RQ: enqueue them, read their records, re-run lost ones.

A :class:`ChunkTracker` owns one *channel*, a Redis list the workers' chunk runner
(:mod:`admf_perf.execution.runner`) pushes records to, and the client pops:

- ``["S", chunk, attempt, worker]`` a worker started the chunk and holds its lease;
- ``["R", chunk, attempt, final, [[index, ok, value, seconds, attempts], ...]]`` results
  so far (``final`` when the chunk is over; its lease is deleted in the same MULTI);
- ``["X", chunk, attempt, reason]`` the worker gave the chunk up (shutdown, chunk timeout).

The client blocks on ``BLPOP`` (no sleep-polling) and drains what else is there with one
``LPOP count``. Every ``lease_ttl / 2`` seconds it takes a consistent snapshot in one
MULTI: the rest of the channel, whether each started chunk's lease still exists, and the
RQ status of each chunk not yet started. A started chunk whose lease expired (its worker
was killed: nothing refreshes the lease any more) is enqueued again with only its items
that have no result yet, as a new attempt; so is a job that vanished or failed before it
started. Results are deduplicated by item index, so each item's result is returned once
even when a slow worker and its replacement both finish. After ``max_attempts`` losses
the chunk's items fail with ``WorkerLostError``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from rq.job import Job
from rq.queue import Queue

from admf_perf.errors import CodecError
from admf_perf.execution.calls import Outcome
from admf_perf.execution.serializer import RUNNER_PATH, CodecSerializer

if TYPE_CHECKING:
    from admf_perf.execution.rq_backend import RQBackend

log = logging.getLogger(__name__)

ENQUEUE_BATCH = 200
"""Jobs per pipeline when enqueueing."""
DRAIN = 512
"""Records popped per ``LPOP count`` after a ``BLPOP`` returned one."""
_IDLE_STATUSES = {"queued", "deferred", "scheduled", "created"}


@dataclass(frozen=True)
class CallOptions:
    """How the items of one map are run; sent to the workers in each chunk."""

    fn_path: str
    mode: int
    task_name: str
    timeout: float | None = None
    retries: int = 0
    backoff: float = 0.5
    chunk_timeout: float | None = None

    def job_timeout(self, size: int) -> int:
        """RQ's timeout of a chunk of ``size`` items: a backstop behind the per-item one."""
        if self.chunk_timeout:
            return math.ceil(self.chunk_timeout)
        if not self.timeout:
            return -1  # RQ's "never": tasks may run for hours
        per_item = self.timeout * (self.retries + 1) + self.backoff * (2**self.retries)
        return math.ceil(size * per_item + 60)


@dataclass
class _Chunk:
    cid: int
    remaining: set[int]
    attempt: int = -1
    job_id: str = ""
    started: bool = False
    suspect_since: float | None = None
    last_reason: str = ""
    order: list[int] = field(default_factory=list)


class ChunkTracker:
    """Chunks of one map (or of all ``submit`` calls of a backend) on one channel."""

    def __init__(
        self,
        backend: RQBackend,
        options: CallOptions,
        item_of: Callable[[int], Any],
        *,
        run_id: str | None = None,
    ) -> None:
        self.backend = backend
        self.options = options
        self.item_of = item_of
        self.run_id = run_id or uuid.uuid4().hex[:16]
        base = f"{backend.namespace}:exec:{{{self.run_id}}}"
        self.channel = f"{base}:results"
        self.cancel_key = f"{base}:cancel"
        self._lease_base = f"{base}:lease"
        self._job_prefix = f"{backend.namespace.replace('.', '_')}-{self.run_id}"
        self._chunks: dict[int, _Chunk] = {}
        self._next_cid = 0
        self._next_check = time.monotonic() + backend.check_interval
        self._chunk_count_hint = 0
        self._lock = threading.RLock()  # submit() adds chunks while a collector polls

    # -- enqueue ---------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Chunks with items still waiting for a result."""
        return len(self._chunks)

    def add(self, groups: Sequence[Sequence[int]]) -> list[int]:
        """Enqueue one chunk per group of item indices; returns their chunk ids."""
        with self._lock:
            chunks = []
            for group in groups:
                chunk = _Chunk(self._next_cid, set(group), order=list(group))
                self._next_cid += 1
                self._chunks[chunk.cid] = chunk
                chunks.append(chunk)
            self._chunk_count_hint = max(self._chunk_count_hint, self._next_cid)
            try:
                self._enqueue(chunks)
            except BaseException:
                self._drop(chunks, flag=False)  # no half-enqueued map is left behind
                raise
            return [c.cid for c in chunks]

    def _lease_key(self, chunk: _Chunk) -> str:
        return f"{self._lease_base}:{chunk.cid}:{chunk.attempt}"

    def _enqueue(self, chunks: list[_Chunk]) -> None:
        backend, opts = self.backend, self.options
        datas = []
        for chunk in chunks:
            chunk.attempt += 1
            chunk.started = False
            chunk.suspect_since = None
            chunk.job_id = f"{self._job_prefix}-{chunk.cid}-{chunk.attempt}"
            indices = [i for i in chunk.order if i in chunk.remaining]
            spec = {
                "run": self.run_id,
                "chunk": chunk.cid,
                "attempt": chunk.attempt,
                "fn": opts.fn_path,
                "mode": opts.mode,
                "idx": indices,
                "items": [self.item_of(i) for i in indices],
                "timeout": opts.timeout,
                "retries": opts.retries,
                "backoff": opts.backoff,
                "channel": self.channel,
                "lease": self._lease_key(chunk),
                "lease_ms": int(backend.lease_ttl * 1000),
                "cancel": self.cancel_key,
                "ttl": backend.channel_ttl,
                "flush": backend.flush_interval,
            }
            again = f", attempt {chunk.attempt + 1}" if chunk.attempt else ""
            datas.append(
                Queue.prepare_data(
                    RUNNER_PATH,
                    args=(spec,),
                    timeout=opts.job_timeout(len(indices)),
                    result_ttl=0,
                    failure_ttl=backend.channel_ttl,
                    description=(
                        f"{opts.task_name}: chunk {chunk.cid + 1}/{self._chunk_count_hint} "
                        f"({len(indices)} items of {opts.fn_path}{again})"
                    ),
                    job_id=chunk.job_id,
                    meta={
                        "task_name": opts.task_name,
                        "admf_run": self.run_id,
                        "chunk": chunk.cid,
                        "attempt": chunk.attempt,
                        "items": len(indices),
                    },
                )
            )
        for start in range(0, len(datas), ENQUEUE_BATCH):
            with backend.connection.pipeline() as pipe:
                backend.queue.enqueue_many(datas[start : start + ENQUEUE_BATCH], pipeline=pipe)
                pipe.execute()

    # -- collect ---------------------------------------------------------------------
    def check_soon(self) -> None:
        """Check every chunk at the next poll (after an outage: re-run those it lost)."""
        self._next_check = time.monotonic()

    def poll(self, block: float) -> list[tuple[int, Outcome]]:
        """New outcomes, waiting up to ``block`` seconds for the first record."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.backend.check_interval
            with self._lock:
                return self._check(now)
        wait = max(0.01, min(block, self._next_check - now))
        got = self.backend.blocking.blpop([self.channel], timeout=wait)
        if got is None:
            return []
        raws: list[Any] = [got[1]]
        try:
            more: Any = self.backend.connection.lpop(self.channel, DRAIN)
        except redis.RedisError:
            more = None  # the record taken is handled; the next poll meets the outage
        if more:
            raws.extend(more)
        with self._lock:
            return self._handle(raws)

    def _handle(self, raws: list[Any]) -> list[tuple[int, Outcome]]:
        out: list[tuple[int, Outcome]] = []
        lost: list[tuple[_Chunk, str]] = []
        for raw in raws:
            try:
                record = CodecSerializer.loads(raw)
                kind, cid, attempt = record[0], int(record[1]), int(record[2])
            except (CodecError, TypeError, ValueError, IndexError):
                log.warning("ignored an unreadable record on %s", self.channel)
                continue
            chunk = self._chunks.get(cid)
            if chunk is None:
                continue
            current = attempt == chunk.attempt
            if kind == "S" and current:
                chunk.started = True
            elif kind == "R":
                for index, ok, value, seconds, tries in record[4]:
                    if index in chunk.remaining:
                        chunk.remaining.discard(index)
                        out.append((index, (bool(ok), value, float(seconds), int(tries))))
                if record[3] and current and chunk.remaining:
                    lost.append((chunk, "the chunk ended with items left (cancelled?)"))
            elif kind == "X" and current and chunk.remaining:
                lost.append((chunk, str(record[3])))
            if not chunk.remaining:
                self._chunks.pop(cid, None)
        for chunk, reason in lost:
            out.extend(self._requeue(chunk, reason))
        return out

    def _check(self, now: float) -> list[tuple[int, Outcome]]:
        started = [c for c in self._chunks.values() if c.started]
        waiting = [c for c in self._chunks.values() if not c.started]
        with self.backend.connection.pipeline(transaction=True) as pipe:
            pipe.lrange(self.channel, 0, -1)
            pipe.delete(self.channel)
            for chunk in started:
                pipe.exists(self._lease_key(chunk))
            for chunk in waiting:
                pipe.hget(Job.key_for(chunk.job_id), "status")
            replies = pipe.execute()
        out = self._handle(replies[0])
        leases = replies[2 : 2 + len(started)]
        statuses = replies[2 + len(started) :]
        snapshot = [(c, c.attempt) for c in started]
        for (chunk, attempt), alive in zip(snapshot, leases, strict=True):
            if not alive and chunk.cid in self._chunks and chunk.attempt == attempt:
                out.extend(self._requeue(chunk, "its worker stopped renewing the lease (killed?)"))
        for chunk, raw in zip(waiting, statuses, strict=True):
            if chunk.cid not in self._chunks or chunk.started:
                continue
            status = raw.decode() if isinstance(raw, bytes) else raw
            if status in _IDLE_STATUSES:
                chunk.suspect_since = None
            elif status in (None, "failed", "stopped", "canceled", "finished"):
                reason = f"its RQ job is {status or 'gone'}{self._job_error(chunk.job_id)}"
                out.extend(self._requeue(chunk, reason))
            elif chunk.suspect_since is None:
                chunk.suspect_since = now  # taken by a worker that has not reported yet
            elif now - chunk.suspect_since > self.backend.lease_ttl:
                out.extend(self._requeue(chunk, "its worker took it and never reported"))
        return out

    def _job_error(self, job_id: str) -> str:
        """``": <last line of the job's error>"`` as RQ recorded it, or ``""``."""
        try:
            job = Job.fetch(job_id, connection=self.backend.connection, serializer=CodecSerializer)
            result = job.latest_result()
        except Exception:
            return ""
        text = (getattr(result, "exc_string", None) or "").strip()
        return f": {text.splitlines()[-1]}" if text else ""

    def _requeue(self, chunk: _Chunk, reason: str) -> list[tuple[int, Outcome]]:
        chunk.last_reason = reason
        if chunk.attempt + 1 >= self.backend.max_attempts:
            self._chunks.pop(chunk.cid, None)
            message = f"chunk {chunk.cid} was lost {chunk.attempt + 1} times; last: {reason}"
            error = ("WorkerLostError", message, "")
            return [(i, (False, error, 0.0, chunk.attempt + 1)) for i in sorted(chunk.remaining)]
        log.warning(
            "re-running %d items of chunk %d (%s): %s",
            len(chunk.remaining),
            chunk.cid,
            self.options.task_name,
            reason,
        )
        try:
            self._enqueue([chunk])
        except redis.RedisError as exc:
            # the outcomes already taken off Redis must not be lost with this error: the
            # chunk's new job does not exist, so the next check re-runs it again
            log.warning("could not re-run chunk %d yet: %s", chunk.cid, exc)
        return []

    # -- cancel and clean up -----------------------------------------------------------
    def cancel(self, cids: Sequence[int] | None = None) -> int:
        """Remove the given (default: all) chunks' queued jobs; running ones stop at their
        next flush (all chunks) or finish unheard (some). Returns the jobs taken off."""
        with self._lock:
            wanted = list(self._chunks) if cids is None else cids
            chosen = [self._chunks[c] for c in wanted if c in self._chunks]
        return self._drop(chosen, flag=cids is None)

    def _drop(self, chunks: list[_Chunk], *, flag: bool) -> int:
        with self._lock:
            for chunk in chunks:
                self._chunks.pop(chunk.cid, None)
        if not chunks and not flag:
            return 0
        conn, queue = self.backend.connection, self.backend.queue
        try:
            with conn.pipeline(transaction=False) as pipe:
                if flag:
                    pipe.set(self.cancel_key, 1, ex=self.backend.channel_ttl)
                for chunk in chunks:
                    if chunk.job_id:
                        queue.remove(chunk.job_id, pipeline=pipe)
                        pipe.delete(Job.key_for(chunk.job_id))
                replies = pipe.execute()
        except Exception as exc:
            log.warning("could not remove the jobs of %s: %s", self.options.task_name, exc)
            return 0
        return sum(int(r) for r in replies[1 if flag else 0 :: 2])

    def forget(self) -> None:
        """Stop tracking every chunk (their calls were failed another way)."""
        with self._lock:
            self._chunks.clear()

    def close(self) -> None:
        """Delete the channel (a cancelled run keeps its cancel flag until it expires)."""
        try:
            self.backend.connection.delete(self.channel)
        except Exception as exc:  # cleanup must not mask the map's own outcome
            log.debug("could not delete %s: %s", self.channel, exc)
