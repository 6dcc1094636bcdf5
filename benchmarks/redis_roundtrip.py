"""Raw redis-py round trips against the embedded server: the anchor of every cache
benchmark. GET of a 100-byte value vs EVALSHA of a script that reads it, over TCP and a
unix socket."""

from __future__ import annotations

import redis

from admf_perf.server import EmbeddedServer
from benchmarks.harness import Suite

READ_SCRIPT = "return redis.call('GET', KEYS[1])"


def build(quick: bool) -> list[Suite]:
    n = 2_000 if quick else 20_000
    server = EmbeddedServer(unix_socket=True)
    clients: dict[str, redis.Redis] = {}
    suite = Suite(
        "redis_roundtrip",
        anchor="GET tcp",
        setup=lambda: _setup(server, clients),
        teardown=server.stop,
    )

    def loop(transport: str, command: str) -> None:
        client = clients[transport]
        if command == "GET":
            for _ in range(n):
                client.get("bench:value")
        else:
            sha = clients["sha"]
            for _ in range(n):
                client.evalsha(sha, 1, "bench:value")  # type: ignore[arg-type]

    suite.add("GET tcp", lambda: loop("tcp", "GET"), ops=n)
    suite.add("EVALSHA tcp", lambda: loop("tcp", "EVALSHA"), ops=n)
    suite.add("GET unix", lambda: loop("unix", "GET"), ops=n)
    suite.add("EVALSHA unix", lambda: loop("unix", "EVALSHA"), ops=n, anchor="GET unix")
    return [suite]


def _setup(server: EmbeddedServer, clients: dict) -> None:
    server.start()
    clients["tcp"] = redis.Redis.from_url(server.url)
    clients["unix"] = redis.Redis.from_url(server.unix_url)
    clients["tcp"].set("bench:value", b"x" * 100)
    clients["sha"] = clients["tcp"].script_load(READ_SCRIPT)
