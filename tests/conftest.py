"""Fixtures for the whole suite: one real server per session (admf_perf.testing)."""

pytest_plugins = ["admf_perf.testing"]
