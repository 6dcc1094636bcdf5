"""One host's metrics from psutil: CPU, load, memory, swap, disk and network rates, and
the worker processes of the fleet running on it.

Rates (disk and network bytes per second, CPU percentages) are deltas between two
samples, so a :class:`HostSampler` is kept for the life of the agent and sampled at its
interval; the first sample's rates are measured since the sampler was made.

The sampler is built to cost little at a one-second interval: the process table is
listed every sample (one directory read), but a process's command line is read only
once, when its pid first appears; non-worker pids are forgotten and re-read every
``rescan`` seconds so that a reused pid is eventually classified again.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

_WORKER_LAUNCHERS = frozenset({"admf-perf", "admf_perf", "rq", "rq.cli"})


def is_worker_cmdline(cmdline: list[str]) -> bool:
    """Whether a command line runs a fleet worker: ``admf-perf worker``,
    ``python -m admf_perf worker``, ``rq worker`` or ``python -m rq.cli worker``
    (``rqworker`` too)."""
    names = [os.path.basename(arg) for arg in cmdline]
    if any(name == "rqworker" for name in names[:2]):
        return True
    return any(
        name in _WORKER_LAUNCHERS and following == "worker"
        for name, following in itertools.pairwise(names)
    )


def host_name() -> str:
    """The name a host reports under by default: its hostname."""
    return socket.gethostname()


@dataclass
class _Counters:
    at: float
    disk: Any
    net: Any
    cpu_self: float


@dataclass
class HostSampler:
    """Takes :meth:`sample` snapshots of one host (see the module doc for the cost)."""

    host: str = field(default_factory=host_name)
    rescan: float = 60.0
    """Seconds after which a non-worker pid's command line is read again."""

    def __post_init__(self) -> None:
        self._me = psutil.Process()
        self._workers: dict[int, psutil.Process] = {}
        self._others: set[int] = set()
        self._rescan_at = time.monotonic() + self.rescan
        psutil.cpu_percent(percpu=True)  # start the per-core CPU deltas
        self._last = self._counters()

    def _counters(self) -> _Counters:
        times = self._me.cpu_times()
        return _Counters(
            at=time.monotonic(),
            disk=_safe(psutil.disk_io_counters),
            net=_safe(psutil.net_io_counters),
            cpu_self=times.user + times.system,
        )

    def sample(self) -> dict[str, Any]:
        """A snapshot as a JSON-ready dict (bytes, bytes per second, percentages 0-100;
        ``memory.used_fraction`` is ``1 - available / total``, what the policy compares)."""
        per_core = psutil.cpu_percent(percpu=True)
        now = self._counters()
        elapsed = max(now.at - self._last.at, 1e-6)
        vm = psutil.virtual_memory()
        swap = psutil.swap_memory()
        snapshot = {
            "host": self.host,
            "time": time.time(),
            "cpu": {
                "percent": round(sum(per_core) / max(len(per_core), 1), 1),
                "per_core": per_core,
                "count": len(per_core),
            },
            "load": [round(x, 2) for x in _safe(os.getloadavg) or (0.0, 0.0, 0.0)],
            "memory": {
                "total": vm.total,
                "available": vm.available,
                "used_fraction": round(1.0 - vm.available / vm.total, 4),
            },
            "swap": {"total": swap.total, "used": swap.used},
            "disk": _rates(
                self._last.disk, now.disk, elapsed, ("read_bytes", "write_bytes"), ("read", "write")
            ),
            "net": _rates(
                self._last.net, now.net, elapsed, ("bytes_recv", "bytes_sent"), ("recv", "sent")
            ),
            "workers": self._worker_totals(),
            "agent": {
                "pid": self._me.pid,
                "cpu_percent": round(100 * (now.cpu_self - self._last.cpu_self) / elapsed, 2),
                "rss": self._me.memory_info().rss,
            },
        }
        self._last = now
        return snapshot

    def _worker_totals(self) -> dict[str, Any]:
        self._refresh_workers()
        processes = []
        for pid, proc in list(self._workers.items()):
            try:
                with proc.oneshot():
                    processes.append(
                        {
                            "pid": pid,
                            "rss": proc.memory_info().rss,
                            "cpu_percent": round(proc.cpu_percent(None), 1),
                        }
                    )
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                del self._workers[pid]
        return {
            "count": len(processes),
            "rss": sum(p["rss"] for p in processes),
            "cpu_percent": round(sum(p["cpu_percent"] for p in processes), 1),
            "processes": processes,
        }

    def _refresh_workers(self) -> None:
        if time.monotonic() >= self._rescan_at:
            self._others.clear()
            self._rescan_at = time.monotonic() + self.rescan
        live = set(psutil.pids())
        for pid in set(self._workers) - live:
            del self._workers[pid]
        self._others &= live
        for pid in live - self._others - set(self._workers):
            try:
                proc = psutil.Process(pid)
                if is_worker_cmdline(proc.cmdline()):
                    proc.cpu_percent(None)  # start its CPU delta
                    self._workers[pid] = proc
                else:
                    self._others.add(pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                self._others.add(pid)


def _safe(fn: Any) -> Any:
    """``fn()``, or ``None`` where the platform or a container can't tell."""
    try:
        return fn()
    except (OSError, RuntimeError, AttributeError):
        return None


def _rates(
    before: Any, after: Any, elapsed: float, fields: tuple[str, str], names: tuple[str, str]
) -> dict[str, float]:
    if before is None or after is None:
        return {f"{name}_bps": 0.0 for name in names}
    return {
        f"{name}_bps": round(max(getattr(after, f) - getattr(before, f), 0) / elapsed, 1)
        for f, name in zip(fields, names, strict=True)
    }
