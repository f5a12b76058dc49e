"""``python -m qboost_exp.compare``'s tables against a real SQLite MLflow store: the runs it reads, the table, CSV and
markdown it prints, one table per dataset, the test split never ranking, user mistakes, the real entry point.

The store (compare_store.py) is built once for this module; each test points
``MLFLOW_TRACKING_URI`` at it through monkeypatch. The figures: test_compare_figures.py.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from compare_checks import LAMBDA_PNG, PARETO_PNG
from compare_checks import assert_one_error as _assert_one_error
from compare_checks import assert_png as _assert_png
from compare_checks import csv_rows as _csv_rows
from compare_checks import run_compare as _run
from compare_checks import run_names as _names
from compare_store import CHILDREN, CSV, MIXED, PARETO, SINGLES, TEST_ORDER, VALIDATION_ORDER, WISC, WISC_LABEL, WISC_MIXED, WISC_SEED1
from compare_store import env_store, isolated_mlflow, store  # noqa: F401  (fixtures; isolated_mlflow is autouse)
from qboost_exp.compare import CompareError, load_runs, metric_by_lambda, pareto_front, plot_metric_vs_lambda, plot_pareto, sort_runs
from qboost_exp.tracking import rank_key

# MLflow's own SQLAlchemy usage warns; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow")


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
    # The one "best" rule: sort_runs' order is rank_key's (direction by name; level runs: fewer learners, larger λ, earlier start).
    ordered = sort_runs(runs, "validation_accuracy")
    keys = [
        rank_key(v, int(pd.Timestamp(t).value // 1_000_000), "validation_accuracy", selected=n, lam=lam)
        for v, t, n, lam in zip(ordered["metrics.validation_accuracy"], ordered["start_time"], ordered["metrics.selected"], ordered["lambda"])
    ]
    assert keys == sorted(keys) and ordered["run_name"].tolist() == VALIDATION_ORDER


# --------------------------------------------------------------------------
# One table per dataset


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
