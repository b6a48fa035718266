"""Compile l7lb's per-request modules with mypyc: the one build, for pip and for ./dev.

    python tools/build_native.py [--force | --clean | --pgo]

The modules are those of ``l7lb.native.HOT``, built as one group so that they call each other
directly in C. ``BuildNative`` below is the ``build_ext`` step of the package build
(``setup.py`` hands it to setuptools), so ``pip install .``, a wheel and ``pip install -e .``
compile them; this script runs that same step in place, beside the sources, which is how
``./dev`` builds after an edit. In place, nothing is done when the build there was made from the
sources as they are now (``--force`` rebuilds anyway).

A build ends by writing ``l7lb/_native_build.txt``: the digests of the sources it compiled,
which is how ``l7lb.native`` tells a current build from a stale one; or, when it could not
compile (no C compiler, no Python headers, no mypy, a compiler error), why. Then it warns,
the build still succeeds, and l7lb runs the same code as pure Python, saying why at start-up
and in ``l7lb --version``. ``L7LB_PURE=1`` makes l7lb ignore a build; ``--clean`` removes it.

``--pgo`` builds in place guided by a profile (gcc's ``-fprofile-generate`` and
``-fprofile-use``): it compiles the group instrumented, runs the per-request paths of
``benchmarks/microbench.py`` (``TRAINING``) on it, and compiles again with what they counted, so
gcc lays out the hot code together and the cold code apart. Same source, same C; only gcc's
choices differ. The manifest says so (``l7lb --version``). When training fails, the plain build
is made instead and the command exits 1.
"""

from __future__ import annotations

import argparse
import glob
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from setuptools import Extension
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from l7lb import native  # noqa: E402

C_DIR = os.path.join("build", "native")  # mypyc's C output, relative to ROOT
# gcc's -O for the build, 3 unless set: 0 compiles in a fraction of the time, for checking the
# build itself (tests/packaging/test_install.py), never for serving
OPT_ENV = "L7LB_BUILD_OPT"
PGO_DIR = os.path.join(ROOT, "build", "pgo")  # gcc's counts (*.gcda) of the training runs
TRAINER = os.path.join(ROOT, "benchmarks", "microbench.py")
# (arguments, requests) per training run: each request path the benchmarks measure, plain and
# TLS, keep-alive and a connection per request, with and without cookie persistence
TRAINING: tuple[tuple[tuple[str, ...], int], ...] = (
    ((), 4000),
    (("--wrk",), 2000),
    (("--cookie",), 2000),
    (("--cookie", "--distinct"), 2000),
    (("--tls",), 2000),
    (("--new-conn",), 2000),
    (("--tls-resume",), 500),
)
PGO_NOTE = "profile-guided: gcc -fprofile-use, trained on benchmarks/microbench.py"


def extensions() -> list[Extension]:
    """What the build makes, named from ``native.HOT`` before anything is compiled: the
    group's shared library and one small module per hot module (mypyc fills in the C)."""
    names = [native.GROUP + "__mypyc", *native.HOT]
    return [Extension(name, sources=[]) for name in names]


def setup_args() -> dict[str, Any]:
    """The arguments ``setup.py`` gives setuptools; the rest is in pyproject.toml."""
    return {"ext_modules": extensions(), "cmdclass": {"build_ext": BuildNative}}


def remove_build(root: str) -> None:
    """Every compiled file in the ``l7lb`` package under ``root``, listed in HOT or not (an
    old list's leftovers), and the manifest: never leave a mix of old and new modules."""
    for path in native.compiled_files(root).values():
        os.remove(path)
    manifest = os.path.join(root, "l7lb", native.MANIFEST)
    if os.path.exists(manifest):
        os.remove(manifest)


def cannot_compile() -> tuple[str, str]:
    """Why this machine cannot compile the hot path and what to do, or ("", "") (checked
    first: mypyc type-checks for a while before it needs the C compiler)."""
    try:
        import mypyc.build  # noqa: F401
    except ImportError as exc:
        return f"mypyc is not installed ({exc})", "pip install mypy (it ships mypyc)"
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    words = shlex.split(cc)
    if not words or shutil.which(words[0]) is None:
        return f"no C compiler ({cc!r} not found)", "apt-get install gcc (Debian)"
    headers = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(headers, "Python.h")):
        return f"no Python headers (no Python.h in {headers})", "apt-get install python3-dev"
    return "", ""


@contextmanager
def _in_root() -> Iterator[None]:
    """mypyc names modules and writes its C relative to the working directory."""
    before = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)


class BuildNative(build_ext):
    """setuptools' ``build_ext`` for the hot path: compile it with mypyc, or fall back to pure
    Python with a warning (a failed compile never fails the install)."""

    def run(self) -> None:
        # in place (--inplace, or pip install -e): beside the sources; else the build tree
        # the wheel is made from
        dest = ROOT if self.inplace else self.build_lib
        if self.inplace and not self.force and native.check(ROOT, {}) == "compiled":
            self.extensions = []
            print("build_native: up to date", file=sys.stderr)
            return
        remove_build(dest)
        why, fix = cannot_compile()
        if not why:
            why, fix = self._compile(), "fix that"
            if not why:
                level = os.environ.get(OPT_ENV, "3")
                note = "" if level == "3" else f"gcc -O{level} ({OPT_ENV}), not for serving"
                native.write_manifest(ROOT, dest, note=note)
                return
        self.extensions = []
        remove_build(dest)
        then = "run tools/build_native.py" if self.inplace else "reinstall l7lb"
        native.write_manifest(ROOT, dest, reason=f"{why}; to compile: {fix}, then {then}")
        _warn_pure(why, fix, then)

    def build_extensions(self) -> None:
        _compile_in_parallel(self.compiler)  # set up by build_ext.run by now
        super().build_extensions()

    def _compile(self) -> str:
        """Generate the C with mypyc and build it: "" when done, else what failed."""
        from mypyc.build import mypycify

        t0 = time.monotonic()
        opt_level = os.environ.get(OPT_ENV, "3")
        if opt_level not in ("0", "1", "2", "3"):
            return f"{OPT_ENV}={opt_level!r} is not a gcc optimisation level (0, 1, 2 or 3)"
        paths = [os.path.relpath(native.source_path(m, ROOT), ROOT) for m in native.HOT]
        try:
            with _in_root():
                # multi_file: one C file per module rather than one of ~1 MB, which gcc -O3
                # compiles in about half the time (and the files on every CPU at once)
                built = mypycify(
                    paths,
                    group_name=native.GROUP,
                    target_dir=C_DIR,
                    multi_file=True,
                    opt_level=opt_level,
                )
                made = {e.name: e for e in built}
                if set(made) != {e.name for e in self.extensions}:
                    return f"mypyc made {sorted(made)}, not the extensions setup.py declared"
                for ext in self.extensions:
                    # the declared objects carry what setuptools worked out from their names
                    vars(ext).update(vars(made[ext.name]))
                    # multi_file puts the group's headers beside its package
                    ext.include_dirs.append(os.path.join(C_DIR, *native.GROUP.split(".")[:-1]))
                super().run()
        except SystemExit as exc:  # mypyc exits on a type error it cannot compile
            return f"mypyc failed (exit status {exc.code}; its errors are in the build output)"
        except Exception as exc:  # CompileError, LinkError, OSError: the compiler said why above
            return f"the C build failed ({type(exc).__name__}: {exc})"
        print(
            f"build_native: {len(paths)} modules compiled in {time.monotonic() - t0:.0f} s",
            file=sys.stderr,
        )
        return ""


def _compile_in_parallel(compiler: Any) -> None:
    """Make ``compiler.compile`` (setuptools' CCompiler) build its sources on every CPU:
    the same steps as its own loop (``_setup_compile``, ``_get_cc_args``, ``_compile`` per
    object), one thread per compiler process. Left as it is if those are not there."""
    steps = ("_setup_compile", "_get_cc_args", "_compile")
    if not all(hasattr(compiler, step) for step in steps):
        return

    def compile(
        sources: list[str],
        output_dir: str | None = None,
        macros: Any = None,
        include_dirs: Any = None,
        debug: Any = False,
        extra_preargs: Any = None,
        extra_postargs: Any = None,
        depends: Any = None,
    ) -> list[str]:
        macros, objects, extra_postargs, pp_opts, build = compiler._setup_compile(
            output_dir, macros, include_dirs, sources, depends, extra_postargs
        )
        cc_args = compiler._get_cc_args(pp_opts, debug, extra_preargs)

        def one(obj: str) -> None:
            if obj in build:
                src, ext = build[obj]
                compiler._compile(obj, src, ext, cc_args, extra_postargs, pp_opts)

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for _ in pool.map(one, objects):  # re-raises the first CompileError
                pass
        return list(objects)

    compiler.compile = compile


def _warn_pure(why: str, fix: str, then: str) -> None:
    rule = "*" * 78
    print(
        f"{rule}\n"
        f"l7lb: WARNING: the hot path was NOT compiled: {why}.\n"
        "l7lb: it will run as pure Python: the same behaviour, about half as fast.\n"
        f"l7lb: to compile it: {fix}, then {then}.\n"
        f"{rule}",
        file=sys.stderr,
        flush=True,
    )


def profile_cflags(stage: str, directory: str = PGO_DIR) -> list[str]:
    """gcc's flags for one stage of a profile-guided build: "generate" (instrumented, counts
    written under ``directory`` when a process exits) or "use" (optimised by those counts;
    functions the training never ran are compiled as usual, not for size)."""
    if stage == "generate":
        return [f"-fprofile-generate={directory}", "-fprofile-update=single"]
    if stage == "use":
        return [f"-fprofile-use={directory}", "-fprofile-partial-training", "-Wno-missing-profile"]
    raise ValueError(f"no profile stage {stage!r}: generate or use")


def _build_in_place(force: bool, cflags: Sequence[str] = ()) -> int:
    """``setup.py build_ext --inplace`` with the same pyproject.toml and setup.py, with
    ``cflags`` added to the environment's CFLAGS (setuptools adds those to every compile and
    link); 0 when l7lb then runs compiled."""
    from setuptools import setup

    script = ["-q", "build_ext", "--inplace", *(["--force"] if force else [])]
    before = os.environ.get("CFLAGS")
    if cflags:
        os.environ["CFLAGS"] = " ".join([before or "", *cflags]).strip()
    with _in_root():
        try:
            setup(script_args=script, **setup_args())
        except (SystemExit, Exception) as exc:
            print(f"build_native: setuptools failed ({exc})", file=sys.stderr)
            return 1
        finally:
            if before is None:
                os.environ.pop("CFLAGS", None)
            else:
                os.environ["CFLAGS"] = before
    state = native.check(ROOT, {})
    if state != "compiled":
        print(f"build_native: l7lb runs as pure Python: {state}", file=sys.stderr)
        return 1
    return 0


def _train() -> str:
    """Run ``TRAINING`` on the instrumented build in place: "" when every run ended well and
    left counts, else what went wrong."""
    env = {k: v for k, v in os.environ.items() if k != "L7LB_PURE"}
    # this checkout's l7lb, installed in the environment or not
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    for args, requests in TRAINING:
        argv = [sys.executable, TRAINER, *args, "--requests", str(requests), "--repeats", "1"]
        try:
            done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=600)
        except subprocess.TimeoutExpired:
            return f"{' '.join(argv[1:])} ran past 600 s"
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            return f"{' '.join(argv[1:])} exited with {done.returncode}: {' '.join(tail)}"
    if not glob.glob(os.path.join(PGO_DIR, "**", "*.gcda"), recursive=True):
        return f"the training runs left no counts in {PGO_DIR}"
    return ""


def build_with_profile() -> int:
    """``--pgo``: instrumented build, training, optimised build (module docstring)."""
    if os.environ.get(OPT_ENV, "3") != "3":
        print(f"build_native: --pgo builds at gcc -O3; unset {OPT_ENV}", file=sys.stderr)
        return 2
    if not os.path.exists(TRAINER):
        print(f"build_native: --pgo trains on {TRAINER}, which is not here", file=sys.stderr)
        return 1
    shutil.rmtree(PGO_DIR, ignore_errors=True)
    t0 = time.monotonic()
    if _build_in_place(True, profile_cflags("generate")) != 0:
        return 1
    why = _train()
    if why:
        # never leave the instrumented build in place: it writes counts at every exit
        print(f"build_native: training failed ({why}); building without a profile")
        _build_in_place(True)
        return 1
    print(f"build_native: trained in {time.monotonic() - t0:.0f} s (with the first build)")
    if _build_in_place(True, profile_cflags("use")) != 0:
        return 1
    native.write_manifest(ROOT, note=PGO_NOTE)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    ap.add_argument("--clean", action="store_true", help="remove the build and stop")
    ap.add_argument("--pgo", action="store_true", help="profile-guided build (slower to make)")
    args = ap.parse_args(argv)
    if args.clean:
        remove_build(ROOT)
        shutil.rmtree(os.path.join(ROOT, C_DIR), ignore_errors=True)
        shutil.rmtree(PGO_DIR, ignore_errors=True)
        print("build_native: removed; l7lb runs as pure Python")
        return 0
    if args.pgo:
        return build_with_profile()
    return _build_in_place(args.force)


if __name__ == "__main__":
    sys.exit(main())
