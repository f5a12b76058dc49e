"""No figure can cost a result: each cosmetic step made to fail in turn, on real runs with a real MLflow store.

tests/support/chaos.py runs ``python -m qboost_exp`` with one step of
:data:`qboost_exp.cosmetic.STEPS` raising. Each time the run must end as if
nothing had happened but that step: FINISHED (exit 0), its params, metrics
and tags complete, its model loadable through ``mlflow.pyfunc``, and exactly
one ``warning:`` line naming the step. The same for the local record when
the store is gone at the end of the run (exit 3, the record whole).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import system_packages
from clirun import REPO, run_module
from services import apt_install

CHAOS = str(Path(__file__).resolve().parents[1] / "support" / "chaos.py")
#: A small QBoost run (12 candidates, 10 reads): every QBoost figure, a table, a model.
RUN = ("lambda=0.05", "qubo.max_weight=0.125", "weak_learners.params.n_estimators=12", "sampler.params.num_reads=10")
#: The cosmetic steps of one tracked QBoost run, in a store that works.
RUN_STEPS = (
    "input example", "dataset inputs", "figure weights.png", "figure confusion_matrix.png", "figure roc_curve.png",
    "figure energy_histogram.png", "plots upload", "selected_learners.json", "MLflow UI link", "report",
)
#: The cosmetic steps of the same run whose store is gone once it trained (its record is written instead).
RECORD_STEPS = (
    "figure weights.png", "figure confusion_matrix.png", "figure roc_curve.png", "figure energy_histogram.png",
    "selected_learners.json", "input example", "report",
)
SWEEP_STEPS = ("sweep figure", "benchmark report")
FIGURES = {"weights", "confusion_matrix", "roc_curve", "energy_histogram"}


def chaos_run(tmp_path: Path, step: str, *extra: str, store_gone: bool = False) -> tuple[subprocess.CompletedProcess, list[str], Path]:
    """``python -m qboost_exp`` with ``step`` failing; (the process, the steps it ran, the store's directory)."""
    store = tmp_path / "store"
    store.mkdir()
    seen = tmp_path / "seen.txt"
    options = [step, str(seen), *(["--store-gone", str(store)] if store_gone else [])]
    multirun = ["-m"] if "-m" in extra else []
    overrides = [*multirun, *RUN, f"hydra.run.dir={tmp_path / 'run'}", *(e for e in extra if e != "-m")]
    try:
        result = subprocess.run(
            [sys.executable, CHAOS, *options, "--", *overrides], cwd=tmp_path, capture_output=True, text=True, timeout=300,
            env={**_env(), "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"},
        )
    finally:
        if store_gone:
            subprocess.run(["chattr", "-i", str(store)], capture_output=True)
    steps = seen.read_text().split("\n")[:-1] if seen.exists() else []
    return result, steps, store


def _env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DWAVE_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**env, "HYDRA_FULL_ERROR": "0"}


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def the_warning(step: str) -> str:
    return f"warning: {step} skipped (RuntimeError: chaos: {step} made to fail); the run goes on without it"


def the_run(store: Path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "qboost"]
    (run,) = client.search_runs([experiment.experiment_id])
    return client, run


def predictions_of(model_uri: str, tracking_uri: str | None = None) -> np.ndarray:
    """What the model at ``model_uri`` predicts through ``mlflow.pyfunc`` for the first 20 rows of wisc."""
    import mlflow
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    mlflow.set_tracking_uri(tracking_uri)
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    finally:
        mlflow.set_tracking_uri(None)
    X = load_breast_cancer().data[:20]
    names = model.metadata.get_input_schema().input_names()
    return np.asarray(model.predict(pd.DataFrame(X, columns=names)))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same run with nothing failing: its steps, params, metric names, tags and predictions."""
    tmp_path = tmp_path_factory.mktemp("reference")
    result, steps, store = chaos_run(tmp_path, "-")
    assert result.returncode == 0, result.stderr
    client, run = the_run(store)
    return {
        "result": result,
        "steps": steps,
        "params": run.data.params,
        "metrics": set(run.data.metrics),
        "tags": {k for k in run.data.tags if not k.startswith("mlflow.")},
        "predictions": predictions_of(f"runs:/{run.info.run_id}/model", f"sqlite:///{store / 'mlflow.db'}"),
    }


def test_the_lists_name_every_cosmetic_step():
    from qboost_exp.cosmetic import STEPS

    assert set(RUN_STEPS) | set(RECORD_STEPS) | set(SWEEP_STEPS) == set(STEPS)


def test_a_run_with_nothing_failing_takes_every_step_and_warns_of_none(reference):
    assert sorted(set(reference["steps"])) == sorted(RUN_STEPS)
    assert warnings_of(reference["result"].stderr) == []
    assert {"test_accuracy", "validation_accuracy", "selected", "best_energy", "penalty"} <= reference["metrics"]
    assert reference["params"]["lambda"] == "0.05" and reference["params"]["sampler.name"] == "neal"
    assert set(np.unique(reference["predictions"])) <= {0, 1}


@pytest.mark.parametrize("step", RUN_STEPS)
def test_a_failing_cosmetic_step_costs_the_run_nothing_else(tmp_path, reference, step):
    result, steps, store = chaos_run(tmp_path, step)

    assert result.returncode == 0, result.stderr
    assert warnings_of(result.stderr) == [the_warning(step)]
    assert step in steps
    client, run = the_run(store)
    assert run.info.status == "FINISHED"
    assert run.data.params == reference["params"]
    assert set(run.data.metrics) == reference["metrics"]
    assert {k for k in run.data.tags if not k.startswith("mlflow.")} == reference["tags"]
    np.testing.assert_array_equal(predictions_of(f"runs:/{run.info.run_id}/model", f"sqlite:///{store / 'mlflow.db'}"), reference["predictions"])
    # What the step makes is missing, and nothing else.
    plots = {Path(a.path).stem for a in client.list_artifacts(run.info.run_id, "plots")}
    figure = step.removeprefix("figure ").removesuffix(".png") if step.startswith("figure ") else None
    assert plots == (set() if step == "plots upload" else FIGURES - {figure})
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert ("selected_learners.json" in top) == (step != "selected_learners.json")
    assert bool(run.inputs.dataset_inputs) == (step != "dataset inputs")
    assert ("input_example.json" in _logged_model_files(client, run)) == (step != "input example")
    assert ("accuracy " in result.stdout) == (step != "report")
    assert ("MLflow UI: http" in result.stdout) == (step != "MLflow UI link")


def _logged_model_files(client, run) -> set[str]:
    """The files of the run's logged model (MLflow 3 keeps them apart from the run's artifacts)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    (model,) = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    return {Path(f.path).name for f in get_artifact_repository(model.artifact_location).list_artifacts()}


@pytest.mark.parametrize("step", RECORD_STEPS)
def test_a_failing_cosmetic_step_costs_the_local_record_nothing_else(tmp_path, reference, step):
    apt_install(system_packages.PACKAGES["chattr"])  # takes the store away mid-run
    result, steps, _ = chaos_run(tmp_path, step, store_gone=True)

    assert result.returncode == 3, result.stderr
    assert warnings_of(result.stderr) == [the_warning(step)]
    record_dir = tmp_path / "run" / "mlflow-record"
    assert f"the run's full record is in {record_dir}" in result.stderr
    assert step in steps and sorted(set(steps)) == sorted(RECORD_STEPS)
    record = json.loads((record_dir / "record.json").read_text())
    assert all((record_dir / name).is_file() for name in record["files"])
    assert record["params"] == reference["params"]
    assert set(record["metrics"]) == reference["metrics"]
    assert {k for k in record["tags"] if not k.startswith("mlflow.")} >= reference["tags"] - {"qboost.local_record"}
    np.testing.assert_array_equal(predictions_of(str(record_dir / "model")), reference["predictions"])
    plots = {Path(name).stem for name in record["files"] if name.startswith("artifacts/plots/")}
    figure = step.removeprefix("figure ").removesuffix(".png") if step.startswith("figure ") else None
    assert plots == FIGURES - {figure}
    assert ("artifacts/selected_learners.json" in record["files"]) == (step != "selected_learners.json")
    assert ("model/input_example.json" in record["files"]) == (step != "input example")
    assert ("accuracy " in result.stdout) == (step != "report")


def test_a_failing_sweep_figure_leaves_the_sweep_finished(tmp_path):
    result, steps, store = chaos_run(tmp_path, "sweep figure", "-m", "lambda=0.02,0.05", f"hydra.sweep.dir={tmp_path / 'sweep'}")

    assert result.returncode == 0, result.stderr
    assert warnings_of(result.stderr) == [the_warning("sweep figure")]
    assert steps.count("sweep figure") == 1
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "qboost"]
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 3
    (parent,) = [r for r in runs if r.data.tags.get("qboost.role") == "parent"]
    assert "validation_accuracy" in parent.data.metrics and parent.data.tags["best_run_id"]
    assert client.list_artifacts(parent.info.run_id, "plots") == []


def test_the_tabu_run_that_lost_its_model_to_a_histogram_now_keeps_it(tmp_path):
    """Regression (CI at fedbe99): tabu's reads equal to the last bits made numpy's histogram raise, and the run lost its model."""
    import mlflow

    from qboost_exp.tracking._plots import plot_energies

    energies = np.full(3, 0.14491993) + np.array([0.0, 2.8e-17, 5.6e-17])
    with pytest.raises(ValueError, match="Too many bins"):
        np.histogram(energies, bins=5)  # what plot_energies used to ask of numpy
    plot_energies(energies, np.ones(3), float(energies[0]), tmp_path / "energy_histogram.png")
    assert (tmp_path / "energy_histogram.png").stat().st_size > 1000

    result = run_module("qboost_exp", "sampler=tabu", "sampler.params.num_reads=2", "sampler.params.timeout=20", *RUN[:3], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert warnings_of(result.stderr) == []
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments() if e.name == "qboost"])
    assert run.info.status == "FINISHED"
    assert {Path(a.path).stem for a in client.list_artifacts(run.info.run_id, "plots")} == FIGURES
    assert len(predictions_of(f"runs:/{run.info.run_id}/model", store)) == 20
