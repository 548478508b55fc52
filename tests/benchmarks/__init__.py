"""The benchmark: `make bench` (python -m tests.benchmarks.bench); never collected by pytest."""
