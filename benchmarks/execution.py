"""map_tasks on an RQ fleet against plain RQ and ProcessPoolExecutor, 2 workers each.

- ``execution_noop``: 10,000 no-op items through ``map_tasks`` on two ``admf-perf
  worker`` processes, against plain RQ (one job per item, two default forking ``rq
  worker`` processes: the anchor). Plain RQ costs milliseconds per job, so it runs a
  smaller batch; the ratio is per item. Goal: <= 0.05 (20x plain RQ).
- ``execution_5ms``: 1,000 items of 5 ms CPU each through ``map_tasks`` on RQ and through
  ``ProcessPoolExecutor(2)`` with chunksize 1 and 50 (the anchor). Goal: <= 1.11
  (at least 0.9x the pool's throughput).

The workers import this module (``--import benchmarks.execution``) for the task functions.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import redis
from rq import Queue

from admf_perf.server import EmbeddedServer
from admf_perf.testing import WorkerProcess, unique_name
from benchmarks.harness import Suite

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2
LOG = Path(tempfile.gettempdir()) / "admf-bench-workers.log"
"""Worker warnings and errors during the benchmark (empty when all went well)."""


def noop(x: Any) -> None:
    return None


def spin(seconds: float) -> float:
    """Busy CPU for ``seconds``: a stand-in for a short backtest."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return seconds


class _Env:
    """Server, worker fleets and pool shared by the suites; started once, stopped once."""

    def __init__(self) -> None:
        self.server = EmbeddedServer()
        self.processes: list[Any] = []
        self.users = 0
        self.url = ""
        self.admf_queue = unique_name("bench")
        self.plain_queue = unique_name("plain")
        self.client: redis.Redis | None = None
        self.manager: Any = None
        self.pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        self.users += 1
        if self.users > 1:
            return
        from admf_perf.execution import CPUManager, RQBackend

        self.server.start()
        self.url = self.server.url
        self.client = redis.Redis.from_url(self.url)
        args = ["--import", "benchmarks.execution", "--path", str(ROOT), "--log-level", "WARNING"]
        for _ in range(WORKERS):
            self.processes.append(
                WorkerProcess(self.url, self.admf_queue, extra_args=args, log_path=LOG)
            )
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "rq.cli", "worker", "--url", self.url, "--quiet",
                     "--path", str(ROOT), self.plain_queue],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        self.manager = CPUManager(backend=RQBackend(self.url, self.admf_queue))
        self.pool = ProcessPoolExecutor(WORKERS)
        list(self.pool.map(noop, range(WORKERS * 4)))  # start the pool's processes
        self._wait_for_workers()

    def _wait_for_workers(self) -> None:
        from rq import Worker

        assert self.client is not None
        deadline = time.monotonic() + 60
        for name in (self.admf_queue, self.plain_queue):
            queue = Queue(name, connection=self.client)
            while Worker.count(connection=self.client, queue=queue) < WORKERS:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"workers of {name} did not start")
                time.sleep(0.05)  # worker registration has no event to wait on

    def stop(self) -> None:
        self.users -= 1
        if self.users > 0:
            return
        if self.manager is not None:
            self.manager.shutdown()
        if self.pool is not None:
            self.pool.shutdown()
        for proc in self.processes:
            if isinstance(proc, WorkerProcess):
                proc.stop()
            else:
                proc.terminate()
                proc.wait(10)
        self.server.stop()

    def plain_rq(self, fn: Any, count: int) -> None:
        """Plain RQ: one job per item, enqueued in one pipeline, all waited for."""
        assert self.client is not None
        queue = Queue(self.plain_queue, connection=self.client)
        finished = queue.finished_job_registry
        before = finished.count
        datas = [Queue.prepare_data(fn, args=(i,), result_ttl=600) for i in range(count)]
        with self.client.pipeline() as pipe:
            queue.enqueue_many(datas, pipeline=pipe)
            pipe.execute()
        while finished.count < before + count:
            time.sleep(0.005)  # plain RQ offers no cheaper way to wait for many jobs
        self.client.delete(finished.key)


def build(quick: bool) -> list[Suite]:
    env = _Env()
    many = 1_000 if quick else 10_000
    plain = 100 if quick else 300
    noop_suite = Suite(
        "execution_noop",
        anchor="plain RQ, 1 job/item",
        repeat=3,
        setup=env.start,
        teardown=env.stop,
        notes=[
            f"{WORKERS} workers on one host; plain RQ runs {plain} items per sample, map_tasks {many}",
            "map_tasks: chunks of items, msgpack payloads, results pushed to a Redis list",
        ],
    )
    # plain RQ runs the builtin abs: its work horses import nothing per job, the
    # cheapest plain RQ can be (a task in a module importing pandas costs ~0.2 s/job)
    noop_suite.add("plain RQ, 1 job/item", lambda: env.plain_rq(abs, plain), ops=plain)
    noop_suite.add(
        "map_tasks rq",
        lambda: env.manager.map_tasks(noop, range(many)),
        ops=many,
        goal="<= 0.05",
    )

    busy = 200 if quick else 1_000
    items = [0.005] * busy
    busy_suite = Suite(
        "execution_5ms",
        anchor="ProcessPoolExecutor(2) chunksize=50",
        repeat=5,
        setup=env.start,
        teardown=env.stop,
        notes=[f"{busy} items of 5 ms busy CPU, {WORKERS} workers or pool processes"],
    )
    busy_suite.add(
        "ProcessPoolExecutor(2) chunksize=50",
        lambda: list(env.pool.map(spin, items, chunksize=50)),  # type: ignore[union-attr]
        ops=busy,
    )
    busy_suite.add(
        "ProcessPoolExecutor(2) chunksize=1",
        lambda: list(env.pool.map(spin, items, chunksize=1)),  # type: ignore[union-attr]
        ops=busy,
    )
    busy_suite.add(
        "map_tasks rq", lambda: env.manager.map_tasks(spin, items), ops=busy, goal="<= 1.11"
    )
    return [noop_suite, busy_suite]
