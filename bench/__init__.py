"""Benchmarks of the API on this machine: see bench/README.md."""
