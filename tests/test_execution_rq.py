"""map_tasks on a real RQ fleet: real server, real ``admf-perf worker`` processes.

Each test gets its own queue and namespace; workers import ``tests.tasks`` from the
repository root. Tests that wait on workers synchronise on Redis (markers the tasks
write, RQ's worker registry), never on a bare sleep.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import redis
from rq import Queue, Worker
from rq.job import Job

from admf_perf.config import configure
from admf_perf.errors import ConfigurationError, TaskError
from admf_perf.execution import (
    CPUManager,
    RQBackend,
    RQExecutor,
    TaskCancelledError,
    TaskItemError,
    UnimportableFunctionError,
)
from admf_perf.execution.serializer import CodecSerializer
from admf_perf.execution.worker import reap_dead_workers
from admf_perf.testing import WorkerProcess, unique_name, wait_until, worker_processes
from tests import tasks

ROOT = Path(__file__).resolve().parent.parent
WORKER_ARGS = ["--import", "tests.tasks", "--path", str(ROOT), "--log-level", "WARNING"]


class Fleet:
    """A queue, its workers, and a CPUManager whose backend is that queue."""

    def __init__(
        self, url: str, queue: str, workers: list[WorkerProcess], lease_ttl: float
    ) -> None:
        self.url = url
        self.queue = queue
        self.workers = workers
        self.client = redis.Redis.from_url(url)
        self.backend = RQBackend(url, queue, lease_ttl=lease_ttl)
        self.manager = CPUManager(backend=self.backend)

    def registered(self) -> int:
        return Worker.count(connection=self.client, queue=Queue(self.queue, connection=self.client))

    def queued(self) -> int:
        return int(self.client.llen(f"rq:queue:{self.queue}"))


@pytest.fixture
def make_fleet(redis_url: str, namespace: str, tmp_path: Path) -> Iterator[Callable[..., Fleet]]:
    stack: list[tuple[Fleet, object]] = []

    def make(count: int = 2, lease_ttl: float = 10.0) -> Fleet:
        queue = unique_name("q")
        ctx = worker_processes(
            redis_url, queue, count, extra_args=WORKER_ARGS, log_path=tmp_path / "workers.log"
        )
        workers = ctx.__enter__()
        fleet = Fleet(redis_url, queue, workers, lease_ttl)
        stack.append((fleet, ctx))
        wait_until(lambda: fleet.registered() == count, what=f"{count} workers to register")
        return fleet

    yield make
    for fleet, ctx in stack:
        fleet.manager.shutdown()
        ctx.__exit__(None, None, None)  # type: ignore[attr-defined]
        fleet.client.close()


def test_map_returns_10000_results_in_item_order(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet()
    assert fleet.manager.map_tasks(tasks.square, range(10_000)) == [x * x for x in range(10_000)]
    stats = fleet.manager.get_task_stats("tests.tasks.square")
    assert (stats["count"], stats["failures"]) == (10_000, 0)


def test_failed_item_carries_item_type_and_remote_traceback(
    make_fleet: Callable[..., Fleet],
) -> None:
    fleet = make_fleet()
    with pytest.raises(TaskError) as caught:
        fleet.manager.map_tasks(tasks.fail_on, range(8), chunksize=3)
    err = caught.value
    assert isinstance(err, TaskItemError)
    assert (err.index, err.item, err.exc_type, err.message) == (3, 3, "ValueError", "item 3 is bad")
    assert "tests/tasks.py" in err.remote_traceback
    assert 'raise ValueError(f"item {x} is bad")' in err.remote_traceback
    out = fleet.manager.map_tasks(tasks.fail_odd, range(6), return_exceptions=True)
    assert out[0::2] == [0, 2, 4]
    assert [e.item for e in out[1::2]] == [1, 3, 5]
    stats = fleet.manager.get_task_stats("tests.tasks.fail_odd")
    assert (stats["count"], stats["failures"]) == (6, 3)


def test_hanging_task_is_killed_by_its_timeout_and_the_worker_goes_on(
    make_fleet: Callable[..., Fleet],
) -> None:
    fleet = make_fleet(count=1)
    started = time.monotonic()
    out = fleet.manager.map_tasks(
        tasks.hang_on, range(4), chunksize=4, timeout=0.5, return_exceptions=True
    )
    assert time.monotonic() - started < 10
    assert [out[0], out[2], out[3]] == [0, 2, 3]
    assert isinstance(out[1], TaskItemError) and out[1].exc_type == "TaskTimeoutError"
    assert fleet.manager.map_tasks(tasks.square, [7]) == [49]


def test_retries_rerun_failed_items_on_workers(
    make_fleet: Callable[..., Fleet], tmp_path: Path
) -> None:
    fleet = make_fleet(count=1)
    ok, gave_up = fleet.manager.map_tasks(
        tasks.flaky,
        [[str(tmp_path / "a"), 1], [str(tmp_path / "b"), 9]],
        retries=1,
        retry_backoff=0.01,
        return_exceptions=True,
    )
    assert ok == "ok"
    assert isinstance(gave_up, TaskItemError) and gave_up.attempts == 2


@pytest.mark.slow
@pytest.mark.fault
def test_worker_killed_mid_chunk_loses_and_duplicates_no_item(
    make_fleet: Callable[..., Fleet], namespace: str
) -> None:
    fleet = make_fleet(count=2, lease_ttl=1.0)
    marks = f"{namespace}:test:started"
    items = [[fleet.url, marks, i, 0.3] for i in range(12)]
    run = fleet.manager.imap_unordered(tasks.mark_then_wait, items, chunksize=3, with_index=True)
    _, first = fleet.client.blpop([marks], timeout=30)  # a worker is inside a chunk
    victim_pid = int(first.decode().split(":")[1])
    victim = next(w for w in fleet.workers if w.pid == victim_pid)
    victim.kill()
    pairs = list(run)
    assert sorted(i for i, _ in pairs) == list(range(12))
    assert all(index == value for index, value in pairs)
    later = [m.decode().split(":") for m in fleet.client.lrange(marks, 0, -1)]
    killed_item = first.decode().split(":")[0]
    reruns = [pid for item, pid in later if item == killed_item]
    assert reruns and all(int(pid) != victim_pid for pid in reruns)  # ran again elsewhere


def test_cancel_removes_the_maps_pending_jobs(redis_url: str, namespace: str) -> None:
    queue = unique_name("q")
    client = redis.Redis.from_url(redis_url)
    manager = CPUManager(backend=RQBackend(redis_url, queue))
    run = manager.map_async(tasks.square, range(100), chunksize=10)
    assert client.llen(f"rq:queue:{queue}") == 10
    assert run.cancel()
    assert client.llen(f"rq:queue:{queue}") == 0
    assert not list(client.scan_iter(match=f"rq:job:{namespace}-{run.tracker.run_id}-*"))
    with pytest.raises(TaskCancelledError):
        run.result()
    manager.shutdown()


def test_ctrl_c_during_map_removes_its_pending_jobs(redis_url: str, namespace: str) -> None:
    queue = unique_name("q")
    client = redis.Redis.from_url(redis_url)
    manager = CPUManager(backend=RQBackend(redis_url, queue))
    main = threading.main_thread().ident
    assert main is not None

    def press_ctrl_c() -> None:
        wait_until(lambda: client.llen(f"rq:queue:{queue}") == 10, what="the map's jobs")
        signal.pthread_kill(main, signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    with pytest.raises(KeyboardInterrupt):
        manager.map_tasks(tasks.square, range(100), chunksize=10)
    presser.join()
    assert client.llen(f"rq:queue:{queue}") == 0
    manager.shutdown()


def _nested_function() -> Callable[[int], int]:
    def inner(x: int) -> int:
        return x

    return inner


def test_unimportable_functions_are_rejected_at_submit(redis_url: str, namespace: str) -> None:
    queue = unique_name("q")
    client = redis.Redis.from_url(redis_url)
    manager = CPUManager(backend=RQBackend(redis_url, queue))
    in_main: dict[str, object] = {"__name__": "__main__"}
    exec("def from_main(x):\n    return x\n", in_main)
    for fn, name in [
        (lambda x: x, "<lambda>"),
        (_nested_function(), "inner"),
        (in_main["from_main"], "from_main"),
    ]:
        with pytest.raises(UnimportableFunctionError, match=name) as caught:
            manager.map_tasks(fn, [1, 2])  # type: ignore[arg-type]
        assert isinstance(caught.value, ConfigurationError)
        with pytest.raises(UnimportableFunctionError):
            manager.submit_task(fn, 1)  # type: ignore[arg-type]
    assert client.llen(f"rq:queue:{queue}") == 0
    manager.shutdown()


def test_worker_refuses_a_job_naming_os_remove(
    make_fleet: Callable[..., Fleet], tmp_path: Path
) -> None:
    fleet = make_fleet(count=1)
    victim = tmp_path / "precious.csv"
    victim.write_text("keep me")
    queue = Queue(fleet.queue, connection=fleet.client, serializer=CodecSerializer)
    jobs = [
        queue.enqueue("os.remove", str(victim)),
        queue.enqueue("tests.tasks.os.remove", str(victim)),  # reached through an allowed module
    ]
    for job in jobs:
        result = job.latest_result(timeout=20)  # RQ's blocking read of the job's outcome
        assert result is not None and result.type == result.Type.FAILED
        assert "ForbiddenFunctionError" in (result.exc_string or "")
        assert Job.fetch(job.id, connection=fleet.client).get_status() == "failed"
    assert victim.read_text() == "keep me"


def test_local_and_rq_backends_give_equal_results(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet()
    items = list(range(-50, 50))
    local = CPUManager(backend="local")
    expected = local.map_tasks(tasks.square, items)
    assert local.map_tasks(tasks.square, items, use_process=True) == expected
    assert fleet.manager.map_tasks(tasks.square, items) == expected
    assert fleet.manager.map_tasks(tasks.square, items, chunksize=1) == expected
    assert fleet.manager.submit_task(tasks.add, 2, b=40).result(timeout=20) == 42
    assert local.submit_task(tasks.add, 2, b=40).result() == 42
    local.shutdown()
    configure(executor="rq", queue=fleet.queue)  # ADMF_EXECUTOR=rq: no backend= needed
    with CPUManager() as from_settings:
        assert from_settings.map_tasks(tasks.square, items) == expected
        assert from_settings.map_tasks(tasks.square, items, backend=fleet.url) == expected
        assert from_settings.map_tasks(tasks.square, items, backend="local") == expected


def test_rq_executor_drops_in_for_a_process_pool(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet()
    with RQExecutor(backend=fleet.backend, task_name="grid") as pool:
        futures = [pool.submit(tasks.add, i, b=1) for i in range(20)]
        assert [f.result(timeout=20) for f in futures] == list(range(1, 21))
        assert list(pool.map(tasks.add, range(30), range(30))) == [2 * i for i in range(30)]
        with pytest.raises(TaskItemError):
            pool.submit(tasks.fail_on, 3).result(timeout=20)


def test_task_name_shows_in_rq_job_description_and_meta(redis_url: str, namespace: str) -> None:
    queue = unique_name("q")
    client = redis.Redis.from_url(redis_url)
    manager = CPUManager(backend=RQBackend(redis_url, queue))
    run = manager.map_async(tasks.square, range(10), chunksize=5, task_name="sma-grid")
    job_id = client.lindex(f"rq:queue:{queue}", 0).decode()
    job = Job.fetch(job_id, connection=client, serializer=CodecSerializer)
    assert "sma-grid" in job.description
    assert job.meta["task_name"] == "sma-grid" and job.meta["items"] == 5
    run.cancel()
    manager.shutdown()


@pytest.mark.slow
def test_processes_supervisor_stops_all_workers_on_sigterm(redis_url: str, namespace: str) -> None:
    queue = unique_name("q")
    client = redis.Redis.from_url(redis_url)
    supervisor = WorkerProcess(redis_url, queue, extra_args=[*WORKER_ARGS, "--processes", "2"])
    rq_queue = Queue(queue, connection=client)
    try:
        wait_until(lambda: Worker.count(connection=client, queue=rq_queue) == 2, what="2 workers")
        pids = {w.pid for w in Worker.all(connection=client, queue=rq_queue)}
        assert supervisor.pid not in pids
        supervisor.process.send_signal(signal.SIGTERM)
        assert supervisor.process.wait(timeout=20) == 0
        assert Worker.count(connection=client, queue=rq_queue) == 0
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        supervisor.stop()


def test_a_stop_during_the_workers_start_up_is_clean(redis_url: str, namespace: str) -> None:
    """SIGTERM while the supervised workers still import (numpy has started its BLAS
    threads by then): they stop cleanly, exit 0 and leave no ghost in RQ's registry."""
    queue = unique_name("q")
    client = redis.Redis.from_url(redis_url)
    supervisor = WorkerProcess(redis_url, queue, extra_args=[*WORKER_ARGS, "--processes", "2"])
    try:
        parent = psutil.Process(supervisor.pid)
        wait_until(lambda: len(parent.children()) == 2, what="2 worker processes")
        supervisor.process.send_signal(signal.SIGTERM)
        assert supervisor.process.wait(timeout=30) == 0
        assert Worker.count(connection=client, queue=Queue(queue, connection=client)) == 0
    finally:
        supervisor.stop()


def test_a_worker_killed_by_a_signal_makes_the_supervisor_fail(
    redis_url: str, namespace: str
) -> None:
    """A child that dies of SIGKILL while the supervisor stops is a failure (137), not 0,
    even when its sibling stops cleanly."""
    queue = unique_name("q")
    client = redis.Redis.from_url(redis_url)
    supervisor = WorkerProcess(redis_url, queue, extra_args=[*WORKER_ARGS, "--processes", "2"])
    rq_queue = Queue(queue, connection=client)
    try:
        wait_until(lambda: Worker.count(connection=client, queue=rq_queue) == 2, what="2 workers")
        victim = Worker.all(connection=client, queue=rq_queue)[0].pid
        assert victim != supervisor.pid
        os.kill(victim, signal.SIGSTOP)  # frozen: it can't act on the SIGTERM to come
        supervisor.process.send_signal(signal.SIGTERM)
        os.kill(victim, signal.SIGKILL)
        assert supervisor.process.wait(timeout=20) == 128 + signal.SIGKILL
    finally:
        supervisor.stop()
        reap_dead_workers(redis_url, [queue])


def test_workers_killed_before_unregistering_are_reaped(redis_url: str, namespace: str) -> None:
    queue = unique_name("q")
    client = redis.Redis.from_url(redis_url)
    rq_queue = Queue(queue, connection=client)
    worker = WorkerProcess(redis_url, queue, extra_args=WORKER_ARGS)
    try:
        wait_until(lambda: Worker.count(connection=client, queue=rq_queue) == 1, what="a worker")
        worker.kill()  # kill -9: no chance to unregister
        assert Worker.count(connection=client, queue=rq_queue) == 1, "RQ still lists the ghost"
        assert reap_dead_workers(redis_url, [queue]) == 1
        assert Worker.count(connection=client, queue=rq_queue) == 0
    finally:
        worker.stop()


def test_outcomes_taken_off_redis_survive_a_failed_re_run(
    redis_url: str, namespace: str, redis_client: redis.Redis
) -> None:
    """Chunk 0 reports its results and chunk 1 gives up in the same poll; pushing chunk
    1's re-run fails (its queue key now holds a string: WRONGTYPE). The results of chunk
    0 were already taken off Redis: they must still reach the caller."""
    queue = unique_name("q")
    backend = RQBackend(redis_url, queue)
    manager = CPUManager(backend=backend)
    run = manager.map_async(tasks.square, [1, 2, 3, 4], chunksize=2)  # no worker: we answer
    try:
        channel = run.tracker.channel
        redis_client.rpush(
            channel,
            CodecSerializer.dumps(["R", 0, 0, True, [[0, True, 1, 0.0, 1], [1, True, 4, 0.0, 1]]]),
            CodecSerializer.dumps(["X", 1, 0, "the worker gave up"]),
        )
        queue_key = backend.queue.key
        redis_client.delete(queue_key)
        redis_client.set(queue_key, "not a list")
        in_order = run.iter_ordered(timeout=10)  # TimeoutError if they were lost
        assert [next(in_order), next(in_order)] == [1, 4]
    finally:
        redis_client.delete(backend.queue.key)
        run.cancel()
        manager.shutdown()
