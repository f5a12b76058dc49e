"""``python -m serving package`` as the tests run it: in a fresh process, with MLflow's telemetry off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clirun import run_module


def package(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_module("serving", "package", *args, cwd=cwd, env={"MLFLOW_DISABLE_TELEMETRY": "true", **(env or {})})


def package_concurrently(*calls: tuple[tuple[str, ...], Path]) -> list[subprocess.CompletedProcess]:
    """Several ``package`` commands at once, each ``(args, cwd)`` (two cores: about the time of one)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DWAVE_API_TOKEN")}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    procs = [
        subprocess.Popen([sys.executable, "-m", "serving", "package", *args], cwd=cwd, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for args, cwd in calls
    ]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return results


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def breast_cancer_features():
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer(as_frame=True).data
    return pd.DataFrame(X.to_numpy(dtype=float), columns=list(X.columns))
