"""Wall time of the README's ``python -m qboost_exp`` examples, end to end, as a user runs them.

    .venv/bin/python benchmarks/bench_cli.py [--repeat 3]

Each example runs ``--repeat`` times in a fresh process, in a scratch
directory whose MLflow store already exists (the first run of a session
creates it once; that cost is measured separately as "fresh store"). The
table gives the median and best wall time, with and without MLflow tracking,
so that "MLflow adds" is the difference of two medians measured in the same
minutes. The load average before and after is printed: the machine is
shared, and every figure is only as quiet as it was.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = [
    ("default (lambda=auto)", []),
    ("fixed: lambda=0.1 qubo.max_weight=0.0625", ["lambda=0.1", "qubo.max_weight=0.0625"]),
    ("mock_qpu trees 2 bits lambda=0.1", ["sampler=mock_qpu", "weak_learners=trees", "qubo.weight_bits=2", "lambda=0.1"]),
]


def wall(args: list[str], cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DWAVE_"))}
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "qboost_exp", *args], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if result.returncode != 0:
        raise SystemExit(f"python -m qboost_exp {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    try:
        fresh = wall(["lambda=0.1", "qubo.max_weight=0.0625"], work)  # creates ./mlflow.db
        print(f"fresh store (first run in a new directory, fixed example): {fresh:.2f} s")
        print(f"\n| example | tracked: median (best) | mlflow.enabled=false: median (best) | MLflow adds |")
        print("|---|---:|---:|---:|")
        for label, overrides in EXAMPLES:
            tracked = [wall(overrides, work) for _ in range(args.repeat)]
            untracked = [wall([*overrides, "mlflow.enabled=false"], work) for _ in range(args.repeat)]
            m_t, m_u = statistics.median(tracked), statistics.median(untracked)
            print(f"| {label} | {m_t:.2f} s ({min(tracked):.2f}) | {m_u:.2f} s ({min(untracked):.2f}) | {m_t - m_u:+.2f} s |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nload average after: {Path('/proc/loadavg').read_text().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
