"""./dev's choice of the interpreter .venv is made from (its venv_python function)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DISTRIBUTION = "/usr/bin/python3"


def venv_python(**env: str) -> str:
    """What ./dev's venv_python prints, run on its own with ``env`` over this environment's."""
    script = 'source <(sed -n "/^venv_python()/,/^}/p" dev); venv_python'
    base = {k: v for k, v in os.environ.items() if k != "L7LB_PYTHON"}
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def can_make_the_venv(python: str) -> bool:
    """Checked apart from ./dev's own snippet: 3.11 or later, the venv and ensurepip modules,
    and the headers the hot path compiles against."""
    if not os.access(python, os.X_OK):
        return False
    probe = (
        "import ensurepip, os, sys, sysconfig, venv; "
        "print(sys.version_info >= (3, 11)); "
        "print(os.path.isfile(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60)
    return done.returncode == 0 and done.stdout.split() == ["True", "True"]


def test_l7lb_python_is_taken_as_given() -> None:
    assert venv_python(L7LB_PYTHON="/opt/python/bin/python3.12") == "/opt/python/bin/python3.12"


def test_the_distribution_python_comes_first_when_it_can_make_the_venv() -> None:
    expected = DISTRIBUTION if can_make_the_venv(DISTRIBUTION) else "python3"
    assert venv_python() == expected
