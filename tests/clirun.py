"""Run the package's command-line programs as a user would: a fresh process, a scratch directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: Overrides that keep a CLI run's auto search to 4 small anneals (2 folds x 2 λ, one largest
#: weight) for tests about something else than the search; the defaults take ~20 s per run.
QUICK = ("qubo.max_weight_grid=[0.125]", "lambda_grid=[0.0,0.1]", "qubo.cv=2")


def run_module(module: str, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    base = dict(os.environ)
    # mlflow.set_tracking_uri() in the test process exports MLFLOW_TRACKING_URI;
    # a CLI run must see only what the test gives it.
    base.pop("MLFLOW_TRACKING_URI", None)
    base.pop("DWAVE_API_TOKEN", None)
    full_env = {**base, "HYDRA_FULL_ERROR": "0", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def report_values(stdout: str) -> dict[str, str]:
    """The CLI report as {label: text}."""
    values = {}
    for line in stdout.splitlines():
        parts = line.strip().split("  ", 1)
        if len(parts) == 2:
            values[parts[0].strip()] = parts[1].strip()
    return values


def accuracy(stdout: str, split: str) -> float:
    words = report_values(stdout)["accuracy"].split()
    return float(words[words.index(split) + 1])


def wait_for_a_run(db: Path, timeout: float = 120.0) -> None:
    """Wait until the SQLite tracking store ``db`` holds a run.

    Watches with plain sqlite3, read-only: opening the store with MLflow here
    would run schema migrations concurrently with the CLI's.
    """
    import sqlite3
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                if con.execute("SELECT count(*) FROM runs").fetchone()[0]:
                    return
        except sqlite3.Error:
            pass
        time.sleep(0.5)
