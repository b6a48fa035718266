"""tests/ipvs: its helpers (ipvs_helpers.py) import by name, like tests/e2e's procs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
