"""The package's import graph: no cycle between modules, and no layer imports a layer above it.

Every ``import`` / ``from ... import`` in ``chroma_frame/**.py`` counts, at module level or inside
a function (a function-level import still ties the two modules together); imports under
``if TYPE_CHECKING:`` are annotations only and are skipped. ``from pkg import name`` counts as an
import of ``pkg.name`` when that is a module, else of ``pkg``. A package's ``__init__`` is the
module ``pkg``; importing ``pkg.mod`` also runs ``pkg/__init__``, but that edge is left out
(it would make every re-exporting ``__init__`` a cycle with its own submodules).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "chroma_frame"

# Layers, lowest first: a module may import its own layer and those below, never above.
LAYERS = [
    {"storage"},
    {"index", "sparse"},
    {"engine"},
    {"collection", "interop", "execution", "server"},
    {"ray"},  # chroma_frame.ray: on top of the surfaces (it opens collections through a client)
]
# Upward imports that are allowed, each with its reason (keep this short).
ALLOWED_UPWARD: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    if hasattr(sub, "lineno"):
                        lines.add(sub.lineno)
    return lines


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    packages = {module_name(p) for p in ROOT.rglob("__init__.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        here = name if name in packages else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.append(full if full in files else base)
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target.startswith("chroma_frame") and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    import sys

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_of(module: str) -> int | None:
    top = module.split(".")[1] if "." in module else ""
    for level, names in enumerate(LAYERS):
        if top in names:
            return level
    return None


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    bad = []
    for src, targets in graph.items():
        ls = layer_of(src)
        if ls is None:
            continue
        for dst in targets:
            ld = layer_of(dst)
            if ld is not None and ld > ls and (src, dst) not in ALLOWED_UPWARD:
                bad.append((src, dst))
    return sorted(bad)


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between top-level parts (``chroma_frame.<part>``; the package itself is ``<root>``)."""

    def top(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else "<root>"

    out: dict[str, set[str]] = {}
    for src, targets in graph.items():
        for dst in targets:
            if top(src) != top(dst):
                out.setdefault(top(src), set()).add(top(dst))
    return out


def test_no_package_cycles():
    assert cycles(package_graph(import_graph())) == []


def test_no_upward_imports():
    assert upward(import_graph()) == []


if __name__ == "__main__":
    g = import_graph()
    for c in cycles(g):
        print("cycle:", " ".join(c))
    for c in cycles(package_graph(g)):
        print("package cycle:", " ".join(c))
    for s, d in upward(g):
        print("upward:", s, "->", d)
