"""Benchmarks run with `./pants run`; see docs/benchmarks.md."""
