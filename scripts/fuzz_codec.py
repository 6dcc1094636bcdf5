#!/usr/bin/env python
"""Coverage-guided fuzzing of the codec's decoder with atheris (libFuzzer). Optional: not
run by CI, and atheris is not a project dependency.

    pip install atheris        # a wheel exists for CPython 3.11 on Linux x86_64
    python scripts/fuzz_codec.py -max_total_time=300 -rss_limit_mb=2048 -timeout=5 [CORPUS_DIR]

Every input is decoded; the decoder must return a value or raise ``CodecError``. Any
other exception is a crash (libFuzzer saves the input as ``crash-*``); a decode that
takes over ``-timeout`` seconds or grows the process past ``-rss_limit_mb`` is reported
too, which catches length fields that make the decoder allocate what they claim.

Inputs are used three ways, chosen by their first byte: as a whole payload; as the
msgpack header of a well-framed payload (so the fuzzer gets past the framing at once);
or as edits to one of a set of valid payloads (arrays, frames, nested values).
"""

from __future__ import annotations

import contextlib
import struct
import sys

import atheris

with atheris.instrument_imports():
    from admf_perf import _codec_pandas  # noqa: F401  (loaded lazily by decode: instrument it now)
    from admf_perf.codec import FORMAT, decode
    from admf_perf.errors import CodecError


def _samples() -> list[bytes]:
    import datetime as dt
    import decimal

    import numpy as np
    import pandas as pd

    from admf_perf.codec import encode

    index = pd.date_range("2024-01-01", periods=6, freq="min", tz="America/New_York")
    frame = pd.DataFrame(
        {
            "close": np.linspace(100, 101, 6),
            "volume": np.arange(6),
            "symbol": pd.Categorical(list("ABABAB")),
            "note": pd.array(["x", None] * 3, dtype="string"),
        },
        index=index,
    )
    values = [
        frame,
        frame["close"],
        np.arange(12.0).reshape(3, 4),
        np.asfortranarray(np.arange(6, dtype="i2").reshape(2, 3)),
        np.array(["ab", "c"]),
        np.array([1, "x", None], dtype=object),
        {"a": (1, 2.5, "x"), "b": {1, 2}, "c": [dt.datetime(2024, 1, 1), decimal.Decimal("1.5")]},
        [[[[{"deep": frozenset({1})}]]]],
        2**100,
        1 + 2j,
    ]
    return [encode(v) for v in values]


SAMPLES = _samples()


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0] % 3, data[1:]
    if mode == 1:
        payload = FORMAT + struct.pack("<I", len(rest)) + rest
    elif mode == 2 and rest:
        sample = bytearray(SAMPLES[rest[0] % len(SAMPLES)])
        for i in range(1, len(rest) - 2, 3):  # (position, position, byte) triples
            at = (rest[i] << 8 | rest[i + 1]) % len(sample)
            sample[at] ^= rest[i + 2]
        payload = bytes(sample)
    else:
        payload = rest
    with contextlib.suppress(CodecError):
        decode(payload)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
