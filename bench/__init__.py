"""Benchmarks. `python -m bench` (or `./dev bench`) runs all of them and prints one table of figures."""
