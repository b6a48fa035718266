"""The choice between the mypyc-compiled hot path and its pure-Python source."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from l7lb import native

SUFFIX = EXTENSION_SUFFIXES[0]  # e.g. ".cpython-311-x86_64-linux-gnu.so"
ROOT = Path(native.__file__).resolve().parent.parent


def _fake_build(root: Path) -> None:
    """A checkout with every hot source, a compiled file beside each and the build's
    manifest (tools/build_native.py makes it a checkout, not an installed package)."""
    (root / "tools").mkdir(parents=True, exist_ok=True)
    (root / "tools" / "build_native.py").write_text("# the build\n")
    for module in (*native.HOT, native.__name__):
        src = Path(native.source_path(module, str(root)))
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text(f"# {module}\n")
        if module != native.__name__:
            src.with_name(src.stem + SUFFIX).write_bytes(b"")
    (root / (native.GROUP.replace(".", "/") + "__mypyc" + SUFFIX)).write_bytes(b"")
    native.write_manifest(str(root))


def test_a_complete_fresh_build_is_used(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    assert native.check(str(tmp_path), {}) == "compiled"


def test_l7lb_pure_wins_over_a_build(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    assert native.check(str(tmp_path), {"L7LB_PURE": "1"}) == "L7LB_PURE is set"
    assert native.check(str(tmp_path), {"L7LB_PURE": "0"}) == "compiled"


def test_no_build_means_pure_python(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    (tmp_path / ("l7lb/_native__mypyc" + SUFFIX)).unlink()
    assert native.check(str(tmp_path), {}).startswith("not built")


def test_a_source_edited_after_the_build_turns_every_module_pure(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    edited = Path(native.source_path("l7lb.proxy.client", str(tmp_path)))
    edited.write_text("# edited\n")
    assert native.check(str(tmp_path), {}) == (
        "l7lb.proxy.client changed since the build (rebuild: tools/build_native.py)"
    )


def test_touching_a_source_without_changing_it_keeps_the_build(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    os.utime(native.source_path("l7lb.proxy.client", str(tmp_path)), (4e9, 4e9))
    assert native.check(str(tmp_path), {}) == "compiled"


def test_an_installed_package_says_reinstall_not_the_build_script(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    (tmp_path / "tools" / "build_native.py").unlink()  # site-packages has no tools/
    Path(native.source_path("l7lb.http.framing", str(tmp_path))).write_text("# edited\n")
    assert native.check(str(tmp_path), {}) == (
        "l7lb.http.framing changed since the build (rebuild: reinstall l7lb)"
    )


def test_a_build_that_compiled_nothing_says_why(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    for path in native.compiled_files(str(tmp_path)).values():
        os.remove(path)
    why = "no C compiler ('cc' not found); to compile: apt-get install gcc, then reinstall l7lb"
    native.write_manifest(str(tmp_path), reason=why)
    assert (tmp_path / "l7lb" / native.MANIFEST).read_text() == f"not-compiled {why}\n"
    assert native.check(str(tmp_path), {}) == f"the build compiled nothing: {why}"


def test_compiled_files_beside_a_manifest_that_says_nothing_was_compiled_are_not_used(
    tmp_path: Path,
) -> None:
    _fake_build(tmp_path)
    native.write_manifest(str(tmp_path), reason="mypyc failed")
    assert native.check(str(tmp_path), {}) == "the build compiled nothing: mypyc failed"


def test_a_package_build_writes_its_manifest_into_the_tree_it_builds(tmp_path: Path) -> None:
    """A wheel is made from a build tree (build/lib...) that holds copies of the sources."""
    source, build_lib = tmp_path / "src", tmp_path / "build-lib"
    _fake_build(source)
    (source / "l7lb" / native.MANIFEST).unlink()
    shutil.copytree(source / "l7lb", build_lib / "l7lb")
    native.write_manifest(str(source), str(build_lib))
    assert not (source / "l7lb" / native.MANIFEST).exists()
    assert native.check(str(build_lib), {}) == "compiled"
    assert native.check(str(source), {}).startswith("not built")


def test_a_build_without_its_manifest_is_not_used(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    (tmp_path / "l7lb" / native.MANIFEST).unlink()
    assert native.check(str(tmp_path), {}).startswith("not built")


def test_a_missing_compiled_module_turns_every_module_pure(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    Path(native.source_path("l7lb.http.framing", str(tmp_path))).with_suffix(SUFFIX).unlink()
    assert native.check(str(tmp_path), {}).startswith("l7lb.http.framing is not compiled")


def test_a_changed_module_list_is_a_stale_build(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    Path(native.source_path(native.__name__, str(tmp_path))).write_text("# new list\n")
    assert native.check(str(tmp_path), {}).startswith("l7lb.native changed since the build")


def test_a_compiled_module_left_from_an_older_list_is_a_stale_build(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    assert "l7lb.tls.shim" not in native.HOT
    (tmp_path / "l7lb" / "tls").mkdir(exist_ok=True)
    (tmp_path / "l7lb" / "tls" / ("shim" + SUFFIX)).write_bytes(b"")
    assert native.check(str(tmp_path), {}) == (
        "l7lb.tls.shim is compiled but not in l7lb.native.HOT (rebuild: tools/build_native.py)"
    )


def _loaded_from(env: dict[str, str]) -> list[str]:
    code = (
        "import importlib, l7lb.native as n\n"
        "print(n.describe())\n"
        "for m in n.HOT: print(importlib.import_module(m).__file__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert len(out) == 1 + len(native.HOT), out
    return out


def test_l7lb_pure_loads_every_hot_module_from_source() -> None:
    out = _loaded_from({**os.environ, "L7LB_PURE": "1"})
    assert out[0] == "hot path runs as pure Python: L7LB_PURE is set"
    assert all(path.endswith(".py") for path in out[1:]), out


@pytest.mark.skipif(
    os.environ.get("L7LB_EXPECT_NATIVE") != "1",
    reason="the suite was not started by ./dev test after a successful native build",
)
def test_the_build_is_what_runs() -> None:
    env = {k: v for k, v in os.environ.items() if k != "L7LB_PURE"}
    out = _loaded_from(env)
    assert out[0] == f"hot path compiled with mypyc ({len(native.HOT)} modules)"
    assert all(path.endswith(SUFFIX) for path in out[1:]), out


def _cli(args: list[str], env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "l7lb", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.splitlines()


def test_version_says_the_release_and_which_hot_path_runs() -> None:
    env = {**os.environ, "L7LB_PURE": "1"}
    out = _cli(["--version"], env)
    assert out[0].startswith("l7lb 0.1.0 (Python 3."), out
    assert out[1:] == ["hot path runs as pure Python: L7LB_PURE is set"]
    assert _cli(["version"], env) == out


@pytest.mark.skipif(
    os.environ.get("L7LB_EXPECT_NATIVE") != "1",
    reason="the suite was not started by ./dev test after a successful native build",
)
def test_version_says_compiled_when_the_build_runs() -> None:
    env = {k: v for k, v in os.environ.items() if k != "L7LB_PURE"}
    compiled = f"hot path compiled with mypyc ({len(native.HOT)} modules)"
    assert _cli(["--version"], env)[1] == compiled


def test_every_engine_module_is_compiled() -> None:
    """A module the per-request path runs must be in HOT: one left out runs interpreted,
    and every compiled call into it goes through its Python wrapper (l7lb.proxy.tally once
    did, at a cost of about 3,700 instructions per request)."""
    import l7lb.proxy

    interpreted = {"l7lb.proxy.services"}  # control messages and timers: not per request
    root = Path(l7lb.proxy.__file__).parent
    modules = {f"l7lb.proxy.{p.stem}" for p in root.glob("*.py") if p.stem != "__init__"}
    assert modules - interpreted - set(native.HOT) == set()


def test_a_note_on_how_the_build_was_made_is_kept_and_does_not_change_the_check(
    tmp_path: Path,
) -> None:
    _fake_build(tmp_path)
    assert native.build_note(str(tmp_path)) == ""
    native.write_manifest(str(tmp_path), note="profile-guided (gcc\n -fprofile-use)")
    manifest = (tmp_path / "l7lb" / native.MANIFEST).read_text()
    assert manifest.startswith("# profile-guided (gcc -fprofile-use)\n")
    assert native.check(str(tmp_path), {}) == "compiled"
    assert native.build_note(str(tmp_path)) == "profile-guided (gcc -fprofile-use)"
    # a build that compiled nothing carries no note: it says why instead
    native.write_manifest(str(tmp_path), reason="no C compiler", note="profile-guided")
    assert native.build_note(str(tmp_path)) == ""
    assert native.check(str(tmp_path), {}) == "the build compiled nothing: no C compiler"
