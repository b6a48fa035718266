"""tools/build_native.py: the one build of the hot path, and its fall-back to pure Python.

The package build runs the same ``BuildNative`` step (tests/packaging/test_install.py installs
with pip in fresh virtualenvs); here it runs in place, as ./dev runs it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType

import pytest

from l7lb import native

ROOT = Path(native.__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "build_native.py"


def _load_build_native() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_native", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_missing_c_compiler_is_found_before_mypyc_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    build_native = _load_build_native()
    monkeypatch.setenv("CC", "/nonexistent/cc -pthread")
    assert build_native.cannot_compile() == (
        "no C compiler ('/nonexistent/cc -pthread' not found)",
        "apt-get install gcc (Debian)",
    )


def test_a_c_compiler_on_the_path_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("cc") is None:
        pytest.skip("no cc on this machine")
    build_native = _load_build_native()
    monkeypatch.setenv("CC", "cc")
    assert build_native.cannot_compile() == ("", "")


def test_the_declared_extensions_are_the_hot_list() -> None:
    """setup.py declares the extensions before mypyc runs: the group, then HOT, by name."""
    names = [e.name for e in _load_build_native().extensions()]
    assert names == ["l7lb._native__mypyc", *native.HOT]


def _copy_checkout(dest: Path) -> Path:
    """The files the build needs, and whatever build is in place now (it must go)."""
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    (dest / "tools").mkdir()
    shutil.copy2(SCRIPT, dest / "tools" / "build_native.py")
    shutil.copytree(ROOT / "l7lb", dest / "l7lb", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_without_a_c_compiler_the_build_warns_removes_the_old_build_and_says_why(
    tmp_path: Path,
) -> None:
    tree = _copy_checkout(tmp_path)
    # a previous build in place, stale or not, must not survive a failed one
    (tree / "l7lb" / "http" / ("framing" + EXTENSION_SUFFIXES[0])).write_bytes(b"")
    (tree / "l7lb" / native.MANIFEST).write_text("0 l7lb.http.framing\n")
    env = {k: v for k, v in os.environ.items() if k != "L7LB_PURE"}
    env["CC"] = "/nonexistent/cc"
    run = subprocess.run(
        [sys.executable, "tools/build_native.py", "--force"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert (
        "l7lb: WARNING: the hot path was NOT compiled: no C compiler ('/nonexistent/cc' not found)."
        in run.stderr
    )
    why = (
        "no C compiler ('/nonexistent/cc' not found); "
        "to compile: apt-get install gcc (Debian), then run tools/build_native.py"
    )
    assert (tree / "l7lb" / native.MANIFEST).read_text() == f"not-compiled {why}\n"
    assert native.compiled_files(str(tree)) == {}
    described = subprocess.run(
        [sys.executable, "-c", "import l7lb.native as n; print(n.describe())"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert described == f"hot path runs as pure Python: the build compiled nothing: {why}\n"


@pytest.mark.parametrize("args", [["--force"], ["--pgo"]])
def test_an_optimisation_level_that_is_not_one_compiles_nothing_and_says_why(
    tmp_path: Path, args: list[str]
) -> None:
    """L7LB_BUILD_OPT is checked before mypyc runs; --pgo only builds at -O3."""
    tree = _copy_checkout(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "L7LB_PURE"}
    env["L7LB_BUILD_OPT"] = "fast" if args == ["--force"] else "0"
    run = subprocess.run(
        [sys.executable, "tools/build_native.py", *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if args == ["--pgo"]:
        assert run.returncode == 2
        assert "build_native: --pgo builds at gcc -O3; unset L7LB_BUILD_OPT" in run.stderr
        assert not (tree / "build").exists()  # nothing was compiled
        return
    assert run.returncode == 1, run.stderr
    why = (
        "L7LB_BUILD_OPT='fast' is not a gcc optimisation level (0, 1, 2 or 3); "
        "to compile: fix that, then run tools/build_native.py"
    )
    assert (tree / "l7lb" / native.MANIFEST).read_text() == f"not-compiled {why}\n"
    assert native.compiled_files(str(tree)) == {}


def test_the_profile_flags_make_gcc_count_then_use_the_counts(tmp_path: Path) -> None:
    """``--pgo``'s two stages on a small C file with this machine's gcc: the instrumented
    program leaves its counts in the directory, and the second compile reads them (gcc warns
    when a profile it was told to use is missing or does not match: none here)."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc on this machine")
    build_native = _load_build_native()
    src = tmp_path / "hot.c"
    src.write_text(
        "#include <stdio.h>\n"
        "int main(int argc, char **argv) { long s = 0;\n"
        "  for (long i = 0; i < 100000; i++) s += (i % 7 == 0) ? i : argc;\n"
        '  printf("%ld\\n", s); return 0; }\n'
    )
    counts = tmp_path / "pgo"
    exe = tmp_path / "hot"
    obj = tmp_path / "hot.o"

    def gcc(stage: str) -> subprocess.CompletedProcess[str]:
        flags = build_native.profile_cflags(stage, str(counts))
        subprocess.run(
            ["gcc", "-O2", *flags, "-Wcoverage-mismatch", "-c", str(src), "-o", str(obj)],
            check=True,
            capture_output=True,
            text=True,
        )
        return subprocess.run(
            ["gcc", *flags, str(obj), "-o", str(exe)], check=True, capture_output=True, text=True
        )

    gcc("generate")
    assert not counts.exists()
    assert subprocess.run([str(exe)], capture_output=True, check=True).stdout.strip()
    assert list(counts.rglob("*.gcda")), "the instrumented program left no counts"
    used = gcc("use")
    assert "profile" not in used.stderr
    with pytest.raises(ValueError, match="generate or use"):
        build_native.profile_cflags("train", str(counts))


def test_every_training_run_is_a_mode_the_microbenchmark_has() -> None:
    """The training's arguments are microbench.py's own: an option it lost would end --pgo
    with a usage error, after the slow instrumented build."""
    build_native = _load_build_native()
    spec = importlib.util.spec_from_file_location("microbench", build_native.TRAINER)
    assert spec is not None and spec.loader is not None
    microbench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(microbench)
    parser = microbench.arg_parser()
    for args, requests in build_native.TRAINING:
        parsed = parser.parse_args([*args, "--requests", str(requests), "--repeats", "1"])
        assert parsed.requests == requests and not parsed.instructions
