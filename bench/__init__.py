"""The benchmark: `make bench` (python -m bench.bench); never collected by pytest."""
