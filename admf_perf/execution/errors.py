"""The executor's errors, all rooted in :class:`admf_perf.errors.AdmfPerfError`.

A task that raises does not stop a map: it comes back as a :class:`TaskItemError` (a
:class:`~admf_perf.errors.TaskError`) that carries the item, the exception's type name
and the traceback text from wherever the task ran, local process or remote worker.
"""

from __future__ import annotations

from concurrent.futures import CancelledError
from typing import Any

from admf_perf.errors import AdmfPerfError, ConfigurationError, TaskError


class UnimportableFunctionError(ConfigurationError):
    """A function sent to workers has no import path they could load it from."""


class ForbiddenFunctionError(AdmfPerfError, PermissionError):
    """A worker refused a job naming a function outside its allowed modules."""


class TaskTimeoutError(AdmfPerfError, TimeoutError):
    """Raised inside a task that ran longer than its ``timeout``."""


class TaskCancelledError(AdmfPerfError, CancelledError):
    """The map was cancelled (``cancel()`` or Ctrl-C) before it finished."""


class TaskItemError(TaskError):
    """One item of a map (or one submitted call) failed.

    ``item`` and ``index`` say which one, ``exc_type`` names the exception class the
    task raised, ``message`` is its text and ``remote_traceback`` the formatted traceback
    from the process that ran it. ``str()`` is one line; print ``remote_traceback`` for more.
    """

    def __init__(
        self,
        *,
        task_name: str,
        index: int,
        item: Any,
        exc_type: str,
        message: str,
        remote_traceback: str,
        attempts: int = 1,
    ) -> None:
        self.task_name = task_name
        self.index = index
        self.item = item
        self.exc_type = exc_type
        self.message = message
        self.remote_traceback = remote_traceback
        self.attempts = attempts
        shown = _short_repr(item)
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        first_line = message.splitlines()[0] if message else ""
        super().__init__(
            f"task {task_name} failed on item {index} ({shown}){tries}: {exc_type}: {first_line}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_item_error, (self.__dict__.copy(),))


def _rebuild_item_error(state: dict[str, Any]) -> TaskItemError:
    state = dict(state)
    state.pop("args", None)
    return TaskItemError(**state)


def _short_repr(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
