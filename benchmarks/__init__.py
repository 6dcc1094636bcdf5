"""Benchmarks: each module compares candidates against an anchor measured in the same run."""
