"""The host agent's own cost (goal: under 1% of one core at a 1 s interval).

- timed cases: one psutil sample, and one whole agent step (sample + report script +
  Redis memory check + policy), against one Redis PING round trip
- note: CPU seconds of a real ``admf-perf agent --interval 1`` process over a window,
  as a percentage of one core, with four processes it tracks as workers
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import psutil
import redis

from admf_perf.agent import Agent, HostSampler, load_policy
from admf_perf.server import EmbeddedServer
from admf_perf.stores import RedisBackend
from benchmarks.harness import Suite

FAKE_WORKERS = 4


def _overhead(url: str, seconds: float) -> str:
    """Run a real agent at a 1 s interval and measure its CPU over ``seconds``."""
    workers = [
        subprocess.Popen(  # a command line the agent counts as a worker
            [sys.executable, "-c", "import time; time.sleep(3600)", "admf-perf", "worker"]
        )
        for _ in range(FAKE_WORKERS)
    ]
    agent = subprocess.Popen(
        [sys.executable, "-m", "admf_perf", "agent", "--url", url, "--namespace", "bench",
         "--interval", "1", "--host", "bench", "--redis-memory-threshold", "0.9"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 30
        while not client.exists("bench:host:bench"):  # start-up (imports) is not counted
            if time.monotonic() > deadline:
                raise RuntimeError("the agent did not report within 30 s")
            time.sleep(0.05)
        proc = psutil.Process(agent.pid)
        start_cpu, start = sum(proc.cpu_times()[:2]), time.monotonic()
        time.sleep(seconds)
        used, elapsed = sum(proc.cpu_times()[:2]) - start_cpu, time.monotonic() - start
        reports = client.xlen("bench:hoststream:bench")
    finally:
        agent.terminate()
        agent.wait()
        for worker in workers:
            worker.kill()
            worker.wait()
    processes = len(psutil.pids())
    return (
        f"agent process at --interval 1: {100 * used / elapsed:.2f}% of one core over "
        f"{elapsed:.0f} s ({used * 1000:.0f} ms CPU, {reports} reports, {FAKE_WORKERS} workers "
        f"tracked, {processes} processes on the host; goal < 1%)"
    )


def build(quick: bool) -> list[Suite]:
    n = 20 if quick else 200
    server = EmbeddedServer(extra_args=["--maxmemory", "1gb"])
    state: dict[str, Any] = {}
    suite = Suite("agent_step", anchor="redis PING", teardown=server.stop)

    def setup() -> None:
        server.start()
        backend = RedisBackend(server.url, namespace="bench")
        state["client"] = backend.client
        state["sampler"] = HostSampler("bench-inline")
        state["agent"] = Agent(backend, load_policy(interval=1.0), host="bench-inline")
        suite.notes.append(_overhead(server.url, 5.0 if quick else 30.0))

    suite.setup = setup

    def loop(what: str) -> None:
        if what == "ping":
            for _ in range(n):
                state["client"].ping()
        elif what == "sample":
            for _ in range(n):
                state["sampler"].sample()
        else:
            for _ in range(n):
                state["agent"].step()

    suite.add("redis PING", lambda: loop("ping"), ops=n)
    suite.add("psutil sample", lambda: loop("sample"), ops=n)
    suite.add("agent step (sample + report + policy)", lambda: loop("step"), ops=n)
    return [suite]
