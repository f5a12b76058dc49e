"""The shape of the code: long functions, the largest modules, test files, the import graph's layers.

    python benchmarks/bench_code_shape.py [--rev REV]

Counts functions and methods over 60 and over 100 lines (from ``def`` to the
last line of the body, docstring included), lists the largest modules of the
packages and the test files over 500 lines. With ``--rev`` it reads the
files of that git revision instead of the work tree (``git show``), so a
before/after pair needs no checkout. Figures go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("qboost_exp", "serving", "hydra_plugins")


def _files(rev: str | None, prefixes: tuple[str, ...]) -> dict[str, str]:
    """``path -> source`` of the .py files under ``prefixes``, at ``rev`` or in the work tree."""
    if rev is None:
        paths = [p for prefix in prefixes for p in (REPO / prefix).rglob("*.py") if "__pycache__" not in p.parts]
        return {str(p.relative_to(REPO)): p.read_text() for p in paths}
    listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, *prefixes], cwd=REPO, capture_output=True, text=True, check=True)
    names = [n for n in listing.stdout.split() if n.endswith(".py")]
    return {n: subprocess.run(["git", "show", f"{rev}:{n}"], cwd=REPO, capture_output=True, text=True, check=True).stdout for n in names}


def long_functions(sources: dict[str, str], limit: int) -> list[tuple[int, str]]:
    """``(lines, path:line name)`` of every function or method longer than ``limit`` lines, longest first."""
    found = []
    for path, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append((lines, f"{path}:{node.lineno} {node.name}"))
    return sorted(found, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="a git revision (default: the work tree)")
    args = parser.parse_args()
    code = _files(args.rev, PACKAGES)
    tests = _files(args.rev, ("tests",))
    over60, over100 = long_functions(code, 60), long_functions(code, 100)
    print(f"functions over 60 lines: {len(over60)}; over 100 lines: {len(over100)}")
    for lines, where in over60:
        print(f"  {lines:4d}  {where}")
    sizes = sorted(((s.count("\n"), p) for p, s in code.items()), reverse=True)
    print("largest modules: " + ", ".join(f"{p} ({n})" for n, p in sizes[:5]))
    big_tests = [(s.count("\n"), p) for p, s in tests.items() if s.count("\n") > 500]
    print(f"test files over 500 lines: {len(big_tests)}" + "".join(f"\n  {n:5d}  {p}" for n, p in sorted(big_tests, reverse=True)))
    print(f"modules: {len(code)}; test files: {sum(1 for p in tests if Path(p).name.startswith('test_'))} of {len(tests)} .py files under tests/")


if __name__ == "__main__":
    main()
