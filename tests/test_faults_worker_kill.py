"""Workers killed with ``kill -9`` again and again during one large map: every item's
result comes back exactly once, and the killed workers' items run again elsewhere.

(tests/test_execution_rq.py kills one worker once in a 12-item map; this is the
repeated, larger version, with replacements joining the fleet mid-map.)
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue, Worker

from admf_perf.execution import CPUManager, RQBackend
from admf_perf.testing import WorkerProcess, unique_name, wait_until
from tests import fault_tasks

pytestmark = [pytest.mark.fault, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
WORKER_ARGS = ["--import", "tests.fault_tasks", "--path", str(ROOT), "--log-level", "WARNING"]
ITEMS = 800
KILLS = 4
FLEET = 3


def test_workers_killed_again_and_again_lose_and_duplicate_no_item(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    queue, marks = unique_name("q"), f"{namespace}:test:marks"
    client = redis.Redis.from_url(redis_url)
    rq_queue = Queue(queue, connection=client)

    def start_worker() -> WorkerProcess:
        return WorkerProcess(redis_url, queue, extra_args=WORKER_ARGS, log_path=tmp_path / "w.log")

    fleet = [start_worker() for _ in range(FLEET)]
    manager = CPUManager(backend=RQBackend(redis_url, queue, lease_ttl=1.0, max_attempts=KILLS + 2))
    try:
        wait_until(lambda: Worker.count(connection=client, queue=rq_queue) == FLEET, what="workers")
        items = [[redis_url, marks, i, 0.01] for i in range(ITEMS)]
        run = manager.imap_unordered(
            fault_tasks.marked_square, items, chunksize=20, with_index=True
        )
        got: list[tuple[int, Any]] = []
        failure: list[BaseException] = []

        def collect() -> None:
            try:
                got.extend(run)
            except BaseException as exc:  # reported below
                failure.append(exc)

        collector = threading.Thread(target=collect)
        collector.start()
        seen: list[tuple[int, int]] = []  # (item, pid) in the order items started
        killed: list[tuple[int, int]] = []
        while len(killed) < KILLS:
            popped = client.blpop([marks], timeout=30)
            assert popped is not None, "no item started for 30 s"
            item, pid = map(int, popped[1].decode().split(":"))
            seen.append((item, pid))
            victim = next((w for w in fleet if w.pid == pid and w.process.poll() is None), None)
            if victim is None or item < 40 * len(killed):
                continue  # spread the kills over the map
            victim.kill()  # mid-item, so mid-chunk: its item has no result yet
            killed.append((item, pid))
            fleet.append(start_worker())  # a replacement joins while the map runs
        collector.join(timeout=120)
        assert not collector.is_alive(), "the map did not finish"
        assert not failure, failure
    finally:
        manager.shutdown()
        for worker in fleet:
            worker.stop()

    counts = Counter(index for index, _ in got)
    assert sorted(counts) == list(range(ITEMS)), "an item was lost"
    assert max(counts.values()) == 1, "an item's result came back twice"
    assert all(value == index * index for index, value in got), "a wrong result"
    for mark in client.lrange(marks, 0, -1):
        item, pid = map(int, mark.decode().split(":"))
        seen.append((item, pid))
    runs = Counter(item for item, _ in seen)
    reran = [item for item, pid in killed if any(i == item and p != pid for i, p in seen)]
    assert reran, "no killed item ran again elsewhere"
    print(
        f"\n{KILLS} workers killed mid-chunk in a {ITEMS}-item map: every result once, "
        f"{sum(runs.values()) - ITEMS} item runs repeated, killed items re-run: {len(reran)}/{KILLS}"
    )
    client.close()
