"""The MLflow store the compare tests read, and the fixtures that point a test at it.

One store is built per test module (creating the schema costs seconds): import
``store``, ``env_store`` and the autouse ``isolated_mlflow`` into the module;
each test points ``MLFLOW_TRACKING_URI`` at the store through monkeypatch
(``env_store``) or passes its URI.
"""

from __future__ import annotations

import os

import mlflow
import pandas as pd
import pytest

from qboost_exp.compare import load_runs

# name: (sampler, lambda param, lambda_value metric, test_accuracy, validation_accuracy, selected, time_total)
# The validation order differs from the test order on purpose: every ranking the tests check must follow validation.
SINGLES = {
    "neal-l0": ("neal", "0", 0.0, 0.80, 0.79, 12, 1.5),
    "neal-l0.01": ("neal", "0.01", 0.01, 6 / 7, 0.89, 8, 1.25),  # 6/7: a float that must survive the CSV exactly
    "neal-l0.1-a": ("neal", "0.1", 0.1, 0.88, 0.86, 5, 1.0),
    "neal-l0.1-b": ("neal", "0.1", 0.1, 0.84, 0.83, 6, 1.1),
    "tabu-l1": ("tabu", "1.0", 1.0, 0.75, 0.74, 2, 0.5),
    "tabu-auto": ("tabu", "auto", 0.05, 0.90, 0.85, 7, 3.0),  # the best on test, third on validation
}
CHILDREN = {
    "0:sa-l0": ("sa", "0", 0.0, 0.82, 0.80, 10, 2.0),
    "1:sa-l0.1": ("sa", "0.1", 0.1, 0.87, 0.84, 4, 2.5),
    "2:sa-l1": ("sa", "1.0", 1.0, 0.70, 0.71, 1, 0.75),
}
VALIDATION_ORDER = ["neal-l0.01", "neal-l0.1-a", "tabu-auto", "1:sa-l0.1", "neal-l0.1-b", "0:sa-l0", "neal-l0", "tabu-l1", "2:sa-l1"]
TEST_ORDER = ["tabu-auto", "neal-l0.1-a", "1:sa-l0.1", "neal-l0.01", "neal-l0.1-b", "0:sa-l0", "neal-l0", "tabu-l1", "2:sa-l1"]
# On validation_accuracy; on test_accuracy it would hold tabu-auto (7 learners, 0.90) instead of neal-l0.01.
PARETO = {"2:sa-l1", "tabu-l1", "1:sa-l0.1", "neal-l0.1-a", "neal-l0.01"}
WISC = "0123456789abcdef"  # the training split's digest of experiment qboost's runs
WISC_LABEL = f"wisc@{WISC[:8]}"


def _log_input(name: str, digest: str) -> None:
    """The training split as the run layer logs it (qboost_exp/tracking/_log.py log_inputs), plus a test split."""
    import numpy as np

    for split, context in (("train", "training"), ("test", "test")):
        data = mlflow.data.from_numpy(np.zeros((2, 2)), targets=np.array([0, 1]), name=f"{name}-{split}", digest=f"{digest}-{split}")
        mlflow.log_input(data, context=context)


def _log_training_run(name: str, spec: tuple, role: str, job_num: int | None = None, digest: str | None = WISC) -> None:
    sampler, lam, lam_value, test_acc, val_acc, selected, total = spec
    tags = {"sampler": sampler, "weak_learners": "stumps", "dataset": "wisc", "qboost.role": role, "hydra.overrides": f"lambda={lam}"}
    if job_num is not None:
        tags["qboost.job_num"] = str(job_num)
    mlflow.set_tags(tags)
    mlflow.log_params({"lambda": lam, "sampler.name": sampler, "weak_learners.name": "stumps", "dataset.name": "wisc", "qubo.weight_bits": "2", "seed": "0"})
    mlflow.log_metrics(
        {
            "train_accuracy": 0.95,
            "validation_accuracy": val_acc,
            "test_accuracy": test_acc,
            "test_f1": test_acc - 0.01,
            "candidates": 30,
            "selected": selected,
            "best_energy": -1.5 - selected,
            "lambda_value": lam_value,
            "time_total": total,
            "time_sampling": total / 2,
        }
    )
    if digest is not None:
        _log_input("wisc", digest)


# Experiment "mixed": two datasets, another split of one of them, a dataset without inputs, a λ sweep,
# Optuna-like trials and baselines.
# (name, dataset, digest, model, params beyond the defaults below, metrics)
CSV = "fedcba9876543210"
WISC_SEED1 = "0a0b0c0d0e0f0102"
_QB = {"lambda": "0.1", "sampler.name": "neal", "weak_learners.name": "adaboost", "weak_learners.params.max_depth": "2",
       "weak_learners.params.n_estimators": "60", "qubo.weight_bits": "1", "seed": "0", "dataset.name": "wisc", "model.name": "qboost",
       "mlflow.experiment": "mixed", "verbose": "1"}
MIXED = [
    # the λ sweep (depth 2): one line; the lambda=auto run sits at its chosen 0.05, next to the fixed 0.05 run
    ("sweep-0.02", "wisc", WISC, "qboost", {"lambda": "0.02"}, {"validation_accuracy": 0.90, "test_accuracy": 0.99, "selected": 20, "lambda_value": 0.02}),
    ("sweep-0.05", "wisc", WISC, "qboost", {"lambda": "0.05"}, {"validation_accuracy": 0.92, "test_accuracy": 0.91, "selected": 12, "lambda_value": 0.05}),
    ("sweep-0.1", "wisc", WISC, "qboost", {"lambda": "0.1"}, {"validation_accuracy": 0.91, "test_accuracy": 0.90, "selected": 7, "lambda_value": 0.1}),
    ("sweep-0.2", "wisc", WISC, "qboost", {"lambda": "0.2"}, {"validation_accuracy": 0.86, "test_accuracy": 0.85, "selected": 3, "lambda_value": 0.2}),
    # differs from the sweep only in where it was tracked and how verbose it was: still on the line
    ("sweep-auto", "wisc", WISC, "qboost", {"lambda": "auto", "verbose": "0", "mlflow.experiment": "elsewhere"},
     {"validation_accuracy": 0.94, "test_accuracy": 0.89, "selected": 11, "lambda_value": 0.05}),
    # a second line of the same series: depth 3
    ("depth3-0.05", "wisc", WISC, "qboost", {"lambda": "0.05", "weak_learners.params.max_depth": "3"},
     {"validation_accuracy": 0.93, "test_accuracy": 0.88, "selected": 10, "lambda_value": 0.05}),
    ("depth3-0.2", "wisc", WISC, "qboost", {"lambda": "0.2", "weak_learners.params.max_depth": "3"},
     {"validation_accuracy": 0.89, "test_accuracy": 0.87, "selected": 4, "lambda_value": 0.2}),
    # Optuna trials: depth, estimators and λ differ at once -- points, never joined
    *[
        (f"trial-{i}", "wisc", WISC, "qboost", {"lambda": lam, "weak_learners.params.max_depth": depth, "weak_learners.params.n_estimators": n},
         {"validation_accuracy": acc, "test_accuracy": acc - 0.02, "selected": sel, "lambda_value": float(lam)})
        for i, (lam, depth, n, acc, sel) in enumerate(
            [("0.03", "4", "40", 0.88, 15), ("0.12", "1", "80", 0.84, 5), ("0.07", "5", "30", 0.95, 9), ("0.3", "2", "100", 0.80, 2), ("0.01", "3", "50", 0.87, 25)]
        )
    ],
    # baselines: they carry the top-level lambda param (the whole config is logged) but no λ metric
    ("lasso", "wisc", WISC, "lasso", {"lambda": "0.1"}, {"validation_accuracy": 0.935, "test_accuracy": 0.97, "selected": 9}),
    ("adaboost", "wisc", WISC, "adaboost", {"lambda": "auto"}, {"validation_accuracy": 0.96, "test_accuracy": 0.95, "selected": 60}),
    ("gradient-boosting", "wisc", WISC, "gradient_boosting", {}, {"validation_accuracy": 0.945, "test_accuracy": 0.96}),
    # the other dataset
    ("csv-0.05", "csv", CSV, "qboost", {"lambda": "0.05", "dataset.name": "csv"}, {"validation_accuracy": 0.70, "test_accuracy": 0.72, "selected": 14, "lambda_value": 0.05}),
    ("csv-0.1", "csv", CSV, "qboost", {"lambda": "0.1", "dataset.name": "csv"}, {"validation_accuracy": 0.75, "test_accuracy": 0.69, "selected": 8, "lambda_value": 0.1}),
    ("csv-lasso", "csv", CSV, "lasso", {"dataset.name": "csv"}, {"validation_accuracy": 0.73, "test_accuracy": 0.74, "selected": 6}),
    # wisc split with another seed: another dataset for the comparison
    ("seed1-0.1", "wisc", WISC_SEED1, "qboost", {"seed": "1"}, {"validation_accuracy": 0.99, "test_accuracy": 0.93, "selected": 6, "lambda_value": 0.1}),
    # no dataset inputs logged (an older run): identified by its name alone
    ("digits-old", "digits", None, "qboost", {"dataset.name": "digits"}, {"validation_accuracy": 0.97, "test_accuracy": 0.96, "selected": 5, "lambda_value": 0.1}),
]
MIXED_WISC_LINES = {  # (label suffix, {λ: mean validation_accuracy})
    "weak_learners.params.max_depth=2": {0.02: 0.90, 0.05: (0.92 + 0.94) / 2, 0.1: 0.91, 0.2: 0.86},
    "weak_learners.params.max_depth=3": {0.05: 0.93, 0.2: 0.89},
}


def _log_mixed_run(name: str, dataset: str, digest: str | None, model: str, params: dict, metrics: dict) -> None:
    tags = {"dataset": dataset, "qboost.role": "single", "model": model, "weak_learners": "adaboost", "sampler": "neal"}
    if model != "qboost":
        tags["qboost.baseline"] = "true"
    mlflow.set_tags(tags)
    mlflow.log_params({**_QB, "model.name": model, **params})
    mlflow.log_metrics({"train_accuracy": 1.0, "time_total": 1.0, **metrics})
    if digest is not None:
        _log_input(dataset, digest)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    """Experiment ``qboost``: 6 single runs, a sweep (parent + 3 children), 1 failed and 1 killed run, all of one
    dataset; ``mixed`` (:data:`MIXED`: datasets, trials, baselines); ``empty`` (no runs) and ``only-failed``.
    Returns the URI and {run name: run id}."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    ids: dict[str, str] = {}
    # set_tracking_uri also exports MLFLOW_TRACKING_URI, and set_experiment MLFLOW_EXPERIMENT_ID (and keeps
    # the active experiment in the process): put the caller's values back afterwards, or every later test
    # on this (pytest-xdist) worker would log to an experiment id of this store.
    saved_env = os.environ.get("MLFLOW_TRACKING_URI")
    saved_experiment = os.environ.get("MLFLOW_EXPERIMENT_ID")
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.set_experiment("qboost")
        for name, spec in SINGLES.items():
            with mlflow.start_run(run_name=name) as run:
                _log_training_run(name, spec, "single")
                ids[name] = run.info.run_id
        with mlflow.start_run(run_name="sweep lambda=0,0.1,1") as parent:
            mlflow.set_tags({"qboost.role": "parent", "sampler": "sa", "weak_learners": "stumps"})
            mlflow.log_metric("test_accuracy", 0.87)  # a parent's summary: must never show up as a run
            ids["sweep"] = parent.info.run_id
            for job, (name, spec) in enumerate(CHILDREN.items()):
                with mlflow.start_run(run_name=name, nested=True) as child:
                    _log_training_run(name, spec, "child", job)
                    ids[name] = child.info.run_id
        # Failed runs with the best numbers of all: they would top the table and the Pareto front if not excluded.
        for name, status in (("crashed", "FAILED"), ("interrupted", "KILLED")):
            mlflow.start_run(run_name=name)
            _log_training_run(name, ("neal", "0.5", 0.5, 0.99, 0.99, 1, 0.1), "single")
            ids[name] = mlflow.active_run().info.run_id
            mlflow.end_run(status=status)
        mlflow.set_experiment("mixed")
        for name, *spec in MIXED:
            with mlflow.start_run(run_name=name) as run:
                _log_mixed_run(name, *spec)
                ids[name] = run.info.run_id
        mlflow.create_experiment("empty")
        mlflow.set_experiment("only-failed")
        mlflow.start_run(run_name="doomed")
        mlflow.set_tag("qboost.role", "single")
        mlflow.log_metric("time_total", 0.25)  # died before any accuracy was logged
        mlflow.end_run(status="FAILED")
    finally:
        mlflow.set_tracking_uri(None)
        if saved_env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env
        mlflow.tracking.fluent._active_experiment_id = None  # no public way to unset it
        if saved_experiment is None:
            os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
        else:
            os.environ["MLFLOW_EXPERIMENT_ID"] = saved_experiment
    return {"uri": uri, "ids": ids, "root": root}


@pytest.fixture(autouse=True)
def isolated_mlflow(monkeypatch, tmp_path):
    """A scratch cwd, and no tracking URI leaking into or out of the test.

    ``mlflow.set_tracking_uri`` (called by the code under test) caches the URI
    in the process and exports it to ``os.environ``; monkeypatch restores the
    environment, the reset below clears MLflow's cache.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield
    mlflow.set_tracking_uri(None)


@pytest.fixture
def env_store(store, monkeypatch) -> dict:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    return store


def mixed_runs(names: list[str] | None = None) -> pd.DataFrame:
    """Experiment ``mixed``'s runs, or those of them named."""
    runs = load_runs("mixed")
    return runs if names is None else runs[runs["run_name"].isin(names)]


#: Experiment ``mixed``'s runs of the wisc split :data:`WISC` (the sweep, depth 3, the trials and the baselines).
WISC_MIXED = [name for name, dataset, digest, *_ in MIXED if (dataset, digest) == ("wisc", WISC)]
