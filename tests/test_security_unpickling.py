"""Nothing read from Redis is unpickled unless the user opted in and the HMAC verifies.

A pickle whose loading creates a canary file (``pathlib.Path.touch``, no shell) is
planted where an attacker with write access to Redis would put it: a cache entry's
payload (raw, behind our format byte, in the codec's pickle marker, behind a fake
signature), an RQ job's data and meta, the results channel of a running map. It is
always refused (a counted miss, a failed job, an ignored record) and the canary never
appears. One control proves the canary works: the documented opt-in (signing key,
``allow_pickle``, a valid MAC) does unpickle it.

Workers run only allowed functions: a chunk job whose spec names ``os.remove`` is
refused too (tests/test_execution_rq.py covers plain jobs naming it).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
import struct
from pathlib import Path
from typing import Any

import msgpack
import pytest
import redis
from rq import Queue
from rq.job import Job

from admf_perf import Cache, configure
from admf_perf.codec import FORMAT, PICKLE
from admf_perf.execution import CPUManager, RQBackend
from admf_perf.execution.serializer import RUNNER_PATH, CodecSerializer
from admf_perf.stores.payload import SIGNED
from admf_perf.testing import WorkerProcess, unique_name, wait_until
from tests import tasks

ROOT = Path(__file__).resolve().parent.parent
KEY = "unpickling-test-signing-key"


class Canary:
    """Unpickling this touches ``path``: proof that a pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.path),))


def codec_pickle(blob: bytes) -> bytes:
    """A well-formed codec payload holding ``blob`` in the pickle marker (code PICKLE)."""
    header = msgpack.packb([msgpack.ExtType(PICKLE, b""), blob], use_bin_type=True)
    return FORMAT + struct.pack("<I", len(header)) + header


def planted(canary: Path) -> dict[str, bytes]:
    blob = pickle.dumps(Canary(canary))
    return {
        "raw pickle": blob,
        "format byte + pickle": FORMAT + blob,
        "codec pickle marker": codec_pickle(blob),
        "fake signature + codec pickle": SIGNED + bytes(32) + codec_pickle(blob),
    }


def test_the_canary_works(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    pickle.loads(pickle.dumps(Canary(canary)))
    assert canary.exists()


def entry_key(cache: Cache, key: str) -> str:
    return f"{cache.store.prefix}e:{key}"


@pytest.mark.parametrize("signed", [False, True], ids=["no key", "key without allow_pickle"])
def test_planted_pickles_in_cache_entries_are_never_loaded(
    namespace: str, redis_client: redis.Redis, tmp_path: Path, signed: bool
) -> None:
    if signed:
        configure(signing_key=KEY)
    canary = tmp_path / "canary"
    cache = Cache(unique_name())
    payloads = planted(canary)
    if signed:  # even a valid MAC does not make a pickle loadable without allow_pickle
        payloads["valid signature + codec pickle"] = cache.store.payloads.dumps("x", 0)[:0]
    for i, (what, given) in enumerate(payloads.items()):
        key = f"k{i}"
        cache.set(key, "honest")
        payload = given
        if not payload:  # sign the pickle the way the cache would, with the real key
            data = codec_pickle(pickle.dumps(Canary(canary)))
            payload = SIGNED + sign(cache, key, data) + data
        redis_client.hset(entry_key(cache, key), "v", payload)
        assert cache.get(key, "miss") == "miss", what
        assert cache.entry(key) is None, what
    assert not canary.exists(), "a planted pickle was loaded"
    stats = cache.stats()
    assert stats.corrupt == len(payloads) and stats.size == 0


def sign(cache: Cache, key: str, data: bytes) -> bytes:
    ns, name, version = cache.store.backend.namespace, cache.name, cache.version
    mac = hmac.new(KEY.encode(), f"{ns}\0{name}\0{version}\0".encode(), hashlib.sha256)
    mac.update(key.encode() + b"\0" + data)
    return mac.digest()


def test_with_the_opt_in_only_a_verified_pickle_is_loaded(
    namespace: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    configure(signing_key=KEY, allow_pickle=True)
    canary = tmp_path / "canary"
    cache = Cache(unique_name())
    data = codec_pickle(pickle.dumps(Canary(canary)))
    cache.set("k", "honest")
    forged = SIGNED + bytes(32) + data
    redis_client.hset(entry_key(cache, "k"), "v", forged)
    assert cache.get("k", "miss") == "miss"
    moved = SIGNED + sign(cache, "other", data) + data  # signed for another key
    cache.set("k", "honest")
    redis_client.hset(entry_key(cache, "k"), "v", moved)
    assert cache.get("k", "miss") == "miss"
    assert not canary.exists()
    cache.set("k", "honest")
    redis_client.hset(entry_key(cache, "k"), "v", SIGNED + sign(cache, "k", data) + data)
    cache.get("k")  # the documented opt-in: signed by the key holder, so it is trusted
    assert canary.exists(), "the control: this pickle is loadable when opted in"


def test_the_mac_covers_namespace_and_cache_name(namespace: str, redis_client: redis.Redis) -> None:
    configure(signing_key=KEY)
    a, b = Cache(unique_name("a")), Cache(unique_name("b"))
    a.set("k", "from a")
    b.set("k", "from b")
    redis_client.hset(entry_key(b, "k"), "v", redis_client.hget(entry_key(a, "k"), "v"))
    assert b.get("k") is None, "a payload moved to another cache verified"
    a_key = entry_key(a, "k")
    from_a = redis_client.hget(a_key, "v")
    configure(namespace=unique_name("ns"))  # caches on the default backend follow
    c = Cache(a.name)  # the same cache name, another namespace
    c.set("k", "from c")
    assert entry_key(c, "k") != a_key
    redis_client.hset(entry_key(c, "k"), "v", from_a)
    assert c.get("k") is None, "a payload moved to another namespace verified"


def worker(url: str, queue: str, log: Path) -> WorkerProcess:
    args = ["--import", "tests.tasks", "--path", str(ROOT), "--log-level", "WARNING"]
    return WorkerProcess(url, queue, extra_args=args, log_path=log)


def test_pickled_jobs_are_failed_unrun_and_the_worker_goes_on(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    queue = unique_name("q")
    client = redis.Redis.from_url(redis_url)
    pickling = Queue(queue, connection=client)  # RQ's default serializer: pickle
    jobs = [
        pickling.enqueue("tests.tasks.square", Canary(canary)),
        pickling.enqueue("tests.tasks.square", 3, meta={"note": Canary(canary)}),
    ]
    fleet = worker(redis_url, queue, tmp_path / "w.log")
    try:
        wait_until(lambda: client.llen(f"rq:queue:{queue}") == 0, what="the jobs taken")
        manager = CPUManager(backend=RQBackend(redis_url, queue))
        assert manager.map_tasks(tasks.square, range(5)) == [0, 1, 4, 9, 16], "worker alive"
        manager.shutdown()
    finally:
        fleet.stop()
    assert not canary.exists(), "a pickled job was loaded"
    for job in jobs:
        status = client.hget(Job.key_for(job.id), "status")
        assert status in (b"failed", None), status  # failed, or dropped unreadable


def test_pickled_records_on_a_maps_channel_are_ignored(
    redis_url: str, namespace: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    canary = tmp_path / "canary"
    client = redis.Redis.from_url(redis_url)
    manager = CPUManager(backend=RQBackend(redis_url, unique_name("q")))  # no worker
    run = manager.map_async(tasks.square, range(4), chunksize=2)
    caplog.set_level(logging.WARNING)
    for payload in planted(canary).values():
        client.rpush(run.tracker.channel, payload)
    with pytest.raises(TimeoutError):
        run.result(timeout=1.0)
    assert not canary.exists()
    assert any("unreadable record" in r.getMessage() for r in caplog.records)
    run.cancel()
    manager.shutdown()


def test_a_chunk_naming_os_remove_is_refused(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    victim = tmp_path / "precious.csv"
    victim.write_text("keep me")
    queue, channel = unique_name("q"), f"{namespace}:test:channel"
    client = redis.Redis.from_url(redis_url)
    codec_queue = Queue(queue, connection=client, serializer=CodecSerializer)
    specs = []
    for i, fn in enumerate(["os.remove", "tests.tasks.os.remove", "builtins.exec"]):
        spec = {
            "run": "forged", "chunk": i, "attempt": 0, "fn": fn, "mode": 0, "idx": [0],
            "items": [str(victim) if "remove" in fn else "open('x','w')"], "timeout": None,
            "retries": 0, "backoff": 0.1, "channel": channel, "lease": f"{channel}:lease{i}",
            "lease_ms": 5000, "cancel": f"{channel}:cancel", "ttl": 60, "flush": 0.1,
        }  # fmt: skip
        specs.append(codec_queue.enqueue(RUNNER_PATH, spec))
    fleet = worker(redis_url, queue, tmp_path / "w.log")
    try:
        records = []
        while len(records) < len(specs):
            popped = client.blpop([channel], timeout=30)
            assert popped is not None, "the worker reported nothing"
            records.append(CodecSerializer.loads(popped[1]))
    finally:
        fleet.stop()
    results = [r for r in records if r[0] == "R"]
    assert len(results) == len(specs)
    for record in results:
        ((_, ok, error, _, _),) = record[4]
        assert not ok and error[0] == "ForbiddenFunctionError", error
    assert victim.read_text() == "keep me"
