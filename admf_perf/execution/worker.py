"""The ``admf-perf worker`` process: an RQ worker that runs chunks in-process, safely.

- No fork per job: :class:`AdmfWorker` is an RQ ``SimpleWorker``. numpy, pandas and the
  ``--import`` modules are loaded once at start, and each chunk runs in the main thread,
  so RQ's SIGALRM job timeout and the per-item timeouts both work. A thread keeps RQ's
  worker and job heartbeats fresh while a long chunk runs.
- No pickle: jobs are read with :class:`~admf_perf.execution.serializer.CodecSerializer`;
  a payload that is not our msgpack fails to deserialize and the job fails, unrun.
- Only allowed code: :class:`AdmfJob` runs a job's function, and its callbacks, only if
  its module is in the worker's :class:`~admf_perf.execution.serializer.Allowlist`: the
  modules given with ``--import`` and ``--allow``, plus ``ADMF_WORKER_ALLOW``. The chunk
  runner is always allowed. A job naming ``os.remove`` fails with
  :class:`~admf_perf.execution.errors.ForbiddenFunctionError`.
- Redis going away (a restart, a failover) does not end the process: RQ's loop quits,
  and :func:`run_worker` waits for the server with back-off and serves again.
- ``--processes N`` runs N such workers under :func:`supervise`, which forwards SIGTERM /
  Ctrl-C to all of them (a warm shutdown: each finishes its chunk) and restarts one that
  dies, unless in burst mode.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import redis
from rq.exceptions import StopRequested
from rq.job import Job
from rq.queue import Queue
from rq.worker import SimpleWorker, WorkerStatus

from admf_perf.config import get_settings, redact_url
from admf_perf.errors import ConfigurationError
from admf_perf.execution.errors import ForbiddenFunctionError
from admf_perf.execution.runner import get_allowlist, set_allowlist
from admf_perf.execution.serializer import Allowlist, CodecSerializer
from admf_perf.server import _die_with_parent
from admf_perf.stores.connection import redis_client

log = logging.getLogger(__name__)

PRELOAD = ("numpy", "pandas")
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_early_stops: list[int] = []


def _record_stop(signum: int, frame: FrameType | None) -> None:
    """Until RQ installs its handlers: remember a stop instead of dying unregistered.
    A second stop (Ctrl-C again) ends the process at once."""
    if _early_stops:
        raise SystemExit(128 + signum)
    _early_stops.append(signum)


def _record_stops_until_rq_handles_them() -> None:
    for stop_signal in _STOP_SIGNALS:
        signal.signal(stop_signal, _record_stop)


def _prepare_child() -> None:  # runs in a supervised child between fork and exec
    """Block the stop signals in every thread the child will have (numpy's BLAS threads
    included: they inherit the mask; :func:`run_worker` unblocks them in the main thread
    once its handler records them), and let the child die with its supervisor."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    if sys.platform == "linux":
        _die_with_parent()


class AdmfJob(Job):
    """An RQ job that runs only functions and callbacks from allowed modules."""

    def _execute(self) -> Any:
        if self.instance is not None:
            raise ForbiddenFunctionError(f"refused job {self.id}: jobs calling methods of objects")
        fn = get_allowlist().resolve(str(self.func_name))
        return fn(*self.args, **self.kwargs)

    def _callback_allowed(self, name: str | None) -> bool:
        if not name:
            return True
        try:
            get_allowlist().check(name)
        except ForbiddenFunctionError as exc:
            log.warning("job %s: callback skipped: %s", self.id, exc)
            return False
        return True

    @property
    def success_callback(self) -> Any:
        if not self._callback_allowed(self._success_callback_name):
            return None
        return Job.success_callback.fget(self)  # type: ignore[attr-defined]

    @property
    def failure_callback(self) -> Any:
        if not self._callback_allowed(self._failure_callback_name):
            return None
        return Job.failure_callback.fget(self)  # type: ignore[attr-defined]

    @property
    def stopped_callback(self) -> Any:
        if not self._callback_allowed(self._stopped_callback_name):
            return None
        return Job.stopped_callback.fget(self)  # type: ignore[attr-defined]


class AdmfWorker(SimpleWorker):
    """A ``SimpleWorker`` on the codec serializer and :class:`AdmfJob`, with heartbeats
    kept during long jobs."""

    job_class = AdmfJob
    stop_asked = False
    """A stop signal arrived (RQ's own flag is set only when one arrives mid-job)."""

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_asked = True
        super().request_stop(signum, frame)

    def check_for_suspension(self, burst: bool) -> None:
        # first thing inside RQ's loop: a stop recorded before RQ's own handlers were in
        # place (while it registered this worker) ends the loop cleanly, unregistered
        if _early_stops:
            self.request_stop(_early_stops.pop(), None)
        super().check_for_suspension(burst)

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        done = threading.Event()
        beat = threading.Thread(
            target=self._beat, args=(job, execution, done), name="admf-rq-heartbeat", daemon=True
        )
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            done.set()
            beat.join()
        self.set_state(WorkerStatus.IDLE)

    def _beat(self, job: Job, execution: Any, done: threading.Event) -> None:
        while not done.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception as exc:  # a missed beat is logged, never fatal
                log.warning("heartbeat for job %s failed: %s", job.id, exc)


def preload(modules: Sequence[str]) -> None:
    """Import numpy/pandas (if installed) and ``modules`` now, once for every job."""
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise ConfigurationError(
                f"--import {name} failed: {type(exc).__name__}: {exc}"
            ) from None


def run_worker(
    url: str,
    queues: Sequence[str],
    *,
    burst: bool = False,
    imports: Sequence[str] = (),
    allow: Sequence[str] = (),
    paths: Sequence[str] = (".",),
    name: str | None = None,
    logging_level: str = "INFO",
    worker_ttl: int | None = None,
) -> bool:
    """Serve ``queues`` on ``url`` in this process until stopped (or empty, in burst mode)."""
    _early_stops.clear()
    _record_stops_until_rq_handles_them()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # held by a supervisor
    for path in reversed(paths):
        full = os.path.abspath(path)
        if full not in sys.path:
            sys.path.insert(0, full)
    preload(imports)
    allowlist = Allowlist.from_env([*imports, *allow])
    set_allowlist(allowlist)
    connection = redis_client(url, connect_timeout=get_settings().connect_timeout)
    try:
        connection.ping()
    except redis.RedisError as exc:
        raise ConfigurationError(f"cannot reach Redis at {redact_url(url)}: {exc}") from None
    try:
        while True:
            if _early_stops:  # stopped while starting: nothing registered, nothing to undo
                return False
            worker = AdmfWorker(
                list(queues),
                connection=connection,
                serializer=CodecSerializer,
                job_class=AdmfJob,
                name=name,
                worker_ttl=worker_ttl,
            )
            log.info(
                "worker %s on %s, queues %s, allowed modules: %s",
                worker.name,
                redact_url(url),
                ", ".join(queues),
                ", ".join(allowlist.prefixes) or "(chunk runner only)",
            )
            try:
                worked = worker.work(burst=burst, logging_level=logging_level, with_scheduler=False)
            except redis.RedisError as exc:  # its teardown could not reach Redis either
                log.warning("worker %s lost Redis: %s", worker.name, exc)
            else:
                if burst or worker.stop_asked:
                    return bool(worked)
            # between loops RQ's handlers (which talk to Redis) must not run: record again
            _record_stops_until_rq_handles_them()
            # RQ's loop quits when Redis goes away (a restart, a failover): wait for the
            # server and serve again, rather than leave the queue without this worker
            _wait_for_server(connection, worker, url)
    except StopRequested:  # a stop signal between two work loops
        return False


def _wait_for_server(connection: redis.Redis, worker: AdmfWorker, url: str) -> None:
    """Ping with back-off until the server answers; a stop signal raises StopRequested."""
    delay = 0.5
    while True:
        time.sleep(delay)  # back-off, also when RQ's loop quits again at once
        if worker.stop_asked or _early_stops:
            raise StopRequested()
        try:
            connection.ping()
        except redis.RedisError:
            delay = min(delay * 2, 10.0)
            continue
        with contextlib.suppress(redis.RedisError):
            worker.register_death()  # if its teardown could not: no ghost, the name is free
        log.warning("Redis at %s answers again: serving the queues", redact_url(url))
        return


def supervise(argv_for: Callable[[int], list[str]], processes: int, *, burst: bool = False) -> int:
    """Run ``processes`` workers, ``python -m admf_perf worker ARGV_FOR(i)``; stop them all
    on SIGTERM or Ctrl-C (a third signal: SIGKILL). Returns the worst exit code (a child
    killed by a signal counts as 128 + the signal's number)."""
    children: dict[int, tuple[int, subprocess.Popen[bytes]]] = {}
    stopping = threading.Event()
    signals = 0

    def spawn(index: int) -> None:
        child = subprocess.Popen(
            [sys.executable, "-m", "admf_perf", "worker", *argv_for(index)],
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it forwards once
            preexec_fn=_prepare_child,  # noqa: PLW1509
        )
        children[child.pid] = (index, child)
        if stopping.is_set():  # the stop came while it started: it never got the signal
            child.send_signal(signal.SIGTERM)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal signals
        signals += 1
        stopping.set()
        sig = signal.SIGTERM if signals <= 2 else signal.SIGKILL
        for _, child in list(children.values()):
            if child.poll() is None:
                child.send_signal(sig)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    worst = 0
    try:
        for index in range(processes):
            if not stopping.is_set():
                spawn(index)
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            entry = children.pop(pid, None)
            if entry is None:
                continue
            index, child = entry
            code = os.waitstatus_to_exitcode(status)
            child.returncode = code
            if code < 0:  # killed by a signal: 128 + its number, as a shell reports it
                code = 128 - code
            if stopping.is_set() or burst:
                worst = max(worst, code)
                continue
            log.warning("worker process %d exited with %d; starting another", pid, code)
            if not stopping.wait(1.0):  # don't spin if workers keep dying
                spawn(index)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return worst


def child_args(
    *,
    url: str,
    queues: Sequence[str],
    burst: bool,
    imports: Sequence[str],
    allow: Sequence[str],
    paths: Sequence[str],
    name: str | None,
    index: int | None = None,
    logging_level: str,
) -> list[str]:
    """The ``admf-perf worker`` arguments of one supervised worker process.

    A URL the supervisor read from ``ADMF_REDIS_URL`` reaches the child the same way
    (it inherits the environment), never in its arguments: ``ps`` shows those to every
    user of the host, password included.
    """
    args = ["--log-level", logging_level]
    if os.environ.get("ADMF_REDIS_URL") != url:
        args = ["--url", url, *args]
    for queue in queues:
        args += ["--queue", queue]
    for module in imports:
        args += ["--import", module]
    for prefix in allow:
        args += ["--allow", prefix]
    for path in paths:
        args += ["--path", os.path.abspath(path)]
    if burst:
        args.append("--burst")
    if name:
        args += ["--name", f"{name}-{index}" if index is not None else name]
    return args


def reap_dead_workers(url: str, queues: Sequence[str]) -> int:
    """Remove from RQ's registry the workers of ``queues`` that ran on this host and whose
    process is gone (one killed before it could unregister would stay listed until its
    key expired). Returns how many were removed."""
    import socket

    import psutil
    from rq import Queue, Worker

    connection = redis_client(url, connect_timeout=get_settings().connect_timeout)
    host = socket.gethostname()
    removed = 0
    for name in queues:
        queue = Queue(name, connection=connection, serializer=CodecSerializer)
        for worker in Worker.all(connection=connection, queue=queue, serializer=CodecSerializer):
            if worker.hostname == host and worker.pid and not psutil.pid_exists(worker.pid):
                worker.register_death()
                removed += 1
    return removed
