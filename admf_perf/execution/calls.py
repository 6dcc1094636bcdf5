"""Running one task: the call itself, its timeout, its retries, its outcome.

The same code runs a task in a pool thread, in a local process pool and on an RQ
worker, so a task behaves alike on every backend. An outcome is a plain tuple
``(ok, value_or_error, seconds, attempts)`` that pickles and msgpacks; an error is
``(exception type name, message, traceback text)``.

Timeouts: in a process's main thread (process pools, RQ workers) a ``SIGALRM`` timer
interrupts the task with :class:`TaskTimeoutError` and the worker moves on. It nests
inside RQ's own job timer: the earlier deadline fires, and RQ's timer is re-armed with
what is left of it afterwards. In a pool thread no signal can reach the task, so it runs
in a helper thread that is abandoned (left running) when the timeout passes.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from rq.timeouts import BaseTimeoutException

from admf_perf.execution.errors import TaskTimeoutError

MODE_ONE = 0
"""``fn(item)``: what ``map_tasks`` does."""
MODE_STAR = 1
"""``fn(*item)``: ``Executor.map`` over several iterables."""
MODE_CALL = 2
"""``fn(*args, **kwargs)`` with ``item == (args, kwargs)``: ``submit``."""

MAX_BACKOFF = 60.0

ErrorInfo = tuple[str, str, str]
Outcome = tuple[bool, Any, float, int]


def invoke(fn: Callable[..., Any], item: Any, mode: int) -> Any:
    """Call ``fn`` on ``item`` the way ``mode`` says."""
    if mode == MODE_ONE:
        return fn(item)
    if mode == MODE_STAR:
        return fn(*item)
    args, kwargs = item
    return fn(*args, **(kwargs or {}))


def error_info(exc: BaseException) -> ErrorInfo:
    """``(type name, message, formatted traceback)`` of an exception being handled; the
    traceback starts at the task's own frames, not at this module's."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    return type(exc).__name__, str(exc), text


def run_item(
    fn: Callable[..., Any],
    item: Any,
    mode: int = MODE_ONE,
    timeout: float | None = None,
    retries: int = 0,
    backoff: float = 0.5,
) -> Outcome:
    """Run one task with its timeout, retrying up to ``retries`` times with back-off.

    Retry ``n`` (from 1) waits ``backoff * 2 ** (n - 1)`` seconds, at most 60. Returns
    the outcome of the last attempt; ``seconds`` is the time of all attempts together.
    """
    start = time.perf_counter()
    attempt = 0
    while True:
        attempt += 1
        try:
            value = _call_with_timeout(fn, item, mode, timeout)
        except BaseTimeoutException:
            raise  # RQ's chunk timeout ends the chunk, not just this item
        except Exception as exc:
            if attempt <= retries:
                time.sleep(min(MAX_BACKOFF, backoff * 2 ** (attempt - 1)))
                continue
            return False, error_info(exc), time.perf_counter() - start, attempt
        return True, value, time.perf_counter() - start, attempt


def _call_with_timeout(fn: Callable[..., Any], item: Any, mode: int, timeout: float | None) -> Any:
    if not timeout or timeout <= 0:
        return invoke(fn, item, mode)
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _call_with_alarm(fn, item, mode, timeout)
    return _call_in_helper_thread(fn, item, mode, timeout)


def _call_with_alarm(fn: Callable[..., Any], item: Any, mode: int, timeout: float) -> Any:
    outer_left, _ = signal.getitimer(signal.ITIMER_REAL)
    outer_handler = signal.getsignal(signal.SIGALRM)
    began = time.monotonic()
    ours = outer_left <= 0 or timeout < outer_left
    outer_fired = False

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        nonlocal outer_fired
        if ours:
            raise TaskTimeoutError(f"task exceeded its timeout of {timeout:g} s")
        outer_fired = True
        if callable(outer_handler):
            outer_handler(signum, frame)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout if ours else outer_left)
    try:
        return invoke(fn, item, mode)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if outer_left > 0 and not outer_fired:
            left = outer_left - (time.monotonic() - began)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3))


def _call_in_helper_thread(fn: Callable[..., Any], item: Any, mode: int, timeout: float) -> Any:
    box: list[Any] = []

    def target() -> None:
        try:
            box.append((True, invoke(fn, item, mode)))
        except BaseException as exc:
            box.append((False, exc))

    helper = threading.Thread(target=target, name="admf-task", daemon=True)
    helper.start()
    helper.join(timeout)
    if not box:
        raise TaskTimeoutError(
            f"task exceeded its timeout of {timeout:g} s (its thread is left running)"
        )
    ok, value = box[0]
    if not ok:
        raise value
    return value


def run_items(
    fn: Callable[..., Any],
    items: Sequence[Any],
    mode: int = MODE_ONE,
    timeout: float | None = None,
    retries: int = 0,
    backoff: float = 0.5,
) -> list[Outcome]:
    """:func:`run_item` over ``items``: the body of a local chunk."""
    return [run_item(fn, item, mode, timeout, retries, backoff) for item in items]
