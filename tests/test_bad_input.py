"""Bad input at every door: mutated codec payloads, hostile cache keys, malformed URLs and
options. Each is refused cleanly (a ``CodecError``, a ``KeyGenerationError``, a one-line
CLI error) or handled correctly; nothing crashes, hangs or allocates without bound.

(tests/test_codec.py already feeds the decoder random bytes, random byte edits of one
sample, every truncation and a list of crafted headers; here: mutations of many valid
payloads, at the byte level and inside the msgpack header, and splices.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import struct
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import msgpack
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admf_perf import Cache, CacheKey, KeyGenerationError, cached
from admf_perf.caching.patterns import escape_glob
from admf_perf.cli import cli
from admf_perf.codec import FORMAT, decode, encode
from admf_perf.config import reset_settings
from admf_perf.errors import CodecError
from admf_perf.testing import run_cli, unique_name
from tests.test_codec import VALUES, every_column_kind, ohlcv

# ---------------------------------------------------------------------------- the codec

CORPUS = [
    encode(v)
    for v in [
        *VALUES,
        every_column_kind(),
        ohlcv(20, tz="America/New_York"),
        pd.Series(np.arange(5.0), name="px", index=pd.date_range("2024", periods=5, freq="D")),
        np.arange(24, dtype="<i4").reshape(2, 3, 4),
        np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        np.array(["ab", "c"], dtype="U2"),
        np.array([1, "x", None], dtype=object),
        {"sma": [np.arange(3.0), (1, 2.5)], "when": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)},
        [[[[{"deep": ({1, 2}, frozenset({"a"}))}]]]],
    ]
]
HOSTILE_INTS = [-1, 0, 1, 2**31, 2**32 - 1, 10**10, 1_250_000_000, 2**62, 2**63 - 1, -(2**63)]
HOSTILE = [*HOSTILE_INTS, None, "", "|O", "<f8", "V8", "../../etc/passwd", 1.5, b"\x00" * 8, [], {}]


def parts(payload: bytes) -> tuple[Any, bytes]:
    """The header as a tree (extension types kept raw) and the buffer area."""
    hlen = struct.unpack_from("<I", payload, 1)[0]
    end = 5 + hlen
    tree = msgpack.unpackb(
        payload[5:end],
        ext_hook=msgpack.ExtType,
        use_list=False,  # tuples: arrays used as map keys must be hashable
        strict_map_key=False,
        raw=False,
        unicode_errors="surrogatepass",
    )
    return thaw(tree), payload[end + (-end % 16) :]


def thaw(node: Any) -> Any:
    """Arrays as lists (mutable), except as map keys."""
    if type(node) is tuple:
        return [thaw(child) for child in node]
    if isinstance(node, dict):
        return {key: thaw(value) for key, value in node.items()}
    return node


def assemble(tree: Any, buffers: bytes) -> bytes:
    header = msgpack.packb(tree, use_bin_type=True, unicode_errors="surrogatepass")
    end = 5 + len(header)
    return FORMAT + struct.pack("<I", len(header)) + header + bytes(-end % 16) + buffers


def slots(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths of every value in a header tree (list positions and dict values)."""
    if isinstance(node, list):
        for i, child in enumerate(node):
            yield (*path, i)
            yield from slots(child, (*path, i))
    elif isinstance(node, dict):
        for key, child in node.items():
            yield (*path, key)
            yield from slots(child, (*path, key))


def replace(tree: Any, path: tuple[Any, ...], value: Any) -> None:
    node = tree
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def decode_safely(payload: bytes) -> None:
    """Decode: a value or a CodecError, within 1 s and 20 MB (plus the payload's size)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with contextlib.suppress(CodecError):
            decode(payload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    took = time.perf_counter() - started
    assert took < 1.0, f"decoding {len(payload)} bytes took {took:.2f}s"
    assert peak < 20 * 2**20 + 4 * len(payload), f"decoding allocated {peak / 2**20:.0f} MB"


FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    st.sampled_from(CORPUS),
    st.lists(
        st.tuples(st.sampled_from("flip set insert delete"), st.integers(0), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    ),
)
def test_byte_mutations_of_valid_payloads_decode_or_raise_codec_error(
    payload: bytes, edits: list[tuple[str, int, int]]
) -> None:
    data = bytearray(payload)
    for kind, where, byte in edits:
        at = where % (len(data) + 1)
        if kind == "insert":
            data[at:at] = bytes([byte])
        elif at < len(data):
            if kind == "flip":
                data[at] ^= 1 << (byte % 8)
            elif kind == "set":
                data[at] = byte
            else:
                del data[at]
    decode_safely(bytes(data))


@FUZZ
@given(st.sampled_from(CORPUS), st.integers(0, 2**32 - 1))
def test_a_lying_header_length_is_refused(payload: bytes, claimed: int) -> None:
    decode_safely(payload[:1] + struct.pack("<I", claimed) + payload[5:])


@FUZZ
@given(st.sampled_from(CORPUS), st.data())
def test_mutations_inside_the_header_decode_or_raise_codec_error(
    payload: bytes, data: st.DataObject
) -> None:
    tree, buffers = parts(payload)
    paths = list(slots(tree))
    if not paths:
        return
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        with contextlib.suppress(KeyError, IndexError, TypeError):
            replace(tree, path, data.draw(st.sampled_from(HOSTILE)))
    decode_safely(assemble(tree, buffers))


@FUZZ
@given(st.sampled_from(CORPUS), st.sampled_from(CORPUS))
def test_the_header_of_one_payload_with_the_buffers_of_another(a: bytes, b: bytes) -> None:
    decode_safely(assemble(parts(a)[0], parts(b)[1]))


def test_every_length_field_claiming_10_gb_is_refused_quickly_and_cheaply() -> None:
    """Each integer of each array and frame header, set in turn to ~10 GB-sized claims."""
    tried = 0
    for payload in CORPUS:
        tree, buffers = parts(payload)
        if not buffers:
            continue
        for path in slots(tree):
            original = tree
            for step in path:
                original = original[step]
            if type(original) is not int:
                continue
            for claim in (10**10, 1_250_000_000, 2**63 - 1):
                mutated, _ = parts(payload)
                replace(mutated, path, claim)
                decode_safely(assemble(mutated, buffers))
                tried += 1
    assert tried > 100


# ---------------------------------------------------------------------------- cache keys


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, redis_url: str) -> str:
    return "memory" if request.param == "memory" else redis_url


def test_lone_surrogates_in_arguments_are_keyed_and_cached_everywhere(backend: str) -> None:
    """File names that aren't UTF-8 arrive as lone surrogates (``surrogateescape``);
    Redis keys must be UTF-8, so such a call used to raise UnicodeEncodeError there."""
    calls = []

    @cached(backend=backend, name=unique_name("paths"))
    def size_of(path: str) -> int:
        calls.append(path)
        return len(path)

    odd = ["report_\udcff.csv", "\ud800", "\\udcff", "report_\\udcff.csv"]
    assert [size_of(p) for p in odd] == [len(p) for p in odd]
    assert [size_of(p) for p in odd] == [len(p) for p in odd]
    assert calls == odd, "each computed once; the escaped look-alikes are other keys"
    keys = {CacheKey.generate_key((p,), {}) for p in odd}
    assert len(keys) == 4 and all(k.encode("utf-8") for k in keys)


def test_explicit_keys_with_lone_surrogates_are_refused_alike(backend: str) -> None:
    cache = Cache(unique_name(), backend=backend)
    for call in (
        lambda: cache.set("bad\udcff", 1),
        lambda: cache.get("bad\udcff"),
        lambda: cache.invalidate(key="bad\udcff"),
        lambda: "bad\udcff" in cache,
    ):
        with pytest.raises(KeyGenerationError, match="surrogate"):
            call()
    cache.set(CacheKey.token("bad\udcff"), 1)  # the way out the message names
    assert cache.get(CacheKey.token("bad\udcff")) == 1


def test_non_utf8_bytes_and_huge_arguments_are_keyed_compactly_or_correctly(
    backend: str,
) -> None:
    calls = []

    @cached(backend=backend, name=unique_name("big"), max_size=16)
    def describe(x: Any) -> Any:
        calls.append(type(x).__name__)
        return len(x)

    raw = bytes(range(256)) * 4
    frame = np.random.default_rng(0).random(2_500_000)  # 20 MB
    text = "A" * 2_000_000
    many = list(range(200_000))
    started = time.monotonic()
    for _ in range(2):
        assert describe(raw) == 1024
        assert describe(b"\xff\xfe\x00") == 3
        assert describe(frame) == frame.size
        assert describe(text) == len(text)
        assert describe(many) == len(many)
    took = time.monotonic() - started
    assert len(calls) == 5, calls
    assert len(CacheKey.generate_key((frame,), {})) < 100, "arrays are keyed by digest"
    assert len(CacheKey.generate_key((raw,), {})) < 100, "long bytes are keyed by digest"
    assert took < 10, f"{took:.1f}s"


def test_unhashable_keyable_and_unkeyable_arguments(backend: str) -> None:
    calls = []

    @cached(backend=backend, name=unique_name("args"))
    def f(x: Any) -> str:
        calls.append(x)
        return repr(x)

    assert f({"b": [1, 2], "a": {3}}) == f({"a": {3}, "b": [1, 2]}), "dicts key by content"
    assert len(calls) == 1
    for bad in (object(), lambda: 1, iter([1]), (i for i in range(3)), print):
        with pytest.raises(KeyGenerationError):
            f(bad)
    assert len(calls) == 1, "an unkeyable call never runs the function"
    assert f.cache.stats().size == 1


GLOBBY = ["a*", "a?", "a[b]", "a[", "a]", "a\\", "a\\*", "[a-z]", "a^", "ab", "a", "*", "?"]


def test_keys_with_glob_characters_are_literal_for_key_and_escaped_pattern(backend: str) -> None:
    cache = Cache(unique_name(), max_size=100, backend=backend)
    for key in GLOBBY:
        cache.set(key, key)
    for i, key in enumerate(GLOBBY):
        if i % 2:
            assert cache.invalidate(key=key) == 1, key
        else:
            assert cache.invalidate(pattern=escape_glob(key)) == 1, key
        left = [k for k in GLOBBY if k in cache]
        assert left == GLOBBY[i + 1 :], (
            f"removing {key!r} removed {set(GLOBBY[i + 1 :]) - set(left)}"
        )


@pytest.fixture(scope="module")
def glob_caches(redis_server_url: str) -> tuple[Cache, Cache]:
    keys = ["", "a", "b", "ab", "a*", "a?", "a[", "a]", "a\\", "[a]", "a-b", "^a", "ba", "aab"]
    name = unique_name("glob")
    pair = (
        Cache(name, max_size=100, backend="memory"),
        Cache(name, max_size=100, backend=redis_server_url),
    )
    for cache in pair:
        for key in keys:
            cache.set(key, 1)
    return pair


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab*?[]^-\\", max_size=6))
def test_memory_and_redis_match_glob_patterns_alike(
    glob_caches: tuple[Cache, Cache], pattern: str
) -> None:
    memory, redis_cache = glob_caches
    assert memory.count(pattern) == redis_cache.count(pattern), pattern


# ---------------------------------------------------------------------------- CLI, config


@pytest.fixture
def in_process_cli() -> Iterator[CliRunner]:
    """The CLI in this process: it configures settings and logging, put back after."""
    library = logging.getLogger("admf_perf")
    level = library.level
    yield CliRunner()
    library.setLevel(level)
    reset_settings()


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:notaport/0",
        "redis://[::1",
        "ftp://127.0.0.1/0",
        "redis://",
        "redis://127.0.0.1:0/0",
        "redis://user:s3cret@127.0.0.1:99999/0",
        "unix://",
    ],
)
def test_malformed_urls_are_one_line_errors_without_secrets(
    in_process_cli: CliRunner, url: str
) -> None:
    result = in_process_cli.invoke(cli, ["stats", "--url", url])
    assert result.exit_code in (1, 2), result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert lines and lines[-1].startswith(("Error:", "Usage:")), result.output
    assert "s3cret" not in result.output


@pytest.mark.parametrize("namespace", ["*", "a:b", "has space", "x" * 65, "{ns}"])
def test_unusable_namespaces_are_refused(in_process_cli: CliRunner, namespace: str) -> None:
    result = in_process_cli.invoke(
        cli, ["flush", "--all", "--yes", "--url", "redis://127.0.0.1:1/0", "--namespace", namespace]
    )
    assert result.exit_code == 1
    assert "namespace" in result.output and "invalid" in result.output


def test_unknown_options_and_bad_values_are_usage_errors(redis_url: str) -> None:
    env = {"ADMF_REDIS_URL": redis_url}
    for args in (["flush", "--bogus"], ["stats", "--json=yes"], ["worker", "--processes", "0"]):
        result = run_cli(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
