"""Parallel execution: CPUManager over local pools or an RQ worker fleet.

``CPUManager.get_instance().map_tasks(fn, items)`` runs ``fn`` over ``items`` on a local
thread or process pool, or, with ``configure(executor="rq")`` / ``backend="rq"``, on
``admf-perf worker`` processes on any number of hosts, with the same results. On RQ the
items travel in chunks (msgpack, never pickle), workers push results to a per-map Redis
list the client blocks on, and a chunk whose worker dies is run again elsewhere.
``RQExecutor`` offers the fleet as a ``concurrent.futures.Executor``.

Modules: ``cpu_manager`` (the API), ``local`` (pools), ``rq_backend`` and ``tracker``
(client side on RQ), ``runner`` and ``worker`` (worker side), ``calls`` (one task: timeout,
retries), ``runs`` (a map in flight), ``serializer`` (codec, import paths, allowlist),
``stats``, ``progress``, ``executor``, ``errors``.
"""

from admf_perf.execution.cpu_manager import CPUManager
from admf_perf.execution.errors import (
    ForbiddenFunctionError,
    TaskCancelledError,
    TaskItemError,
    TaskTimeoutError,
    UnimportableFunctionError,
)
from admf_perf.execution.executor import RQExecutor
from admf_perf.execution.rq_backend import RQBackend
from admf_perf.execution.runs import MapRun
from admf_perf.execution.stats import TaskStats

__all__ = [
    "CPUManager",
    "ForbiddenFunctionError",
    "MapRun",
    "RQBackend",
    "RQExecutor",
    "TaskCancelledError",
    "TaskItemError",
    "TaskStats",
    "TaskTimeoutError",
    "UnimportableFunctionError",
]
