"""The quick benchmark end to end: ``python -m qboost_exp -m +benchmark=quick``, then ``compare --parent``.

A real SQLite store and Hydra's joblib launcher, as a user runs it: one
parent run, a child per (model, dataset, seed), every rival at the k its
QBoost sibling chose, and the report (tables, tests, figures) written to the
sweep directory's ``benchmark/test_accuracy/`` and logged on the parent run as
the artifacts ``benchmark/test_accuracy/``. The report's numbers are
checked against the children's own metrics, not against themselves.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clirun import REPO, SUPPORT, run_module

pytestmark = pytest.mark.long

METHODS = {"qboost", "lasso@k", "abess@k", "adaboost@k"}
DATASETS = {"iris", "xor", "wisc"}
SEEDS = {"0", "1", "2"}
TABLES = ("per_seed.csv", "aggregate.csv", "aggregate.md", "paired.csv", "paired.md", "ranks.csv", "ranks.md", "benchmark.md")


def _runs(store: Path, experiment: str):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    (exp,) = [e for e in client.search_experiments() if e.name == experiment]
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    (parent,) = [r for r in runs if r.data.tags.get("qboost.role") == "parent"]
    return client, parent, [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The quick suite, run once for the module: (process, store path, sweep dir, client, parent, children)."""
    work = tmp_path_factory.mktemp("bench")
    sweep = work / "sweep"
    result = run_module(
        "qboost_exp", "-m", "+benchmark=quick", f"hydra.sweep.dir={sweep}", cwd=work, timeout=900,
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    client, parent, children = _runs(work / "mlflow.db", "benchmark-quick")
    return result, work, sweep, client, parent, children


def test_the_quick_suite_is_one_parent_with_a_finished_child_per_method_dataset_and_seed(quick):
    _, _, _, _, parent, children = quick
    assert parent.info.status == "FINISHED"
    assert len(children) == len(METHODS) * len(DATASETS) * len(SEEDS)
    assert {r.info.status for r in children} == {"FINISHED"}
    cells = {(r.data.tags["qboost.method"], r.data.tags["dataset"], r.data.params["seed"]) for r in children}
    assert cells == {(m, d, s) for m in METHODS for d in DATASETS for s in SEEDS}


def test_every_rival_runs_at_the_k_its_qboost_sibling_chose_on_the_same_split(quick):
    _, _, _, _, _, children = quick
    qboost = {(r.data.tags["dataset"], r.data.params["seed"]): r for r in children if r.data.tags["qboost.method"] == "qboost"}
    for run in children:
        if run.data.tags["qboost.method"] == "qboost":
            continue
        sibling = qboost[(run.data.tags["dataset"], run.data.params["seed"])]
        assert run.data.tags["qboost.matched_run"] == sibling.info.run_id
        # k: QBoost's learners that vary on the training data (its constant ones are its bias).
        k = int(sibling.data.metrics["selected_varying"])
        assert 1 <= k <= sibling.data.metrics["selected"]
        assert run.data.tags["qboost.matched_k"] == str(k)
        if run.data.tags["qboost.method"] == "adaboost@k":
            assert 1 <= run.data.metrics["selected"] <= k  # k stages; boosting may stop early on easy data
        else:
            assert run.data.metrics["selected"] == run.data.metrics["selected_varying"] == k  # none constant
        # The paired design: the same data and the same split as the sibling.
        assert run.data.tags["qboost.source_digest"] == sibling.data.tags["qboost.source_digest"]
        assert _train_digest(run) == _train_digest(sibling)


def _train_digest(run) -> str:
    (found,) = [i.dataset.digest for i in run.inputs.dataset_inputs if {t.key: t.value for t in i.tags}.get("mlflow.data.context") == "training"]
    return found


def test_the_report_is_written_to_the_sweep_dir_and_logged_on_the_parent(quick):
    result, _, sweep, client, parent, _ = quick
    assert {p.name for p in (sweep / "benchmark").iterdir()} == {"test_accuracy"}  # one directory per metric, no temporary one
    written = {p.name for p in (sweep / "benchmark" / "test_accuracy").iterdir()}
    assert set(TABLES) <= written
    assert {name for name in written if name.endswith(".png")} == {
        "cd_diagram_test_accuracy.png", *(n for n in written if n.startswith("test_accuracy_vs_learners_"))
    }
    assert {n.split("_")[-1].split("-")[0] for n in written if n.startswith("test_accuracy_vs_learners_")} == DATASETS
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "benchmark/test_accuracy")}
    assert logged == {f"benchmark/test_accuracy/{name}" for name in written}
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "benchmark")} == {"benchmark/test_accuracy"}
    assert "Friedman chi2 =" in result.stdout
    assert f"[sweep] benchmark report: 12 files in {sweep / 'benchmark' / 'test_accuracy'}, logged as the artifacts benchmark/test_accuracy/" in result.stdout


def test_the_aggregate_table_holds_the_childrens_means_and_standard_deviations(quick):
    _, _, sweep, _, _, children = quick
    rows = list(csv.DictReader((sweep / "benchmark" / "test_accuracy" / "aggregate.csv").open()))
    assert len(rows) == len(METHODS) * len(DATASETS)
    for row in rows:
        name = row["dataset"].split("@")[0]
        values = [r.data.metrics["test_accuracy"] for r in children if r.data.tags["dataset"] == name and r.data.tags["qboost.method"] == row["method"]]
        assert len(values) == 3 and int(row["n"]) == 3
        assert float(row["test_accuracy_mean"]) == pytest.approx(np.mean(values), abs=1e-12)
        assert float(row["test_accuracy_std"]) == pytest.approx(np.std(values, ddof=1), abs=1e-12)


def test_compare_of_the_parent_redraws_the_same_tables(quick, tmp_path):
    _, work, sweep, _, parent, _ = quick
    result = run_module(
        "qboost_exp.compare", "--experiment", "benchmark-quick", "--parent", parent.info.run_id, "--out", str(tmp_path / "out"),
        cwd=work, env={"MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"},
    )
    assert result.returncode == 0, result.stderr
    for table in ("aggregate.csv", "paired.csv", "ranks.csv"):
        assert (tmp_path / "out" / "benchmark" / "test_accuracy" / table).read_text() == (sweep / "benchmark" / "test_accuracy" / table).read_text()


def test_a_failing_benchmark_report_costs_the_sweep_nothing_else(tmp_path):
    """The report is cosmetic: made to fail, the sweep still ends FINISHED with every child, one warning line."""
    store = tmp_path / "mlflow.db"
    seen = tmp_path / "seen.txt"
    overrides = [
        "-m", "+benchmark=quick", "hydra.sweeper.params.dataset=iris", "hydra.sweeper.params.seed=0",
        "hydra.sweeper.params.model=\"qboost,lasso_at_k\"", f"hydra.sweep.dir={tmp_path / 'sweep'}",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DWAVE_"))}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{store}", HYDRA_FULL_ERROR="0", PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, str(SUPPORT / "chaos.py"), "benchmark report", str(seen), "--", *overrides],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: benchmark report skipped (RuntimeError: chaos: benchmark report made to fail); the run goes on without it"]
    client, parent, children = _runs(store, "benchmark-quick")
    assert parent.info.status == "FINISHED" and sorted(r.info.status for r in children) == ["FINISHED", "FINISHED"]
    assert client.list_artifacts(parent.info.run_id, "benchmark") == []
    assert not (tmp_path / "sweep" / "benchmark").exists()
