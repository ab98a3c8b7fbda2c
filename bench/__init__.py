"""Benchmarks (not timed tests): `python -m bench.<name>`; results go to bench/results/."""
