"""Benchmarks of subserve against its peers (see bench/run.py).

Runs in: the benchmark driver (outside the server); bench.apps runs in the
server under test.
"""
