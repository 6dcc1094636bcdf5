"""The main job end to end: embedded server, real workers, shared cache; its numbers
equal the same sweep run in-process with no cache at all."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from admf_perf.demo.backtest import reference_backtest
from admf_perf.demo.market import generate_ohlcv
from admf_perf.demo.sweep import parameter_grid
from admf_perf.testing import run_cli

pytestmark = pytest.mark.slow


def check_against_reference(report, items_base):
    assert report["results"], "the sweep returned nothing"
    for result in report["results"]:
        item = {
            **items_base,
            "symbol": result["symbol"],
            "fast": result["fast"],
            "slow": result["slow"],
        }
        expected = reference_backtest(item)
        assert result["trades"] == expected["trades"]
        for metric in ("total_return", "sharpe", "max_drawdown"):
            want = expected[metric]
            if np.isnan(want):  # a parameter set that never traded has no Sharpe: null in JSON
                assert result[metric] is None, metric
            else:
                assert result[metric] == pytest.approx(want, rel=1e-9, abs=1e-12), metric


def test_demo_sweep_matches_an_uncached_run_and_the_second_run_hits():
    result = run_cli(
        "demo", "--grid", "6", "--bars", "400", "--symbols", "AAPL,SPY", "--json", timeout=240
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["items"] == 2 * len(parameter_grid(6)) == len(report["results"])
    check_against_reference(report, {"bars": 400, "seed": 7, "data": None})
    first, second = report["runs"]
    assert second["hit_rate"] > first["hit_rate"]
    assert second["hit_rate"] == 1.0
    tops = [r["sharpe"] for r in report["top"]]
    assert tops == sorted(tops, reverse=True)


def test_demo_reads_bars_from_a_file(tmp_path):
    frame = pd.concat(
        [generate_ohlcv(s, 300, 3)["close"].rename(s) for s in ("X", "Y")], axis=1
    ).reset_index()
    path = tmp_path / "closes.csv"
    frame.to_csv(path, index=False)
    result = run_cli("demo", "--grid", "3", "--data", str(path), "--json", timeout=240)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {r["symbol"] for r in report["results"]} == {"X", "Y"}
    check_against_reference(report, {"bars": 0, "seed": 0, "data": str(path)})


def test_demo_reports_bad_arguments_in_one_line(tmp_path):
    result = run_cli("demo", "--redis-url", "http://nowhere")
    assert result.returncode == 1
    assert "--redis-url" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    missing = run_cli("demo", "--data", str(tmp_path / "none.csv"))
    assert missing.returncode == 2


def test_generated_bars_are_deterministic_and_plausible():
    a, b = generate_ohlcv("AAPL", 500, 7), generate_ohlcv("AAPL", 500, 7)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(generate_ohlcv("MSFT", 500, 7))
    assert (a["high"] >= a[["open", "close"]].max(axis=1)).all()
    assert (a["low"] <= a[["open", "close"]].min(axis=1)).all()
    assert (a["volume"] > 0).all() and np.isfinite(a.to_numpy(dtype=float)).all()


def test_the_user_script_runs_in_process(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parent.parent / "scripts" / "run_sweep.py"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("ADMF_")}
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "run 2: 27 backtests" in out.stdout and "best:" in out.stdout


def test_the_readme_demo_command_passes_its_arguments_on():
    import subprocess
    from pathlib import Path

    root = Path(__file__).parent.parent
    out = subprocess.run(
        [
            "bash",
            str(root / "scripts" / "demo.sh"),
            "--grid",
            "2",
            "--bars",
            "120",
            "--symbols",
            "SPY",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout[out.stdout.index("{") :])
    assert report["items"] == len(parameter_grid(2))
