"""Issue 15's fault table: every fault, run for real, with the figures each target names.

    .venv/bin/python benchmarks/bench_faults.py [--no-slurm] [-k EXPR]

Runs the fault tests (tests/apps/test_sweep_faults.py, test_optuna_faults.py,
test_store_faults.py, test_store_faults_local.py and test_slurm.py's
time-limit and SIGTERM tests) with ``QBOOST_FAULT_TABLE`` set: each test
measures its fault with
tests/support/faultcheck.py (jobs unaccounted for, runs and trials left RUNNING,
models lost, distinct configurations after a resume, seconds from the end of
training to the CLI's exit with the server gone) and asserts the targets;
this script prints them as one markdown table, with pytest's verdict and
the load average before and after. The SLURM tests start a single-node
cluster (tests/support/slurm.py, as root); its two tests take about three minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = ["tests/apps/test_sweep_faults.py", "tests/apps/test_optuna_faults.py", "tests/tracking/test_store_faults.py", "tests/tracking/test_store_faults_local.py"]
SLURM = [
    "tests/apps/test_slurm.py::test_a_job_past_its_slurm_time_limit_is_killed_with_the_reason_timeout_in_sacct_and_the_sweep_ends_with_its_summary",
    "tests/apps/test_slurm.py::test_sigterm_of_a_slurm_sweep_cancels_its_jobs_and_a_resume_runs_them",
]
TARGETS = {"unaccounted": "0", "running": "0", "lost": "0", "distinct": "n_trials", "seconds": "≤ 70"}


def cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, list):
        return f"{value[0]} of {value[1]}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-slurm", action="store_true", help="leave out the SLURM tests")
    parser.add_argument("-k", default=None, help="pytest -k expression, to run some faults only")
    args = parser.parse_args()
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        table = Path(tmp) / "faults.jsonl"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS, *([] if args.no_slurm else SLURM)]
        if args.k:
            command += ["-k", args.k]
        started = time.time()
        result = subprocess.run(command, cwd=REPO, env={**os.environ, "QBOOST_FAULT_TABLE": str(table)}, capture_output=True, text=True)
        elapsed = time.time() - started
        verdict = next((line for line in reversed(result.stdout.splitlines()) if " passed" in line or " failed" in line), "no verdict")
        rows = [json.loads(line) for line in table.read_text().splitlines()] if table.exists() else []
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")
    print(f"pytest: {verdict.strip('= ')} ({elapsed:.0f} s)\n")
    print("| fault | jobs unaccounted | runs/trials left RUNNING | models lost | distinct configs after resume | s from end of training to exit |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| target | {TARGETS['unaccounted']} | {TARGETS['running']} | {TARGETS['lost']} | {TARGETS['distinct']} | {TARGETS['seconds']} |")
    for row in rows:
        print(f"| {row['fault']} | {cell(row['unaccounted'])} | {cell(row['running'])} | {cell(row['lost'])} | {cell(row['distinct'])} | {cell(row['seconds'])} |")
    if result.returncode != 0:
        print("\nfailed tests (a failed test's figures may be missing above):")
        print("\n".join(line for line in result.stdout.splitlines() if line.startswith("FAILED") or line.startswith("ERROR")))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
