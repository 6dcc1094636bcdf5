"""The RQ backend: maps and single calls run by a fleet of ``admf-perf worker`` processes.

``map`` splits the items into chunks (by default guided sizes for the workers listening
now, see :mod:`~admf_perf.execution.chunking`), enqueues them with ``Queue.enqueue_many`` in pipelines, and reads
the results back through a :class:`~admf_perf.execution.tracker.ChunkTracker`. ``submit``
sends one call as a one-item chunk; all calls submitted through one backend share a
channel that one collector thread reads, resolving their futures.

Keys: every key this backend writes itself (results lists, leases, cancel flags) is
``<namespace>:exec:{<run>}:...``, and chunk job ids start with the namespace. RQ's own
keys (queues, jobs, registries, workers) keep RQ's prefix, ``rq:`` by default: RQ reads
it once, at import, from ``RQ_KEY_PREFIX``, for the whole process, and its registries and
scripts build keys from module constants, so it cannot follow a namespace chosen per call
by subclassing. To put them under the namespace too, start every client and worker with
``RQ_KEY_PREFIX=<namespace>:rq`` in the environment; nothing here assumes ``rq:``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import redis
from rq.queue import Queue
from rq.worker import Worker

from admf_perf.config import get_settings, redact_url, validate_redis_url
from admf_perf.errors import BackendUnavailableError, ConfigurationError
from admf_perf.execution import chunking
from admf_perf.execution.calls import Outcome
from admf_perf.execution.errors import TaskItemError
from admf_perf.execution.runs import MapRun
from admf_perf.execution.serializer import CodecSerializer
from admf_perf.execution.stats import StatsBook
from admf_perf.execution.tracker import CallOptions, ChunkTracker
from admf_perf.stores.connection import redis_client

log = logging.getLogger(__name__)

DEFAULT_LEASE_TTL = 10.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_OUTAGE_GRACE = 60.0
CHANNEL_TTL = 86_400


class RQBackend:
    """A connection to one RQ queue on one Redis server, with the executor's settings.

    ``lease_ttl`` is how long a worker may go silent before its chunk is run elsewhere
    (a killed worker is noticed within about 1.5 x ``lease_ttl``); ``max_attempts``
    bounds the runs of one chunk; ``flush_interval`` is how often a worker sends the
    results it has so far. ``outage_grace`` is how long a running map or submitted
    call rides out an unreachable server (a restart, a failover) before failing with
    :class:`BackendUnavailableError`; when the server is back, chunks lost with it are
    run again.
    """

    def __init__(
        self,
        url: str | None = None,
        queue: str | None = None,
        *,
        namespace: str | None = None,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        flush_interval: float = 0.25,
        max_chunk: int = 1000,
        outage_grace: float = DEFAULT_OUTAGE_GRACE,
    ) -> None:
        settings = get_settings()
        url = url or settings.redis_url
        if not url:
            raise ConfigurationError(
                "the rq executor needs a Redis server: configure(redis_url=...) or ADMF_REDIS_URL"
            )
        self.url = validate_redis_url(url, setting="redis_url")
        self.queue_name = queue or settings.queue
        self.namespace = namespace or settings.namespace
        if lease_ttl <= 0 or max_attempts < 1 or flush_interval <= 0 or max_chunk < 1:
            raise ConfigurationError(
                "lease_ttl and flush_interval must be > 0, max_attempts and max_chunk >= 1"
            )
        if outage_grace < 0:
            raise ConfigurationError(f"outage_grace must be >= 0 seconds, got {outage_grace!r}")
        self.outage_grace = float(outage_grace)
        self.lease_ttl = float(lease_ttl)
        self.check_interval = self.lease_ttl / 2
        self.max_attempts = max_attempts
        self.flush_interval = flush_interval
        self.max_chunk = max_chunk
        self.channel_ttl = CHANNEL_TTL
        timeout = settings.socket_timeout
        self.connection = redis_client(
            self.url, socket_timeout=timeout, connect_timeout=settings.connect_timeout
        )
        self.blocking = redis_client(
            self.url,
            socket_timeout=timeout + DEFAULT_LEASE_TTL,
            connect_timeout=settings.connect_timeout,
        )
        self.queue = Queue(self.queue_name, connection=self.connection, serializer=CodecSerializer)
        self._submits: _SubmitChannel | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<RQBackend {redact_url(self.url)} queue={self.queue_name!r}>"

    def worker_count(self) -> int:
        """Workers listening on this queue now (RQ's worker registry)."""
        return int(Worker.count(connection=self.connection, queue=self.queue))

    def map(
        self,
        fn_path: str,
        items: Sequence[Any],
        *,
        options: CallOptions,
        chunksize: int | None = None,
        **run_kwargs: Any,
    ) -> RQMapRun:
        """Enqueue ``items`` in chunks and return the run that collects their results."""
        if chunksize is None:
            try:
                workers = self.worker_count()
            except redis.RedisError as exc:
                raise _unavailable(self, exc) from None
            chunks = chunking.guided(len(items), workers, self.max_chunk)
        else:
            chunks = chunking.fixed(len(items), chunksize)
        return RQMapRun(self, items, options=options, chunks=chunks, **run_kwargs)

    def submit(
        self,
        options: CallOptions,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        stats: StatsBook | None = None,
    ) -> Future[Any]:
        """A future of one call run on a worker; it raises :class:`TaskItemError`."""
        with self._lock:
            if self._submits is None:
                self._submits = _SubmitChannel(self)
            channel = self._submits
        return channel.submit(options, (list(args), kwargs), stats)

    def close(self, cancel: bool = False) -> None:
        with self._lock:
            submits, self._submits = self._submits, None
        if submits is not None:
            submits.close(cancel)
        self.connection.close()
        self.blocking.close()


def _unavailable(backend: RQBackend, exc: Exception) -> BackendUnavailableError:
    return BackendUnavailableError(
        f"Redis at {redact_url(backend.url)} is unavailable for the executor: {exc}"
    )


_SERVER_AWAY = (
    redis.exceptions.ConnectionError,  # refused, reset, LOADING
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,  # a demoted master during a failover
    redis.exceptions.ClusterDownError,
)


class _Outage:
    """Riding out an unreachable server for up to the backend's ``outage_grace``.

    :meth:`failed` logs the start of an outage once and returns how long to back off
    before the next try (0.1 s doubling to 2 s), or raises ``BackendUnavailableError``
    once the grace is spent; :meth:`ended` says whether a success closes an outage
    (then the tracker checks its chunks at once, to re-run those lost with the server).
    """

    def __init__(self, backend: RQBackend, what: str) -> None:
        self.backend = backend
        self.what = what
        self.since: float | None = None
        self.backoff = 0.0

    def failed(self, exc: Exception) -> float:
        if not isinstance(exc, _SERVER_AWAY):  # NOPERM, WRONGTYPE, OOM...: no waiting helps
            raise _unavailable(self.backend, exc) from None
        now = time.monotonic()
        if self.since is None:
            self.since, self.backoff = now, 0.1
            log.warning(
                "Redis at %s is unreachable (%s): %s waits up to %.0f s for it",
                redact_url(self.backend.url),
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                self.what,
                self.backend.outage_grace,
            )
        elif now - self.since >= self.backend.outage_grace:
            raise _unavailable(self.backend, exc) from None
        else:
            self.backoff = min(2.0, self.backoff * 2)
        return min(self.backoff, max(0.0, self.since + self.backend.outage_grace - now))

    def ended(self) -> bool:
        if self.since is None:
            return False
        log.warning(
            "Redis at %s is back after %.1f s: %s goes on",
            redact_url(self.backend.url),
            time.monotonic() - self.since,
            self.what,
        )
        self.since = None
        return True


class RQMapRun(MapRun):
    """A map on RQ workers; see :class:`~admf_perf.execution.runs.MapRun`."""

    def __init__(
        self,
        backend: RQBackend,
        items: Sequence[Any],
        *,
        options: CallOptions,
        chunks: list[range],
        **kwargs: Any,
    ) -> None:
        super().__init__(items, **kwargs)
        self.backend = backend
        self.chunks = len(chunks)
        self.tracker = ChunkTracker(backend, options, items.__getitem__)
        self._outage = _Outage(backend, f"map {options.task_name}")
        try:
            self.tracker.add(chunks)
        except redis.RedisError as exc:
            raise _unavailable(backend, exc) from None
        if not items:
            self._close()

    @property
    def run_id(self) -> str:
        return self.tracker.run_id

    def _collect(self, timeout: float) -> list[tuple[int, Outcome]]:
        try:
            outcomes = self.tracker.poll(timeout)
        except redis.RedisError as exc:
            time.sleep(min(timeout, self._outage.failed(exc)))  # back off from a dead server
            return []
        if self._outage.ended():
            self.tracker.check_soon()
        return outcomes

    def _cancel_pending(self) -> None:
        self.tracker.cancel()

    def _release(self) -> None:
        self.tracker.close()


class _SubmitChannel:
    """All ``submit`` calls of one backend: one tracker, one collector thread."""

    def __init__(self, backend: RQBackend) -> None:
        self.backend = backend
        self._lock = threading.Lock()
        self._calls: dict[int, tuple[Future[Any], Any, CallOptions, StatsBook | None]] = {}
        self._trackers: dict[CallOptions, ChunkTracker] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, options: CallOptions, call: Any, stats: StatsBook | None) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit after shutdown")
            tracker = self._trackers.get(options)
            if tracker is None:
                tracker = ChunkTracker(self.backend, options, self._item)
                self._trackers[options] = tracker
            index = _next_index()
            self._calls[index] = (future, call, options, stats)
            try:
                (cid,) = tracker.add([[index]])
            except redis.RedisError as exc:
                del self._calls[index]
                raise _unavailable(self.backend, exc) from None
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._collect, name="admf-rq-collector", daemon=True
                )
                self._thread.start()
        future.add_done_callback(lambda f: self._on_cancel(f, tracker, index, cid))
        return future

    def _item(self, index: int) -> Any:
        return self._calls[index][1]

    def _on_cancel(self, future: Future[Any], tracker: ChunkTracker, index: int, cid: int) -> None:
        if not future.cancelled():
            return
        with self._lock:
            self._calls.pop(index, None)
            try:
                tracker.cancel([cid])
            except redis.RedisError as exc:
                log.warning("could not remove a cancelled call's job: %s", exc)

    def _collect(self) -> None:
        outage = _Outage(self.backend, "the submitted calls")
        while True:
            with self._lock:
                active = [t for t in self._trackers.values() if t.pending]
                if not active or self._closed:
                    self._thread = None
                    return
            slice_ = 0.2 if len(active) > 1 else 1.0
            for tracker in active:
                try:
                    self._resolve(tracker.poll(slice_))
                except redis.RedisError as exc:
                    try:
                        time.sleep(outage.failed(exc))  # back off from an unreachable server
                    except BackendUnavailableError as error:
                        for doomed in active:
                            self._fail_all(doomed, error)
                        outage = _Outage(self.backend, "the submitted calls")
                    break  # look again at which trackers are active
                if outage.ended():
                    for recovered in active:
                        recovered.check_soon()

    def _resolve(self, outcomes: list[tuple[int, Outcome]]) -> None:
        for index, (ok, value, seconds, attempts) in outcomes:
            with self._lock:
                entry = self._calls.pop(index, None)
            if entry is None:
                continue
            future, call, options, stats = entry
            if stats is not None:
                stats.record(options.task_name, seconds, ok)
            if future.cancelled():
                continue
            try:
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(
                        TaskItemError(
                            task_name=options.task_name,
                            index=0,
                            item=call,
                            exc_type=str(value[0]),
                            message=str(value[1]),
                            remote_traceback=str(value[2]),
                            attempts=attempts,
                        )
                    )
            except Exception:  # cancelled meanwhile
                pass

    def _fail_all(self, tracker: ChunkTracker, error: BackendUnavailableError) -> None:
        with self._lock:  # a submit() in between would add a chunk forget() drops
            doomed = [i for i, e in self._calls.items() if e[2] == tracker.options]
            entries = [self._calls.pop(i) for i in doomed]
            tracker.forget()
        for future, *_ in entries:
            if not future.done():
                future.set_exception(error)

    def close(self, cancel: bool) -> None:
        with self._lock:
            self._closed = True
            trackers = list(self._trackers.values())
            calls = list(self._calls.values())
            self._calls.clear()
        for tracker in trackers:
            if cancel:
                tracker.cancel()
            tracker.close()
        for future, *_ in calls:
            future.cancel()


_counter_lock = threading.Lock()
_counter = 0


def _next_index() -> int:
    global _counter
    with _counter_lock:
        _counter += 1
        return _counter
