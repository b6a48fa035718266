"""pyproject.toml: what the package build needs, and what it must not pick up."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_build_has_every_runtime_dependency() -> None:
    """mypyc type-checks the hot path against the libraries' own types, as `./dev lint`
    does; without them in the isolated build environment it stops on errors like
    "Returning Any from function declared to return bytes" and the install runs pure."""
    requires = set(PYPROJECT["build-system"]["requires"])
    missing = [d for d in PYPROJECT["project"]["dependencies"] if d not in requires]
    assert missing == [], f"add {missing} to [build-system] requires"


def test_the_package_build_never_ships_an_in_place_build() -> None:
    """The compiled modules and the manifest of the wheel come from its own build step; an
    in-place build of the checkout (./dev) may be stale or made for another Python."""
    data = PYPROJECT["tool"]["setuptools"].get("package-data", {})
    patterns = [p for globs in data.values() for p in globs]
    assert not [p for p in patterns if p.endswith(".so") or "_native_build" in p], patterns
