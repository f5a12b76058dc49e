"""The project's import graph, read from the source (no module is imported).

Every ``import`` statement counts, at module level or inside a function (a
lazy import is still a dependency). Edges go from a module to the project
module it names: ``from .x import y`` is an edge to ``x``'s package module
``x`` (or to ``x.y`` when ``y`` is a submodule). The implicit import of a
module's parent package is not an edge, as in import-linter and pydeps.

``python tests/support/import_graph.py`` prints the circles, the private imports
across packages and the layer violations.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The top-level packages the project ships.
PACKAGES = ("qboost_exp", "serving", "hydra_plugins")


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    names: tuple[str, ...]  # the names taken from ``imported`` (``from m import a, b``)
    line: int


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every project module's dotted name and file."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_package(name: str, files: dict[str, Path]) -> bool:
    return files[name].name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom, files: dict[str, Path]) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not _is_package(importer, files):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def edges(files: dict[str, Path] | None = None) -> list[Edge]:
    """Every import of one project module by another."""
    files = files if files is not None else module_files()
    out = []
    for importer, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _longest_known(alias.name, files)
                    if target:
                        out.append(Edge(importer, target, (), node.lineno))
            elif isinstance(node, ast.ImportFrom):
                module = _resolve(importer, node, files)
                target = _longest_known(module, files)
                if not target:
                    continue
                plain = []
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    if sub in files:
                        out.append(Edge(importer, sub, (), node.lineno))
                    else:
                        plain.append(alias.name)
                if plain or not node.names:
                    out.append(Edge(importer, target, tuple(plain), node.lineno))
    return [e for e in out if e.importer != e.imported]


def _longest_known(name: str, files: dict[str, Path]) -> str | None:
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in files:
            return candidate
        parts.pop()
    return None


def cycles(all_edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for e in all_edges:
        graph.setdefault(e.importer, set()).add(e.imported)
        graph.setdefault(e.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def package_of(module: str, files: dict[str, Path]) -> str:
    """The package a module belongs to: itself for a package, else its parent."""
    return module if _is_package(module, files) else module.rpartition(".")[0]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def private_imports(all_edges: list[Edge], files: dict[str, Path]) -> list[str]:
    """Imports of a private module or name from outside the package that owns it.

    ``_x`` (a module or a name) is private to the package that holds it; its
    modules and subpackages may use it, no one else may.
    """
    problems = []
    for e in all_edges:
        parts = e.imported.split(".")
        for depth, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                owner = ".".join(parts[:depth])
                if not _within(e.importer, owner):
                    problems.append(f"{e.importer}:{e.line} imports the private module {e.imported}")
                break
        else:
            owner = package_of(e.imported, files)
            for name in e.names:
                if name.startswith("_") and not name.startswith("__") and not _within(e.importer, owner):
                    problems.append(f"{e.importer}:{e.line} imports the private name {e.imported}.{name}")
    return problems


if __name__ == "__main__":
    files = module_files()
    all_edges = edges(files)
    for component in cycles(all_edges):
        print("circle:", " ".join(component))
    for problem in private_imports(all_edges, files):
        print(problem)
