"""Helpers for ``benchmarks/compare.py``: l7lb side by side with HAProxy and nginx.

Pure parts (parsing, statistics, config and report rendering) are kept apart from the parts that
start processes, so the tests in ``tests/benchmarks_harness/`` can check them without timing.
"""
