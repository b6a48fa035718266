"""Compiled (mypyc) or pure Python: which of l7lb's hot modules run, and why.

The build (``tools/build_native.py``: the ``build_ext`` step of ``pip install``, of a wheel, of
``pip install -e`` and of ``./dev``) compiles the modules named in ``HOT`` into one extension
group: a compiled module sits beside its source (``client.cpython-311-x86_64-linux-gnu.so``
next to ``client.py``) and calls the other compiled modules directly, in C. Python would load
a compiled module before its source, so ``install()`` (run when the package is imported)
decides for all of them at once:

* the compiled modules are used when every one of them is there and every source is the one
  they were built from (``l7lb/_native_build.txt`` holds the SHA-256 of each, and of this
  file, written by the build; contents, not times, so a checkout or a wheel install that
  touches files does not matter);
* otherwise every l7lb module loads from source, with the same behaviour, only slower: no
  build, a build that could not compile (no C compiler: the manifest then says why),
  ``L7LB_PURE=1`` in the environment, or a source edited since the last build (a stale
  compiled module never runs in place of the code you see).

The supervisor logs ``describe()`` once at start, and ``l7lb --version`` prints it.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping, Sequence
from importlib.machinery import (
    EXTENSION_SUFFIXES,
    SOURCE_SUFFIXES,
    FileFinder,
    ModuleSpec,
    SourceFileLoader,
)

# the per-request path: codec, forwarding rules, proxy, routing, scheduling, persistence,
# per-client limits; per TLS connection, the accept gate and the ClientHello parser
HOT: tuple[str, ...] = (
    "l7lb.http.authority",
    "l7lb.http.events",
    "l7lb.http.fields",
    "l7lb.http.framing",
    "l7lb.http.forwarding",
    "l7lb.http.head_edit",
    "l7lb.http.lines",
    "l7lb.http.httptools_codec",
    "l7lb.http.status",
    "l7lb.http2.frames",
    "l7lb.http2.hpack",
    "l7lb.http2.huffman",
    "l7lb.http2.limits",
    "l7lb.http2.request",
    "l7lb.proxy.answers",
    "l7lb.proxy.body",
    "l7lb.proxy.client_side",
    "l7lb.proxy.client",
    "l7lb.proxy.commands",
    "l7lb.proxy.deadlines",
    "l7lb.proxy.dispatch",
    "l7lb.proxy.engine",
    "l7lb.proxy.exchange",
    "l7lb.proxy.flow",
    "l7lb.proxy.h1",
    "l7lb.proxy.h2",
    "l7lb.proxy.h2_block",
    "l7lb.proxy.h2_control",
    "l7lb.proxy.h2_flow",
    "l7lb.proxy.h2_host",
    "l7lb.proxy.h2_requests",
    "l7lb.proxy.h2_stream",
    "l7lb.proxy.h2_streams",
    "l7lb.proxy.h2c",
    "l7lb.proxy.link",
    "l7lb.proxy.outbox",
    "l7lb.proxy.runtime",
    "l7lb.proxy.tally",
    "l7lb.proxy.upstream",
    "l7lb.routing.redirect",
    "l7lb.routing.router",
    "l7lb.routing.target",
    "l7lb.balancing.consistent_hash",
    "l7lb.balancing.drain",
    "l7lb.balancing.hash_key",
    "l7lb.balancing.hashing",
    "l7lb.balancing.least_conn",
    "l7lb.balancing.picker",
    "l7lb.balancing.pool_state",
    "l7lb.balancing.round_robin",
    "l7lb.balancing.scheduler",
    "l7lb.balancing.server_state",
    "l7lb.balancing.source_hash",
    "l7lb.persistence.admission",
    "l7lb.persistence.cookie",
    "l7lb.persistence.jsessionid",
    "l7lb.persistence.prefix",
    "l7lb.persistence.policy",
    "l7lb.persistence.setcookie",
    "l7lb.persistence.shared",
    "l7lb.persistence.table",
    "l7lb.limits.deltas",
    "l7lb.limits.source",
    "l7lb.limits.table",
    "l7lb.limits.window",
    "l7lb.accesslog",
    "l7lb.metrics.counters",
    "l7lb.config.http2",
    "l7lb.config.model",
    "l7lb.proxyproto.arrival",
    "l7lb.tls.clienthello",
    "l7lb.tls.counters",
    "l7lb.tls.listener",
    "l7lb.tls.sessions",
    "l7lb.tls.stream",
)
GROUP = "l7lb._native"  # the shared library of the group: l7lb/_native__mypyc.*.so
MANIFEST = "_native_build.txt"  # in the package directory: "<sha256> <module>" per line,
NOT_COMPILED = "not-compiled"  # or one line "not-compiled <why>" from a build that could not
NOTE = "#"  # and a line "# <how it was built>" when the build was more than the plain one

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_state = ""  # "compiled", or why not


def source_path(module: str, root: str = _ROOT) -> str:
    return os.path.join(root, *module.split(".")) + ".py"


def compiled_files(root: str = _ROOT) -> dict[str, str]:
    """Every compiled module file inside the ``l7lb`` package under ``root``, by module."""
    found = {}
    package = os.path.join(root, "l7lb")
    for directory, _, files in os.walk(package):
        for name in files:
            for suffix in EXTENSION_SUFFIXES:
                if name.endswith(suffix):
                    rel = os.path.relpath(os.path.join(directory, name[: -len(suffix)]), root)
                    found[rel.replace(os.sep, ".")] = os.path.join(directory, name)
                    break  # ".cpython-311-x86_64-linux-gnu.so" ends with ".so" too
    return found


def source_digests(root: str = _ROOT) -> dict[str, str]:
    """SHA-256 of each hot module's source, and of this file (it holds the list)."""
    out = {}
    for module in (*HOT, __name__):
        with open(source_path(module, root), "rb") as f:
            out[module] = hashlib.sha256(f.read()).hexdigest()
    return out


def write_manifest(
    root: str = _ROOT, dest: str | None = None, reason: str = "", note: str = ""
) -> None:
    """Record what a build made, in ``dest`` (the tree it built into; ``root`` by default):
    the digests of the sources under ``root`` it compiled, or, given a ``reason``, that it
    compiled nothing and why (the run-time message then says so). A ``note`` says how it was
    compiled when that was not the plain build (``describe`` shows it)."""
    if reason:
        lines = [f"{NOT_COMPILED} {' '.join(reason.split())}\n"]
    else:
        lines = [f"{digest} {module}\n" for module, digest in source_digests(root).items()]
        if note:
            lines.insert(0, f"{NOTE} {' '.join(note.split())}\n")
    package = os.path.join(dest or root, "l7lb")
    os.makedirs(package, exist_ok=True)
    with open(os.path.join(package, MANIFEST), "w", encoding="utf-8") as f:
        f.writelines(lines)


def _read_manifest(root: str) -> tuple[dict[str, str], str] | None:
    """(digest by module, why nothing was compiled), or None without a readable manifest."""
    try:
        with open(os.path.join(root, "l7lb", MANIFEST), encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError):
        return None
    lines = [line for line in lines if not line.startswith(NOTE)]
    if lines and lines[0].startswith(NOT_COMPILED + " "):
        return {}, lines[0][len(NOT_COMPILED) + 1 :]
    pairs = [line.split() for line in lines]
    return {p[1]: p[0] for p in pairs if len(p) == 2}, ""


def _rebuild_command(root: str) -> str:
    """How to build again: in a source checkout the build script, else a reinstall."""
    if os.path.exists(os.path.join(root, "tools", "build_native.py")):
        return "tools/build_native.py"
    return "reinstall l7lb"


def check(root: str = _ROOT, environ: Mapping[str, str] = os.environ) -> str:
    """ "compiled" when the compiled modules under ``root`` (the directory that holds the
    ``l7lb`` package) may be used, else the reason they may not."""
    if environ.get("L7LB_PURE", "") not in ("", "0"):
        return "L7LB_PURE is set"
    manifest = _read_manifest(root)
    if manifest is not None and manifest[1]:
        return f"the build compiled nothing: {manifest[1]}"
    rebuild = f"(rebuild: {_rebuild_command(root)})"
    files = compiled_files(root)
    if GROUP + "__mypyc" not in files or manifest is None:
        return f"not built {rebuild}"
    built = manifest[0]
    for module in HOT:
        if module not in files:
            return f"{module} is not compiled {rebuild}"
    for module, digest in source_digests(root).items():
        if built.get(module) != digest:
            return f"{module} changed since the build {rebuild}"
    extra = sorted(set(files) - set(HOT) - {GROUP + "__mypyc"})
    if extra:
        return f"{extra[0]} is compiled but not in l7lb.native.HOT {rebuild}"
    return "compiled"


class _SourceOnly:
    """A meta-path finder for l7lb's submodules that only knows ``.py`` files."""

    @staticmethod
    def find_spec(
        name: str, path: Sequence[str] | None = None, target: object = None
    ) -> ModuleSpec | None:
        if not name.startswith("l7lb.") or not path:
            return None
        for entry in path:
            spec = FileFinder(entry, (SourceFileLoader, SOURCE_SUFFIXES)).find_spec(name)
            if spec is not None:
                return spec
        return None


def install() -> None:
    """Decide once, before any hot module is imported (see the module docstring)."""
    global _state
    if _state:
        return
    _state = check()
    if _state != "compiled" and _SourceOnly not in sys.meta_path:
        sys.meta_path.insert(0, _SourceOnly)


def compiled() -> bool:
    return _state == "compiled"


def build_note(root: str = _ROOT) -> str:
    """How the build under ``root`` was compiled, when its manifest says (``write_manifest``'s
    ``note``, e.g. profile-guided), else ""."""
    try:
        with open(os.path.join(root, "l7lb", MANIFEST), encoding="utf-8") as f:
            first = f.readline().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return first[len(NOTE) :].strip() if first.startswith(NOTE) else ""


def describe() -> str:
    """One line for the log: whether the hot path runs compiled (and how, when the build says),
    and if not, why."""
    if compiled():
        note = build_note()
        return f"hot path compiled with mypyc ({len(HOT)} modules{', ' + note if note else ''})"
    return f"hot path runs as pure Python: {_state}"
