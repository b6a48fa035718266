"""No import circles inside l7lb (issue 13, section 2).

A circle means two modules each need the other: neither can be read, tested or replaced alone,
and whichever Python reaches first sees the other half-initialised. Hiding one side in a
function-level import or under ``if TYPE_CHECKING:`` keeps the circle and only moves the
failure, so the graph counts every import statement: top-level ones, imports inside functions,
type-only ones, relative ones (``from . import x``), and the package ``__init__`` a submodule
import runs first. Left out: a module's own parent packages (Python has already started them
before the module runs, whatever it imports).

The graph is read from the source with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "l7lb"

ALLOWED: list[frozenset[str]] = []


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their own name)."""
    names: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def _with_packages(name: str, known: dict[str, Path]) -> Iterator[str]:
    """``name`` and the packages Python initialises before it (``a.b.c``: ``a``, ``a.b``)."""
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in known:
            yield prefix


def import_graph(known: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the l7lb modules importing it runs."""
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        started_before = set(_with_packages(package, known))
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [base]
                # `from pkg import sub` imports the submodule pkg.sub too
                targets += [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                for module in _with_packages(target, known):
                    if module != name and module not in started_before:
                        graph[name].add(module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            pushed = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    pushed = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if pushed:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def one_circle(graph: dict[str, set[str]], component: frozenset[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, for the message."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & component):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return sorted(component)  # pragma: no cover - a component always closes


def test_no_import_cycles() -> None:
    graph = import_graph(module_names())
    bad = [c for c in cycles(graph) if not any(c <= allowed for allowed in ALLOWED)]
    assert not bad, "import circles in l7lb:\n" + "\n".join(
        "  " + " -> ".join(one_circle(graph, c)) for c in bad
    )


def test_the_checker_finds_circles(tmp_path: Path) -> None:
    """The checker itself: a lazy import, a relative one, a package __init__ and a type-only
    import all close circles; a module importing its own package does not."""
    pkg = tmp_path / "l7lb"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "def f():\n    from l7lb.b import x\n",
        "b.py": "from . import a\n",
        "sub/__init__.py": "from l7lb.c import y\n",
        "sub/d.py": "",
        "c.py": "from l7lb.sub.d import z\n",
        "e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from l7lb.f import g\n",
        "f.py": "import l7lb.e\n",
        "sub/h.py": "from l7lb.sub import d\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    graph = import_graph(module_names(pkg))
    found = set(cycles(graph))
    assert found == {
        frozenset({"l7lb.a", "l7lb.b"}),
        frozenset({"l7lb.c", "l7lb.sub"}),
        frozenset({"l7lb.e", "l7lb.f"}),
    }
    assert one_circle(graph, frozenset({"l7lb.a", "l7lb.b"})) == ["l7lb.a", "l7lb.b", "l7lb.a"]
