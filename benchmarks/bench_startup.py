"""Start-up time of the command lines, and which heavy libraries each one imports.

    .venv/bin/python benchmarks/bench_startup.py [--repeat 7]

Each command runs ``--repeat`` times in a fresh interpreter (the first run
warms the file cache and is not counted); the table gives the median and the
best wall time, the median over a bare interpreter (``python -c pass``), the
target, and the heavy libraries the command imported (read with ``-X
importtime``). Targets (architecture issue): ``python -m qboost_exp --help``
at most 1.5 s; ``python -m serving --help`` at most 0.3 s over a bare
interpreter; ``python -m qboost_exp.compare --help`` at most 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "scipy", "pandas", "dimod", "dwave", "hydra", "mlflow", "matplotlib")

# (label, arguments after the interpreter, target seconds, whether the target is over a bare interpreter)
COMMANDS = [
    ("python -c pass", ["-c", "pass"], None, False),
    ("python -m qboost_exp --help", ["-m", "qboost_exp", "--help"], 1.5, False),
    ("python -m serving --help", ["-m", "serving", "--help"], 0.3, True),
    ("python -m qboost_exp.compare --help", ["-m", "qboost_exp.compare", "--help"], 1.0, False),
    ("python -c 'import qboost_exp.tracking'", ["-c", "import qboost_exp.tracking"], None, False),
    ("python -c 'import qboost_exp'", ["-c", "import qboost_exp"], None, False),
]


def wall(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def heavy_imports(args: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    seen = set()
    for line in out.stderr.splitlines():
        if "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            top = name.split(".")[0]
            if top in HEAVY:
                seen.add(top)
    return sorted(seen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rows = []
    bare = None
    for label, argv, target, over_bare in COMMANDS:
        wall(argv)  # warm-up
        times = [wall(argv) for _ in range(args.repeat)]
        median = statistics.median(times)
        if bare is None:
            bare = median
        measured = median - bare if over_bare else median
        verdict = "" if target is None else ("met" if measured <= target else "MISSED")
        rows.append((label, median, min(times), median - bare, target, over_bare, verdict, heavy_imports(argv)))
    print(f"{'command':42} {'median s':>9} {'best s':>7} {'over bare':>9}  target        heavy imports")
    for label, median, best, over, target, over_bare, verdict, heavy in rows:
        goal = "" if target is None else f"<= {target:g} s{' over bare' if over_bare else ''} {verdict}"
        print(f"{label:42} {median:9.3f} {best:7.3f} {over:9.3f}  {goal:13} {', '.join(heavy) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
