"""The command line as a user meets it: help, version, clear errors."""

from admf_perf.testing import run_cli


def test_help_lists_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("server", "demo"):
        assert command in result.stdout


def test_unknown_command_is_a_usage_error():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "frobnicate" in result.stderr


def test_demo_runs_on_a_fresh_machine():
    result = run_cli("demo", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "saved by the cache" in result.stdout
