"""The package build's one piece of code: compile the hot path with mypyc (or fall back).

Everything else about the package is in pyproject.toml. The extension modules and the
``build_ext`` step that compiles them come from tools/build_native.py, the same build that
``./dev`` runs in place (docs/operations.md, "The compiled hot path").
"""

import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools"))

from build_native import setup_args

setup(**setup_args())
