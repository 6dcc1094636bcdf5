"""An optional Prometheus endpoint on the agent (``--metrics-port``): ``GET /metrics``.

Gauges of this host (its latest snapshot), of the namespace's caches (sizes, counters,
hit rates from :func:`fleet.stats`), of RQ's queues, and of the Redis server's memory.
Cache and queue figures are fleet-wide, so every agent shows the same ones: scrape
them from one agent, or drop them by label. The text format is written by hand (it is
a few lines per metric); the server is ``http.server`` in a daemon thread.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("admf_perf.agent")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Exposition:
    """Metrics in the Prometheus text format, grouped by name in the order first added."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, str, list[str]]] = {}

    def add(self, name: str, value: float, help: str, kind: str = "gauge", **labels: Any) -> None:
        family = self._families.setdefault(name, (kind, help, []))
        text = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
        family[2].append(
            f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}"
        )

    def render(self) -> str:
        lines = []
        for name, (kind, help, samples) in self._families.items():
            lines += [f"# HELP {name} {help}", f"# TYPE {name} {kind}", *samples]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return repr(value) if isinstance(value, float) else str(value)


def host_metrics(out: Exposition, snap: dict[str, Any]) -> None:
    """The gauges of one host snapshot."""
    host = snap["host"]
    out.add("admf_host_cpu_percent", snap["cpu"]["percent"], "CPU used, all cores", host=host)
    for core, pct in enumerate(snap["cpu"]["per_core"]):
        out.add("admf_host_core_cpu_percent", pct, "CPU used per core", host=host, core=core)
    for period, value in zip(("1m", "5m", "15m"), snap["load"], strict=False):
        out.add("admf_host_load", value, "Load average", host=host, period=period)
    mem = snap["memory"]
    out.add("admf_host_memory_total_bytes", mem["total"], "Host memory", host=host)
    out.add("admf_host_memory_available_bytes", mem["available"], "Memory available", host=host)
    out.add("admf_host_memory_used_ratio", mem["used_fraction"], "1 - available/total", host=host)
    out.add("admf_host_swap_used_bytes", snap["swap"]["used"], "Swap in use", host=host)
    for kind in ("disk", "net"):
        for name, value in snap[kind].items():
            out.add(f"admf_host_{kind}_{name}", value, f"{kind} bytes per second", host=host)
    workers = snap["workers"]
    out.add("admf_host_workers", workers["count"], "Worker processes", host=host)
    out.add("admf_host_workers_rss_bytes", workers["rss"], "RSS of the workers", host=host)
    out.add(
        "admf_host_workers_cpu_percent", workers["cpu_percent"], "CPU of the workers", host=host
    )
    out.add(
        "admf_agent_cpu_percent", snap["agent"]["cpu_percent"], "The agent's own CPU", host=host
    )


def fleet_metrics(out: Exposition, backend: Any) -> None:
    """Caches, queues and server memory; ``admf_redis_up`` 0 when the server is away."""
    from admf_perf.agent.records import read_queues
    from admf_perf.caching import fleet

    try:
        info = backend.client.info("memory")
        caches = fleet.stats(backend)
        queues = read_queues(backend.client)
    except Exception as exc:
        log.debug("metrics: fleet figures unavailable: %s", exc)
        out.add("admf_redis_up", 0, "Whether the agent reached Redis")
        return
    out.add("admf_redis_up", 1, "Whether the agent reached Redis")
    out.add("admf_redis_used_memory_bytes", info["used_memory"], "Redis used_memory")
    out.add("admf_redis_maxmemory_bytes", info.get("maxmemory", 0), "Redis maxmemory (0: none)")
    for name, s in caches.items():
        out.add("admf_cache_size", s.size, "Live entries", cache=name)
        out.add("admf_cache_max_size", s.max_size or 0, "Entry limit (0: none)", cache=name)
        out.add("admf_cache_hit_ratio", s.hit_rate, "Hits / lookups", cache=name)
        for counter in ("hits", "misses", "sets", "evictions", "expirations", "invalidations"):
            value = getattr(s, counter)
            out.add(f"admf_cache_{counter}_total", value, f"Cache {counter}", "counter", cache=name)
    for queue, counts in queues.items():
        for what, value in counts.items():
            out.add(f"admf_rq_queue_{what}", value, f"RQ queue {what}", queue=queue)


class MetricsServer:
    """Serves ``collect()`` at ``/metrics`` on ``port`` (0: a free one) until stopped."""

    def __init__(self, port: int, collect: Callable[[], str], bind: str = "0.0.0.0") -> None:
        handler = _handler(collect)
        self.httpd = ThreadingHTTPServer((bind, port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="admf-agent-metrics", daemon=True
        )

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(collect: Callable[[], str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = collect().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("metrics: " + format, *args)

    return Handler


def agent_metrics(agent: Any) -> str:
    """The exposition of an :class:`~admf_perf.agent.Agent`: its host and the fleet."""
    out = Exposition()
    if agent.latest is not None:
        host_metrics(out, agent.latest)
    fleet_metrics(out, agent.backend)
    return out.render()
