"""Make ``benchmarks/harness`` importable as ``harness`` (compare.py runs with benchmarks/ on
sys.path; it is a script directory, not part of the installed package)."""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
