"""``python -m qboost_exp.compare`` against a real SQLite MLflow store.

One store is built per module (creating the schema costs seconds); each test
points ``MLFLOW_TRACKING_URI`` at it through monkeypatch.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import os
import runpy
import sys

import matplotlib.image
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from qboost_exp.compare import _figures
from qboost_exp.compare import CompareError, load_runs, main, metric_by_lambda, pareto_front, plot_metric_vs_lambda, plot_pareto, sort_runs
from qboost_exp.tracking import rank_key

# MLflow's own SQLAlchemy usage warns; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# name: (sampler, lambda param, lambda_value metric, test_accuracy, validation_accuracy, selected, time_total)
# The validation order differs from the test order on purpose: every ranking below must follow validation.
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


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _names(rows: list[dict[str, str]]) -> list[str]:
    return [r["run_name"] for r in rows]


def _assert_one_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def _assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width, *_ = matplotlib.image.imread(path).shape
    assert (width, height) == (800, 500)  # figsize (8, 5) at 100 dpi


# --------------------------------------------------------------------------
# load_runs


def test_load_runs_keeps_training_runs_only(env_store):
    runs = load_runs("qboost")
    ids = env_store["ids"]
    assert set(runs["run_id"]) == {ids[n] for n in [*SINGLES, *CHILDREN]}
    assert set(runs["tags.qboost.role"]) == {"single", "child"}
    row = runs.set_index("run_name").loc["tabu-auto"]
    assert (row["sampler"], row["weak_learners"], row["weight_bits"], row["params.lambda"]) == ("tabu", "stumps", "2", "auto")
    assert row["lambda"] == 0.05  # the λ the search chose, not the "auto" param
    # The dataset: the tag's name and the training input's digest (search_runs' frame has no inputs).
    assert (row["dataset_name"], row["dataset_digest"], row["dataset"]) == ("wisc", WISC, WISC_LABEL)
    assert (row["model"], bool(row["baseline"])) == ("qboost", False)


def test_load_runs_datasets_and_baselines(env_store):
    runs = load_runs("mixed").set_index("run_name")
    assert runs.loc["csv-0.1", "dataset"] == f"csv@{CSV[:8]}" and runs.loc["seed1-0.1", "dataset"] == f"wisc@{WISC_SEED1[:8]}"
    assert runs.loc["digits-old", "dataset"] == "digits" and runs.loc["digits-old", "dataset_digest"] is None  # no inputs: the name alone
    assert runs.loc[["lasso", "adaboost", "gradient-boosting", "csv-lasso"], "baseline"].all()
    assert not runs.loc[["sweep-0.1", "trial-0", "csv-0.1"], "baseline"].any()
    assert runs.loc["gradient-boosting", "model"] == "gradient_boosting"


def test_load_runs_parent_and_failed_filters(store):
    ids = store["ids"]
    children = load_runs("qboost", tracking_uri=store["uri"], parent=ids["sweep"])
    assert set(children["run_name"]) == set(CHILDREN)
    assert set(load_runs("qboost", tracking_uri=store["uri"], parent=ids["sweep"][:8])["run_id"]) == set(children["run_id"])
    everything = load_runs("qboost", tracking_uri=store["uri"], include_failed=True)
    assert everything.set_index("run_name").loc[["crashed", "interrupted"], "status"].tolist() == ["FAILED", "KILLED"]


# --------------------------------------------------------------------------
# The table


LAMBDA_PNG, PARETO_PNG = "validation_accuracy_vs_lambda.png", "pareto_validation_accuracy_vs_selected.png"


def test_text_table_rows_order_and_values(env_store, capsys, tmp_path):
    code, out, err = _run(capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"experiment 'qboost': 9 training runs, sorted by validation_accuracy (descending); dataset {WISC_LABEL}"
    header = lines[2].split()
    assert header == ["run", "name", "dataset", "model", "sampler", "learners", "lambda", "bits", "val_acc", "test_acc", "selected", "time_s", "status"]
    body = lines[4:13]
    # Ranked on validation: tabu-auto, the best on test, is third.
    assert [line.split()[1] for line in body] == VALIDATION_ORDER != TEST_ORDER
    assert body[0].split() == [env_store["ids"]["neal-l0.01"][:8], "neal-l0.01", WISC_LABEL, "qboost", "neal", "stumps", "0.01", "2", "0.8900", "0.8571", "8", "1.25", "FINISHED"]
    # "tabu-auto": λ chosen by the search is shown with "(auto)"; its test accuracy is shown, not used.
    assert body[2].split()[1:] == ["tabu-auto", WISC_LABEL, "qboost", "tabu", "stumps", "0.05", "(auto)", "2", "0.8500", "0.9000", "7", "3.00", "FINISHED"]
    assert "sweep" not in out and "crashed" not in out and "interrupted" not in out
    # Figures go to ./compare/ by default, named after the objective, and their paths are printed.
    assert out.splitlines()[-2:] == [f"wrote compare/{LAMBDA_PNG}", f"wrote compare/{PARETO_PNG}"]
    assert sorted(p.name for p in (tmp_path / "compare").iterdir()) == sorted([LAMBDA_PNG, PARETO_PNG])


def test_csv_values_are_exactly_the_mlflow_metrics(env_store, capsys):
    code, out, err = _run(capsys, "--format", "csv")
    assert code == 0, err
    rows = _csv_rows(out)
    assert _names(rows) == VALIDATION_ORDER  # no parent, no failed or killed run
    assert {(r["dataset"], r["dataset_digest"], r["model"]) for r in rows} == {(WISC_LABEL, WISC, "qboost")}
    client = MlflowClient(tracking_uri=env_store["uri"])
    for row in rows:
        metrics = client.get_run(row["run_id"]).data.metrics
        for name in ("test_accuracy", "validation_accuracy", "selected", "time_total"):
            assert float(row[name]) == metrics[name]
        assert float(row["lambda"]) == metrics["lambda_value"]
    # Stdout is pure CSV; the figure paths go to stderr.
    assert "wrote" not in out and LAMBDA_PNG in err


def test_sort_selected_is_ascending(env_store, capsys):
    code, out, _ = _run(capsys, "--sort", "selected", "--format", "csv")
    assert code == 0
    selected = [float(r["selected"]) for r in _csv_rows(out)]
    assert selected == [1, 2, 4, 5, 6, 7, 8, 10, 12]


def test_sort_by_a_metric_not_in_the_table_adds_its_column(env_store, capsys):
    code, out, _ = _run(capsys, "--sort", "best_energy", "--limit", "3")
    assert code == 0
    lines = out.splitlines()
    assert "3 of 9 training runs, sorted by best_energy (ascending)" in lines[0]
    assert lines[2].split()[-2:] == ["best_energy", "status"]
    assert lines[2].split()[8:10] == ["val_acc", "test_acc"]
    assert [line.split()[1] for line in lines[4:7]] == ["neal-l0", "0:sa-l0", "neal-l0.01"]  # most learners (12, 10, 8) -> lowest energies
    assert len([line for line in lines if line.startswith(tuple(i[:8] for i in env_store["ids"].values()))]) == 3


def test_parent_restricts_to_the_sweep(env_store, capsys):
    code, out, _ = _run(capsys, "--parent", env_store["ids"]["sweep"], "--format", "csv")
    assert code == 0
    assert _names(_csv_rows(out)) == ["1:sa-l0.1", "0:sa-l0", "2:sa-l1"]  # validation 0.84, 0.80, 0.71


def test_failed_runs_only_with_all(env_store, capsys):
    # (Without --all they are absent: see the CSV and text table tests.)
    code, out, _ = _run(capsys, "--all", "--format", "csv", "--out", "with-failed")
    assert code == 0
    rows = _csv_rows(out)
    assert _names(rows)[:2] == ["crashed", "interrupted"]  # 0.99: they sort first...
    assert [r["status"] for r in rows[:2]] == ["FAILED", "KILLED"]
    # ...but are in neither figure's data.
    runs = load_runs("qboost", include_failed=True)
    assert set(pareto_front(runs, "validation_accuracy")["run_name"]) == PARETO
    assert 0.99 not in set(metric_by_lambda(runs, "validation_accuracy")["max"])


def test_markdown_table(env_store, capsys):
    code, out, _ = _run(capsys, "--format", "markdown", "--limit", "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[2].startswith("| run | name | dataset | model | sampler |")
    assert lines[3].startswith("|---|---|---|---|---|---|---:|---:|---:|")
    assert lines[4].startswith(f"| {env_store['ids']['neal-l0.01'][:8]} | neal-l0.01 | {WISC_LABEL} | qboost | neal | stumps | 0.01 | 2 | 0.8900 | 0.8571 |")


# --------------------------------------------------------------------------
# Figures and the Pareto front


def test_pngs_are_written_and_valid(env_store, capsys):
    code, out, _ = _run(capsys, "--out", "report/figs")
    assert code == 0
    written = [Path(line.removeprefix("wrote ")) for line in out.splitlines() if line.startswith("wrote ")]
    assert [p.name for p in written] == [LAMBDA_PNG, PARETO_PNG]
    for path in written:
        assert path.parent == Path("report/figs")
        _assert_png(path)


def test_pareto_front_is_exactly_the_expected_runs(env_store):
    runs = load_runs("qboost")
    front = pareto_front(runs, "validation_accuracy")
    assert set(front["run_name"]) == PARETO
    assert front["metrics.selected"].tolist() == [1, 2, 4, 5, 8]  # ordered by model size
    client = MlflowClient(tracking_uri=env_store["uri"])
    for _, row in front.iterrows():
        metrics = client.get_run(row["run_id"]).data.metrics
        assert (row["metrics.selected"], row["metrics.validation_accuracy"]) == (metrics["selected"], metrics["validation_accuracy"])


def test_pareto_front_ties_and_direction():
    runs = pd.DataFrame(
        {
            "run_id": list("abcdef"),
            "status": ["FINISHED"] * 5 + ["FAILED"],
            "metrics.selected": [3.0, 3.0, 3.0, 5.0, 2.0, 1.0],
            "metrics.validation_accuracy": [0.9, 0.9, 0.8, 0.9, math.nan, 1.0],
            "metrics.time_total": [2.0, 1.0, 0.5, 0.4, 9.0, 0.1],
        }
    )
    # Identical points are both kept; same size but worse is dropped; equal accuracy with more learners is dominated;
    # a missing metric and a failed run are ignored.
    assert pareto_front(runs, "validation_accuracy")["run_id"].tolist() == ["a", "b"]
    # For a smaller-is-better metric the front minimises both.
    assert pareto_front(runs, "time_total")["run_id"].tolist() == ["e", "c", "d"]


def test_figure_data_are_the_run_metrics(env_store, tmp_path):
    runs = load_runs("qboost")
    summary = metric_by_lambda(runs, "validation_accuracy")
    assert summary["joined"].all() and (summary["group"] == "").all()  # each sampler's runs differ in λ alone: one line each
    summary = summary.set_index(["sampler", "weak_learners", "weight_bits", "lambda"])
    neal = summary.loc[("neal", "stumps", "2", 0.1)]
    assert (neal["mean"], neal["min"], neal["max"], neal["runs"]) == ((0.86 + 0.83) / 2, 0.83, 0.86, 2)
    assert summary.loc[("tabu", "stumps", "2", 0.05), "mean"] == 0.85  # lambda=auto plotted at the chosen λ
    assert sorted(summary.index.get_level_values("sampler").unique()) == ["neal", "sa", "tabu"]

    fig = _figures._figure_metric_vs_lambda(runs, "validation_accuracy")
    ax = fig.axes[0]
    assert ax.get_xscale() == "symlog"  # λ=0 is present
    assert ax.get_title() == f"experiment 'qboost', dataset {WISC_LABEL}: validation_accuracy vs λ"
    assert "validation_accuracy" in ax.get_ylabel()
    assert not [t for t in ax.texts if "test" in t.get_text()] and "test" not in ax.get_ylabel()
    client = MlflowClient(tracking_uri=env_store["uri"])
    # One errorbar container per sampler; its first line is the plotted means.
    plotted = {c.get_label(): dict(zip(c.lines[0].get_xdata(), c.lines[0].get_ydata())) for c in ax.containers}
    assert set(plotted) == {"neal / stumps / 2 bit (4 runs)", "sa / stumps / 2 bit (3 runs)", "tabu / stumps / 2 bit (2 runs)"}
    sa = plotted["sa / stumps / 2 bit (3 runs)"]
    for name in CHILDREN:
        metrics = client.get_run(env_store["ids"][name]).data.metrics
        assert sa[metrics["lambda_value"]] == metrics["validation_accuracy"]

    fig = _figures._figure_pareto(runs, "validation_accuracy")
    ax = fig.axes[0]
    assert "qboost" in ax.get_title() and WISC_LABEL in ax.get_title() and "validation_accuracy" in ax.get_ylabel()
    (front_line,) = [line for line in ax.get_lines() if line.get_label().startswith("QBoost Pareto front")]
    front = pareto_front(runs, "validation_accuracy")
    assert list(front_line.get_xdata()) == front["metrics.selected"].tolist() == [1, 2, 4, 5, 8]
    assert list(front_line.get_ydata()) == front["metrics.validation_accuracy"].tolist()

    # The reusable functions write PNGs wherever asked, creating the directory (the sweep callback's call).
    children = load_runs("qboost", parent=env_store["ids"]["sweep"])
    _assert_png(plot_metric_vs_lambda(children, "validation_accuracy", tmp_path / "sweep" / "lam.png"))
    _assert_png(plot_pareto(children, "validation_accuracy", tmp_path / "sweep" / "pareto.png"))


def test_log_axis_without_zero(env_store):
    runs = load_runs("qboost")
    positive = runs[runs["lambda"] > 0]
    assert _figures._figure_metric_vs_lambda(positive, "validation_accuracy").axes[0].get_xscale() == "log"


# --------------------------------------------------------------------------
# User mistakes: one line, exit 2


def test_missing_store_is_not_created(capsys, tmp_path):
    code, out, err = _run(capsys)  # default sqlite:///mlflow.db in the (empty) cwd
    _assert_one_error(code, out, err, "no MLflow store at", str(tmp_path / "mlflow.db"))
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "compare").exists()
    code, out, err = _run(capsys, "--tracking-uri", f"sqlite:///{tmp_path}/nowhere/x.db")
    _assert_one_error(code, out, err, "nowhere/x.db")
    assert not (tmp_path / "nowhere").exists()


def test_unknown_experiment_lists_the_existing_ones(env_store, capsys):
    _assert_one_error(*_run(capsys, "--experiment", "qbost"), "'qbost'", "existing experiments: Default, empty, mixed, only-failed, qboost")


def test_unknown_sort_metric_lists_the_metrics(env_store, capsys):
    code, out, err = _run(capsys, "--sort", "accuracy")
    _assert_one_error(code, out, err, "unknown metric 'accuracy'", "available metrics: best_energy, candidates, lambda_value, selected")
    assert out == ""


@pytest.mark.parametrize(
    "argv,fragments",
    [
        (["--experiment", "empty"], ["experiment 'empty' has no runs"]),
        (["--experiment", "only-failed"], ["no training runs", "1 failed/killed (--all lists them)"]),
        (["--parent", "0123abcd"], ["no parent run '0123abcd'", "(sweep lambda=0,0.1,1)"]),
        (["--limit", "0"], ["--limit", "positive integer"]),
        (["--format", "html"], ["--format"]),
    ],
)
def test_no_runs_and_bad_arguments(env_store, capsys, tmp_path, argv, fragments):
    _assert_one_error(*_run(capsys, *argv), *fragments)
    assert not (tmp_path / "compare").exists()  # no PNGs for an empty report


def test_all_failed_with_all_lists_them_and_skips_figures(env_store, capsys, tmp_path):
    (tmp_path / "compare").mkdir()
    (tmp_path / "compare" / "time_total_vs_lambda.png").write_bytes(b"stale figure from an earlier report")
    code, out, err = _run(capsys, "--experiment", "only-failed", "--all", "--sort", "time_total")
    assert code == 0, err
    # No dataset tag nor input: "?"; no model tag: a QBoost run.
    assert out.splitlines()[4].split()[1:] == ["doomed", "?", "qboost", "-", "-", "-", "-", "-", "-", "-", "0.25", "FAILED"]
    assert "wrote" not in out
    assert err.count("note: ") == 2 and "no finished QBoost run has both 'time_total'" in err
    # A figure of older runs would contradict the table: it is removed, not left behind.
    assert list((tmp_path / "compare").iterdir()) == []
    # The default objective exists nowhere.
    _assert_one_error(*_run(capsys, "--experiment", "only-failed", "--all"), "unknown metric 'validation_accuracy'", "available metrics: time_total")


# --------------------------------------------------------------------------
# The real entry point


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")
def test_python_dash_m(store, tmp_path, monkeypatch, capsys):
    # runpy is what ``python -m`` does; in-process because a fresh interpreter
    # spends seconds importing mlflow and the package (tests/clirun.run_module
    # works too, e.g. ``run_module("qboost_exp.compare", "--help", cwd=...)``).
    monkeypatch.setattr(sys, "argv", ["compare", "--tracking-uri", store["uri"], "--format", "markdown", "--limit", "2"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("qboost_exp.compare", run_name="__main__", alter_sys=True)
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert "| neal-l0.01 |" in out and f"wrote compare/{PARETO_PNG}" in out
    _assert_png(tmp_path / "compare" / LAMBDA_PNG)


# --------------------------------------------------------------------------
# Readable figures: series kept apart, labels that do not overprint, empty models flagged


def _crowded_runs() -> pd.DataFrame:
    """Two samplers with identical results (one would hide the other), two learner sets and bit widths,
    a dense Pareto front (labels would collide) and two empty models (0 selected, 37 %)."""
    rows = []
    lambdas = [0.0001, 0.001, 0.01, 0.1]
    for sampler in ("neal", "tabu"):
        for learners, bits in (("stumps", "1"), ("trees", "1"), ("trees", "3")):
            for i, lam in enumerate(lambdas):
                acc = 0.90 + 0.01 * i + (0.02 if learners == "trees" else 0) + (0.01 if bits == "3" else 0)
                rows.append((sampler, learners, bits, lam, acc, 30 - 6 * i - (2 if learners == "trees" else 0) - int(bits)))
    # a dense front: one more learner, a hair more accuracy, many times over
    for k in range(14):
        rows.append(("neal", "trees", "2", 0.002, 0.95 + 0.003 * k, 4 + k))
    rows += [("neal", "stumps", "1", 1.0, 0.37, 0), ("tabu", "stumps", "1", 3.0, 0.37, 0)]
    return pd.DataFrame(
        {
            "run_id": [f"{i:08x}{'0' * 24}" for i in range(len(rows))],
            "status": "FINISHED",
            "sampler": [r[0] for r in rows],
            "weak_learners": [r[1] for r in rows],
            "weight_bits": [r[2] for r in rows],
            "lambda": [r[3] for r in rows],
            "metrics.validation_accuracy": [r[4] for r in rows],
            "metrics.selected": [float(r[5]) for r in rows],
            "experiment": "crowded",
        }
    )


def test_one_series_per_sampler_learner_set_and_weight_bits(tmp_path):
    runs = _crowded_runs()
    summary = metric_by_lambda(runs, "validation_accuracy")
    series = summary[["sampler", "weak_learners", "weight_bits"]].drop_duplicates()
    assert len(series) == 7  # 2 samplers x 3 (learners, bits) + the (neal, trees, 2) runs
    # No params logged: nothing tells the runs of a series apart but λ; the (neal, trees, 2) runs all sit at one λ.
    assert summary.loc[summary["weight_bits"] != "2", "joined"].all() and not summary.loc[summary["weight_bits"] == "2", "joined"].any()
    fig = _figures._figure_metric_vs_lambda(runs, "validation_accuracy")
    ax = fig.axes[0]
    joined = [c for c in ax.containers if "not joined" not in c.get_label()]
    lines = [c.lines[0] for c in joined]
    labels = [c.get_label() for c in joined]
    assert "neal / trees / 3 bit (4 runs)" in labels and "tabu / trees / 3 bit (4 runs)" in labels
    # neal and tabu have identical numbers: their marks must differ to both be seen
    styles = {(line.get_marker(), str(line.get_linestyle()), line.get_markersize()) for line in lines}
    assert len(styles) == len(lines)
    neal, tabu = (lines[labels.index(f"{s} / trees / 3 bit (4 runs)")] for s in ("neal", "tabu"))
    assert list(neal.get_ydata()) == list(tabu.get_ydata())
    assert (neal.get_marker(), neal.get_linestyle()) != (tabu.get_marker(), tabu.get_linestyle())
    _assert_png(plot_metric_vs_lambda(runs, "validation_accuracy", tmp_path / "lam.png"))


def test_pareto_labels_never_overlap_and_empty_models_stay_off_the_front(tmp_path):
    runs = _crowded_runs()
    front = pareto_front(runs, "validation_accuracy")
    assert (front["metrics.selected"] > 0).all() and len(front) >= 10
    fig = _figures._figure_pareto(runs, "validation_accuracy")
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    labels = [t for t in ax.texts]
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert 3 <= len(labels) <= len(front)  # labels for front runs only, where they fit
    front_ids = {str(r)[:8] for r in front["run_id"]}
    assert {t.get_text() for t in labels} <= front_ids
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    # nor do they cover a plotted point (a 7-pixel radius around each)
    points = ax.transData.transform([tuple(o) for coll in ax.collections for o in coll.get_offsets()])
    for box in boxes:
        assert not any(box.x0 - 7 < px < box.x1 + 7 and box.y0 - 7 < py < box.y1 + 7 for px, py in points)
    legend = ax.get_legend()
    assert all(not box.overlaps(legend.get_window_extent(renderer)) for box in boxes)
    inside = ax.get_window_extent(renderer)
    assert all(inside.x0 <= b.x0 and b.x1 <= inside.x1 and inside.y0 <= b.y0 and b.y1 <= inside.y1 for b in boxes)
    # the empty models: named in the legend, not plotted, not stretching the axis
    assert "2 empty models (0 learners) not shown" in [t.get_text() for t in legend.get_texts()]
    plotted_x = [x for line in ax.get_lines() for x in line.get_xdata()]
    plotted_x += [x for coll in ax.collections for x, _ in coll.get_offsets()]
    assert 0 not in plotted_x and ax.get_ylim()[0] > 0.8
    _assert_png(plot_pareto(runs, "validation_accuracy", tmp_path / "pareto.png"))


# --------------------------------------------------------------------------
# The test split never ranks nor chooses


@pytest.mark.parametrize("argv", [["--sort", "test_accuracy"], ["--objective", "test_f1"], ["--sort", "metrics.test_accuracy"], ["--format", "csv", "--sort", "TEST_roc_auc"]])
def test_a_test_metric_is_refused_for_ranking(env_store, capsys, tmp_path, argv):
    code, out, err = _run(capsys, *argv)
    _assert_one_error(code, out, err, "never ranked or chosen on the test split", "overfits", "validation_accuracy")
    assert out == "" and not (tmp_path / "compare").exists()


def test_the_library_refuses_test_metrics_too(env_store):
    runs = load_runs("qboost")
    for call in (
        lambda: sort_runs(runs, "test_accuracy"),
        lambda: pareto_front(runs, "test_accuracy"),
        lambda: metric_by_lambda(runs, "metrics.test_f1"),
        lambda: plot_metric_vs_lambda(runs, "test_accuracy", "never.png"),
        lambda: plot_pareto(runs, "test_accuracy", "never.png"),
    ):
        with pytest.raises(CompareError, match="test split"):
            call()
    assert not Path("never.png").exists()
    # The one "best" rule: sort_runs' order is rank_key's (direction by name, ties to the earlier run).
    ordered = sort_runs(runs, "validation_accuracy")
    keys = [rank_key(v, int(pd.Timestamp(t).value // 1_000_000), "validation_accuracy") for v, t in zip(ordered["metrics.validation_accuracy"], ordered["start_time"])]
    assert keys == sorted(keys) and ordered["run_name"].tolist() == VALIDATION_ORDER


# --------------------------------------------------------------------------
# One dataset per table and per figure


def _mixed(names: list[str] | None = None) -> pd.DataFrame:
    runs = load_runs("mixed")
    return runs if names is None else runs[runs["run_name"].isin(names)]


WISC_MIXED = [name for name, dataset, digest, *_ in MIXED if (dataset, digest) == ("wisc", WISC)]


def test_one_table_and_one_pair_of_figures_per_dataset(env_store, capsys, tmp_path):
    code, out, err = _run(capsys, "--experiment", "mixed")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "experiment 'mixed': 20 training runs, sorted by validation_accuracy (descending); 4 datasets, one table each"
    labels = [f"csv@{CSV[:8]}", "digits", f"wisc@{WISC[:8]}", f"wisc@{WISC_SEED1[:8]}"]
    headings = [line for line in lines if line.startswith("dataset ")]
    assert headings == [f"dataset {labels[0]}: 3 runs", "dataset digits: 1 run", f"dataset {labels[2]}: 15 runs", f"dataset {labels[3]}: 1 run"]
    # Each section: only its dataset's runs, ranked by validation (a baseline ranks with the rest).
    start = lines.index(headings[2]) + 4
    wisc_rows = lines[start:start + 15]
    assert {row.split()[2] for row in wisc_rows} == {labels[2]}
    expected = sorted((spec for spec in MIXED if spec[0] in WISC_MIXED), key=lambda spec: -spec[5]["validation_accuracy"])
    assert [row.split()[1] for row in wisc_rows] == [spec[0] for spec in expected]
    assert wisc_rows[0].split()[1:9] == ["adaboost", labels[2], "adaboost", "-", "adaboost", "-", "-", "0.9600"]  # a baseline: no sampler, λ, bits
    # The seed-1 split's 0.99 and digits' 0.97 are never ranked against wisc@0123...'s runs.
    assert "seed1-0.1" not in "\n".join(wisc_rows) and "digits-old" not in "\n".join(wisc_rows)
    written = sorted(p.name for p in (tmp_path / "compare").iterdir())
    suffixes = ["csv-fedcba98", "digits", "wisc-01234567", "wisc-0a0b0c0d"]
    assert written == sorted(f"{kind}_{s}.png" for s in suffixes for kind in ("validation_accuracy_vs_lambda", "pareto_validation_accuracy_vs_selected"))
    for name in written:
        _assert_png(tmp_path / "compare" / name)


def test_csv_of_several_datasets_is_one_file_grouped_by_dataset(env_store, capsys):
    code, out, _ = _run(capsys, "--experiment", "mixed", "--format", "csv", "--limit", "2")
    assert code == 0
    rows = _csv_rows(out)
    assert [r["dataset"] for r in rows] == [f"csv@{CSV[:8]}"] * 2 + ["digits"] + [f"wisc@{WISC[:8]}"] * 2 + [f"wisc@{WISC_SEED1[:8]}"]
    assert [r["run_name"] for r in rows if r["dataset"] == f"wisc@{WISC[:8]}"] == ["adaboost", "trial-2"]  # 0.96, 0.95
    assert {r["dataset_digest"] for r in rows} == {CSV, "", WISC, WISC_SEED1}


@pytest.mark.parametrize(
    "spec,sections,figures",
    [
        ("csv", [f"csv@{CSV[:8]}"], [LAMBDA_PNG, PARETO_PNG]),  # one dataset: today's names, no suffix
        (f"wisc@{WISC[:4]}", [f"wisc@{WISC[:8]}"], [LAMBDA_PNG, PARETO_PNG]),  # a digest prefix is enough
        ("wisc", [f"wisc@{WISC[:8]}", f"wisc@{WISC_SEED1[:8]}"], None),  # a bare name: each of its splits, apart
        ("digits", ["digits"], None),  # a run without inputs: by its name
    ],
)
def test_dataset_option(env_store, capsys, tmp_path, spec, sections, figures):
    code, out, err = _run(capsys, "--experiment", "mixed", "--dataset", spec, "--format", "csv")
    assert code == 0, err
    assert sorted({r["dataset"] for r in _csv_rows(out)}) == sections
    if figures is not None:
        assert sorted(p.name for p in (tmp_path / "compare").iterdir()) == sorted(figures)


def test_unknown_dataset_lists_the_datasets(env_store, capsys):
    _assert_one_error(
        *_run(capsys, "--experiment", "mixed", "--dataset", "iris"),
        "--dataset iris: no such dataset", f"csv@{CSV[:8]} (3 runs), digits (1 run), wisc@{WISC[:8]} (15 runs), wisc@{WISC_SEED1[:8]} (1 run)",
    )


def test_figures_refuse_to_pool_datasets(env_store):
    runs = _mixed()
    for plot in (plot_metric_vs_lambda, plot_pareto):
        with pytest.raises(CompareError, match=r"come from 4 datasets \(csv@fedcba98, digits, wisc@01234567, wisc@0a0b0c0d\): one figure shows one dataset"):
            plot(runs, "validation_accuracy", "never.png")
    assert not Path("never.png").exists()


# --------------------------------------------------------------------------
# Lines only through runs that differ in λ alone; baselines as reference marks


def test_lines_join_only_runs_that_differ_in_lambda_alone(env_store):
    runs = _mixed(WISC_MIXED)
    summary = metric_by_lambda(runs, "validation_accuracy")
    assert set(summary["weak_learners"]) == {"adaboost"} and set(summary["sampler"]) == {"neal"}  # baselines are not λ points
    lines = summary[summary["joined"]]
    got = {group: dict(zip(rows["lambda"], rows["mean"])) for group, rows in lines.groupby("group")}
    assert got == MIXED_WISC_LINES
    # lambda=auto (verbose=0, tracked elsewhere) joined the sweep at its chosen λ: averaged with the fixed λ=0.05 run
    at_005 = lines[(lines["group"] == "weak_learners.params.max_depth=2") & (lines["lambda"] == 0.05)].iloc[0]
    assert (at_005["runs"], at_005["min"], at_005["max"]) == (2, 0.92, 0.94)
    points = summary[~summary["joined"]]
    trials = {spec[4]["lambda"]: spec[5]["validation_accuracy"] for spec in MIXED if spec[0].startswith("trial-")}
    assert dict(zip(points["lambda"], points["mean"])) == {float(k): v for k, v in trials.items()}

    fig = _figures._figure_metric_vs_lambda(runs, "validation_accuracy")
    ax = fig.axes[0]
    by_label = {c.get_label(): c for c in ax.containers}
    line_labels = {f"neal / adaboost / 1 bit, {group} ({sum(1 for s in MIXED if s[0].startswith(prefix) and s[2] == WISC)} runs)"
                   for group, prefix in (("weak_learners.params.max_depth=2", "sweep-"), ("weak_learners.params.max_depth=3", "depth3-"))}
    points_label = "neal / adaboost / 1 bit: 5 points not joined (no other run differs from it in λ alone)"
    assert set(by_label) == line_labels | {points_label}  # one legend entry for all trial points
    drawn = by_label[points_label].lines[0]
    assert drawn.get_linestyle() == "None" and sorted(drawn.get_xdata()) == sorted(float(k) for k in trials)
    for label in line_labels:
        assert by_label[label].lines[0].get_linestyle() != "None"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert points_label in legend and len(legend) == 2 + 1 + 3  # two lines, the points, three baselines


def test_baselines_are_reference_lines_on_the_lambda_plot(env_store):
    runs = _mixed(WISC_MIXED)
    ax = _figures._figure_metric_vs_lambda(runs, "validation_accuracy").axes[0]
    references = {line.get_label(): line.get_ydata()[0] for line in ax.get_lines() if line.get_label().startswith("baseline ")}
    assert references == {"baseline adaboost: 0.9600": 0.96, "baseline gradient_boosting: 0.9450": 0.945, "baseline lasso: 0.9350": 0.935}
    for line in ax.get_lines():
        if line.get_label().startswith("baseline "):
            assert list(line.get_xdata()) == [0, 1]  # across the axes: a horizontal reference, not a λ point
    # Each line is named on the plot too, in its colour, without two names overprinting.
    names = {t.get_text(): t for t in ax.texts}
    assert set(names) == {"adaboost", "lasso", "gradient_boosting"}
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in names.values()]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert ax.get_ylim()[1] > 0.96  # the best baseline is in view


def test_baselines_are_labelled_marks_off_the_front_on_the_pareto_plot(env_store):
    runs = _mixed(WISC_MIXED)
    front = pareto_front(runs, "validation_accuracy")
    # lasso (9 learners, 0.935) would beat the QBoost runs it dominates: it is a reference, not on the front.
    assert not front["baseline"].any() and "lasso" not in set(front["run_name"])
    assert front["run_name"].tolist() == ["trial-3", "sweep-0.2", "depth3-0.2", "sweep-0.1", "trial-2"]
    ax = _figures._figure_pareto(runs, "validation_accuracy").axes[0]
    stars = {c.get_label(): [tuple(o) for o in c.get_offsets()] for c in ax.collections if c.get_label().startswith("baseline ")}
    assert stars == {"baseline adaboost": [(60.0, 0.96)], "baseline lasso": [(9.0, 0.935)]}
    # gradient boosting logs no number of learners: a labelled horizontal line instead
    (reference,) = [line for line in ax.get_lines() if line.get_label().startswith("baseline ")]
    assert (reference.get_label(), reference.get_ydata()[0]) == ("baseline gradient_boosting: 0.9450", 0.945)
    texts = {t.get_text() for t in ax.texts}
    assert {"adaboost", "lasso", "gradient_boosting"} <= texts
    (front_line,) = [line for line in ax.get_lines() if line.get_label().startswith("QBoost Pareto front")]
    assert (9.0, 0.935) not in set(zip(front_line.get_xdata(), front_line.get_ydata()))


def test_look_at_the_figures(env_store, tmp_path):
    """The PNGs a reviewer opens (QBOOST_FIGURES=DIR keeps them there)."""
    out = Path(os.environ.get("QBOOST_FIGURES") or tmp_path)
    runs = _mixed(WISC_MIXED)
    for path in (
        plot_metric_vs_lambda(runs, "validation_accuracy", out / "mixed_lambda.png"),
        plot_pareto(runs, "validation_accuracy", out / "mixed_pareto.png"),
        plot_metric_vs_lambda(load_runs("qboost"), "validation_accuracy", out / "qboost_lambda.png"),
        plot_pareto(load_runs("qboost"), "validation_accuracy", out / "qboost_pareto.png"),
        plot_metric_vs_lambda(_crowded_runs(), "validation_accuracy", out / "crowded_lambda.png"),
        plot_pareto(_crowded_runs(), "validation_accuracy", out / "crowded_pareto.png"),
    ):
        _assert_png(path)
