"""CI as CI runs it: ``bash .ci/run`` on fresh clones of a commit, back to back; wall time and what pytest said.

    python3 benchmarks/bench_ci.py [--repeat 3] [--rev HEAD] [--keep]

Each run clones the repository at ``--rev`` into a new temporary directory
(a new ``.venv`` is made there: pip's cache is warm, the machine's apt
packages are whatever earlier runs left), runs ``CI=true bash .ci/run`` with
no standard input, and reports its exit status, wall time and pytest's
closing line. The runs' logs are kept beside the clones with ``--keep``.
Plain Python: it needs nothing installed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: pytest's closing line, e.g. "==== 1033 passed, 2 warnings in 1450.12s (0:24:10) ====".
CLOSING = re.compile(r"^=+ (?P<counts>.*?) in (?P<seconds>[\d.]+)s")


def one_run(rev: str, number: int, keep: bool) -> dict[str, object]:
    where = Path(tempfile.mkdtemp(prefix=f"qboost-ci{number}-"))
    clone = where / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", rev], check=True)
    log = where / "ci.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTEST_", "VIRTUAL_ENV"))}
    start = time.monotonic()
    with open(log, "w") as out:
        code = subprocess.run(["bash", ".ci/run"], cwd=clone, env={**env, "CI": "true"}, stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.monotonic() - start
    closing = [m for m in (CLOSING.match(line) for line in log.read_text(errors="replace").splitlines()) if m]
    result = {
        "run": number,
        "exit": code,
        "wall_s": round(seconds),
        "pytest": closing[-1].group("counts") if closing else "no closing line",
        "tests_s": float(closing[-1].group("seconds")) if closing else None,
        "log": str(log),
    }
    if not keep:
        shutil.rmtree(clone, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs, back to back (default 3)")
    parser.add_argument("--rev", default="HEAD", help="the commit to clone (default HEAD)")
    parser.add_argument("--keep", action="store_true", help="keep the clones (the logs are always kept)")
    args = parser.parse_args()
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.rev], capture_output=True, text=True, check=True).stdout.strip()
    print(f"bash .ci/run on fresh clones of {rev}, {args.repeat} times back to back", flush=True)
    results = []
    for number in range(1, args.repeat + 1):
        result = one_run(rev, number, args.keep)
        results.append(result)
        print(f"run {number}: exit {result['exit']}, {result['wall_s'] / 60:.1f} min in all, pytest: {result['pytest']} "
              f"({(result['tests_s'] or 0) / 60:.1f} min), log {result['log']}", flush=True)
    passed = all(r["exit"] == 0 for r in results)
    same = len({r["pytest"] for r in results}) == 1
    print(f"{'all passed' if passed else 'FAILED'}; the same pytest line each time: {same}; "
          f"longest {max(r['wall_s'] for r in results) / 60:.1f} min")
    return 0 if passed and same else 1


if __name__ == "__main__":
    sys.exit(main())
