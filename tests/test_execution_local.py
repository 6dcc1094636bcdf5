"""CPUManager on local pools: order, failures, timeouts, retries, stats, the singleton.

The RQ fleet has its own file (test_execution_rq.py); these need no server.
"""

from __future__ import annotations

import os
import pickle
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from admf_perf.errors import ConfigurationError, TaskError
from admf_perf.execution import CPUManager, TaskItemError, chunking
from admf_perf.execution.progress import MapProgress
from tests import tasks


@pytest.fixture
def manager() -> CPUManager:
    with CPUManager(backend="local") as cpu:
        cpu.init_thread_pool(4)
        cpu.init_process_pool(2)
        yield cpu


@pytest.mark.parametrize("use_process", [False, True])
def test_map_returns_results_in_item_order(manager: CPUManager, use_process: bool) -> None:
    assert manager.map_tasks(tasks.square, range(500), use_process=use_process) == [
        x * x for x in range(500)
    ]


@pytest.mark.parametrize("use_process", [False, True])
def test_failed_item_raises_task_error_after_the_others_ran(
    manager: CPUManager, use_process: bool
) -> None:
    with pytest.raises(TaskError) as caught:
        manager.map_tasks(tasks.fail_on, range(6), use_process=use_process, chunksize=2)
    err = caught.value
    assert isinstance(err, TaskItemError)
    assert (err.index, err.item, err.exc_type) == (3, 3, "ValueError")
    assert 'raise ValueError(f"item {x} is bad")' in err.remote_traceback
    assert "\n" not in str(err)
    stats = manager.get_task_stats("tests.tasks.fail_on")
    assert (stats["count"], stats["failures"]) == (6, 1)


def test_return_exceptions_puts_errors_in_place(manager: CPUManager) -> None:
    out = manager.map_tasks(tasks.fail_odd, range(5), return_exceptions=True)
    assert out[0::2] == [0, 2, 4]
    assert all(isinstance(e, TaskItemError) and e.exc_type == "ValueError" for e in out[1::2])


@pytest.mark.parametrize("use_process", [False, True])
def test_hanging_task_is_stopped_by_its_timeout(manager: CPUManager, use_process: bool) -> None:
    out = manager.map_tasks(
        tasks.hang_on, range(3), use_process=use_process, timeout=0.5, return_exceptions=True
    )
    assert out[0] == 0 and out[2] == 2
    assert isinstance(out[1], TaskItemError) and out[1].exc_type == "TaskTimeoutError"


def test_retries_rerun_a_failed_item_with_backoff(manager: CPUManager, tmp_path: Path) -> None:
    ok, gave_up = manager.map_tasks(
        tasks.flaky,
        [[str(tmp_path / "a"), 2], [str(tmp_path / "b"), 5]],
        retries=2,
        retry_backoff=0.01,
        return_exceptions=True,
    )
    assert ok == "ok"
    assert isinstance(gave_up, TaskItemError) and gave_up.attempts == 3
    assert (tmp_path / "b").read_text() == "3"


def test_imap_unordered_yields_every_result_once(manager: CPUManager) -> None:
    pairs = list(manager.imap_unordered(tasks.square, range(200), chunksize=7, with_index=True))
    assert sorted(pairs) == [(i, i * i) for i in range(200)]


def test_submit_task_raises_the_tasks_own_exception(manager: CPUManager) -> None:
    assert manager.submit_task(tasks.add, 2, b=3).result() == 5
    future = manager.submit_task(tasks.fail_on, 3, use_process=True, task_name="bad")
    with pytest.raises(ValueError, match="item 3 is bad"):
        future.result()
    assert manager.get_task_stats("bad")["failures"] == 1


def test_task_stats_count_and_time_per_task_name(manager: CPUManager) -> None:
    manager.map_tasks(tasks.busy, [0.01] * 4, task_name="spin")
    stats = manager.get_task_stats("spin")
    assert stats["count"] == 4 and stats["failures"] == 0
    assert 0.01 <= stats["min_time"] <= stats["avg_time"] <= stats["max_time"]
    assert stats["total_time"] == pytest.approx(stats["avg_time"] * 4)
    assert "spin" in manager.get_task_stats()


def test_get_cpu_usage_reports_system_and_process(manager: CPUManager) -> None:
    usage = manager.get_cpu_usage()
    assert 0.0 <= usage["system"] <= 100.0
    assert usage["process"] >= 0.0
    assert usage["cpu_count"] >= 1


def test_get_instance_is_one_per_process_and_fresh_after_fork() -> None:
    seen: list[CPUManager] = []
    threads = [
        threading.Thread(target=lambda: seen.append(CPUManager.get_instance())) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(m) for m in seen}) == 1
    parent = id(seen[0])
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write, b"1" if id(CPUManager.get_instance()) != parent else b"0")
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 1) == b"1"


def test_bad_options_fail_with_a_configuration_error(manager: CPUManager) -> None:
    for bad in ({"chunksize": 0}, {"timeout": -1}, {"retries": -1}, {"backend": "carrier-pigeon"}):
        with pytest.raises(ConfigurationError):
            manager.map_tasks(tasks.square, [1], **bad)


def test_progress_bar_stays_off_when_stderr_is_not_a_terminal() -> None:
    bar = MapProgress(10, "x", progress=True)
    bar.advance(10)
    assert bar._bar is None
    bar.close()


@given(count=st.integers(0, 50_000), workers=st.integers(1, 64), cap=st.integers(1, 2000))
def test_guided_chunks_cover_every_item_once_in_order(count: int, workers: int, cap: int) -> None:
    chunks = chunking.guided(count, workers, cap)
    assert [i for chunk in chunks for i in chunk] == list(range(count))
    assert all(0 < len(chunk) <= cap for chunk in chunks)
    sizes = [len(c) for c in chunks[:-1]]
    assert sizes == sorted(sizes, reverse=True)  # large chunks first, the tail is short


def test_task_item_error_survives_pickling() -> None:
    err = TaskItemError(
        task_name="t", index=4, item={"fast": 5}, exc_type="ValueError", message="bad",
        remote_traceback="Traceback ...", attempts=2,
    )  # fmt: skip
    back = pickle.loads(pickle.dumps(err))
    assert (back.index, back.item, back.exc_type, back.attempts) == (
        4,
        {"fast": 5},
        "ValueError",
        2,
    )
    assert str(back) == str(err)
