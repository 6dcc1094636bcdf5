"""Fleet-scale cache benchmarks, each against its anchor in the same run:

- 16 processes that all need one 200 ms computation at once: total time with single
  flight vs without (without, every process computes: 16 x 200 ms of work on 2 cores)
- a near-cache (L1) hit vs a memory-store hit vs one raw redis-py GET
"""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any

import redis

from admf_perf import Cache, cached, configure
from admf_perf.server import EmbeddedServer
from benchmarks.harness import Suite

FORK = mp.get_context("fork")
CALLERS = 16


def _caller(url: str, ns: str, name: str, single_flight: bool, barrier: Any) -> None:
    configure(redis_url=url, namespace=ns)

    @cached(name=name, single_flight=single_flight, version="bench")
    def model(x: int) -> int:
        deadline = time.process_time() + 0.2  # 200 ms of CPU, like a real computation
        while time.process_time() < deadline:
            pass
        return x

    barrier.wait()
    model(1)


def _stampede_suite(server: EmbeddedServer) -> Suite:
    counter = iter(range(1_000_000))

    def run(single_flight: bool) -> None:
        name = f"bench.stampede{next(counter)}"
        barrier = FORK.Barrier(CALLERS)
        procs = [
            FORK.Process(target=_caller, args=(server.url, "bench", name, single_flight, barrier))
            for _ in range(CALLERS)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join()

    suite = Suite("fleet_stampede", anchor="without single flight", repeat=3, setup=server.start)
    suite.add("without single flight", lambda: run(False))
    suite.add("with single flight", lambda: run(True), goal="~1/16 of the work")
    suite.notes.append(f"{CALLERS} processes, one 200 ms computation each would repeat; 2 cores")
    return suite


def _near_suite(n: int, server: EmbeddedServer) -> Suite:
    state: dict[str, Any] = {}

    def setup() -> None:
        server.start()
        configure(redis_url=server.url, namespace="bench")
        near = Cache("bench.near", local_size=16)
        memory = Cache("bench.memory", backend="memory")
        for c in (near, memory):
            c.set("AAPL:20", 1.5)
            c.get("AAPL:20")
        client = redis.Redis.from_url(server.url)
        client.set("bench:raw", b"x" * 16)
        state.update(near=near, memory=memory, client=client)

    def loop(name: str, count: int) -> Any:
        def run() -> None:
            get = state[name].get
            key = "bench:raw" if name == "client" else "AAPL:20"
            for _ in range(count):
                get(key)

        return run

    suite = Suite("fleet_near_cache", anchor="memory store hit", setup=setup, teardown=server.stop)
    suite.add("memory store hit", loop("memory", n), ops=n)
    suite.add("near-cache (L1) hit", loop("near", n), ops=n, goal="<= 2.0")
    suite.add("raw redis-py GET", loop("client", n // 20), ops=n // 20)
    return suite


def build(quick: bool) -> list[Suite]:
    server = EmbeddedServer()
    return [_near_suite(20_000 if quick else 200_000, EmbeddedServer()), _stampede_suite(server)]
