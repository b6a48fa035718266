"""Compile l7lb's per-request modules with mypyc, in place, beside their sources.

    python tools/build_native.py [--force | --clean]

The modules are those of ``l7lb.native.HOT``, built as one group so that they call each
other directly in C. Nothing is done when the build in place was made from the sources as they
are now (``--force`` rebuilds anyway); a build ends by writing ``l7lb/_native_build.txt``, the
digests of the sources it compiled, which is how ``l7lb.native`` tells. Needs mypy (which
ships mypyc) and a C compiler; without them l7lb runs the same code as pure Python.
``L7LB_PURE=1`` makes l7lb ignore a build; ``--clean`` removes it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from l7lb import native  # noqa: E402


def _remove_build() -> None:
    """Every compiled file in the package, listed in HOT or not (an old list's leftovers)."""
    for path in native.compiled_files(ROOT).values():
        os.remove(path)
    manifest = os.path.join(ROOT, "l7lb", native.MANIFEST)
    if os.path.exists(manifest):
        os.remove(manifest)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    ap.add_argument("--clean", action="store_true", help="remove the build and stop")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    if args.clean:
        _remove_build()
        shutil.rmtree(os.path.join(ROOT, "build", "native"), ignore_errors=True)
        print("build_native: removed; l7lb runs as pure Python")
        return 0
    os.environ.pop("L7LB_PURE", None)
    if not args.force and native.check(ROOT) == "compiled":
        print("build_native: up to date")
        return 0
    # setuptools finds [tool.setuptools] in pyproject.toml and calls it beta, every time
    warnings.filterwarnings("ignore", message=".*tool.setuptools.*")
    try:
        from mypyc.build import mypycify
        from setuptools import setup
    except ImportError as exc:
        print(f"build_native: {exc}; install mypy (it ships mypyc)", file=sys.stderr)
        return 1
    if shutil.which(os.environ.get("CC", "cc")) is None:
        print("build_native: no C compiler (Debian: apt-get install gcc)", file=sys.stderr)
        return 1
    _remove_build()  # never leave a mix of old and new modules
    t0 = time.monotonic()
    paths = [os.path.relpath(native.source_path(m), ROOT) for m in native.HOT]
    try:
        setup(
            name="l7lb-native",
            packages=[],
            py_modules=[],
            ext_modules=mypycify(paths, group_name=native.GROUP, target_dir="build/native"),
            script_args=["-q", "build_ext", "--inplace", "--build-temp", "build/native/obj"],
        )
    except (SystemExit, Exception) as exc:
        _remove_build()
        print(f"build_native: failed ({exc}); l7lb runs as pure Python", file=sys.stderr)
        return 1
    native.write_manifest(ROOT)
    state = native.check(ROOT)
    if state != "compiled":
        print(f"build_native: built, but {state}", file=sys.stderr)
        return 1
    print(f"build_native: {len(paths)} modules compiled in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
