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
from qboost_exp.compare import load_runs, main, metric_by_lambda, pareto_front, plot_metric_vs_lambda, plot_pareto

# MLflow's own SQLAlchemy usage warns; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# name: (sampler, lambda param, lambda_value metric, test_accuracy, validation_accuracy, selected, time_total)
SINGLES = {
    "neal-l0": ("neal", "0", 0.0, 0.80, 0.79, 12, 1.5),
    "neal-l0.01": ("neal", "0.01", 0.01, 6 / 7, 0.84, 8, 1.25),  # 6/7: a float that must survive the CSV exactly
    "neal-l0.1-a": ("neal", "0.1", 0.1, 0.88, 0.86, 5, 1.0),
    "neal-l0.1-b": ("neal", "0.1", 0.1, 0.84, 0.83, 6, 1.1),
    "tabu-l1": ("tabu", "1.0", 1.0, 0.75, 0.74, 2, 0.5),
    "tabu-auto": ("tabu", "auto", 0.05, 0.90, 0.91, 7, 3.0),
}
CHILDREN = {
    "0:sa-l0": ("sa", "0", 0.0, 0.82, 0.80, 10, 2.0),
    "1:sa-l0.1": ("sa", "0.1", 0.1, 0.87, 0.85, 4, 2.5),
    "2:sa-l1": ("sa", "1.0", 1.0, 0.70, 0.71, 1, 0.75),
}
TEST_ACCURACY_ORDER = ["tabu-auto", "neal-l0.1-a", "1:sa-l0.1", "neal-l0.01", "neal-l0.1-b", "0:sa-l0", "neal-l0", "tabu-l1", "2:sa-l1"]
PARETO = {"2:sa-l1", "tabu-l1", "1:sa-l0.1", "neal-l0.1-a", "tabu-auto"}


def _log_training_run(name: str, spec: tuple, role: str, job_num: int | None = None) -> None:
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


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    """Experiment ``qboost``: 6 single runs, a sweep (parent + 3 children), 1 failed and 1 killed run;
    plus ``empty`` (no runs) and ``only-failed``. Returns the URI and {run name: run id}."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    ids: dict[str, str] = {}
    # set_tracking_uri also exports MLFLOW_TRACKING_URI; put the caller's value back afterwards.
    saved_env = os.environ.get("MLFLOW_TRACKING_URI")
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
    assert lines[0] == "experiment 'qboost': 9 training runs, sorted by test_accuracy (descending)"
    header = lines[2].split()
    assert header == ["run", "name", "sampler", "learners", "lambda", "bits", "test_acc", "val_acc", "selected", "time_s", "status"]
    body = lines[4:13]
    assert [line.split()[1] for line in body] == TEST_ACCURACY_ORDER
    # "tabu-auto": λ chosen by the search is shown with "(auto)".
    assert body[0].split() == [env_store["ids"]["tabu-auto"][:8], "tabu-auto", "tabu", "stumps", "0.05", "(auto)", "2", "0.9000", "0.9100", "7", "3.00", "FINISHED"]
    assert body[3].split()[4:] == ["0.01", "2", "0.8571", "0.8400", "8", "1.25", "FINISHED"]
    assert "sweep" not in out and "crashed" not in out and "interrupted" not in out
    # Figures go to ./compare/ by default, and their paths are printed.
    assert out.splitlines()[-2:] == ["wrote compare/accuracy_vs_lambda.png", "wrote compare/pareto_accuracy_vs_selected.png"]
    assert sorted(p.name for p in (tmp_path / "compare").iterdir()) == ["accuracy_vs_lambda.png", "pareto_accuracy_vs_selected.png"]


def test_csv_values_are_exactly_the_mlflow_metrics(env_store, capsys):
    code, out, err = _run(capsys, "--format", "csv")
    assert code == 0, err
    rows = _csv_rows(out)
    assert _names(rows) == TEST_ACCURACY_ORDER  # no parent, no failed or killed run
    client = MlflowClient(tracking_uri=env_store["uri"])
    for row in rows:
        metrics = client.get_run(row["run_id"]).data.metrics
        for name in ("test_accuracy", "validation_accuracy", "selected", "time_total"):
            assert float(row[name]) == metrics[name]
        assert float(row["lambda"]) == metrics["lambda_value"]
    # Stdout is pure CSV; the figure paths go to stderr.
    assert "wrote" not in out and "accuracy_vs_lambda.png" in err


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
    assert [line.split()[1] for line in lines[4:7]] == ["neal-l0", "0:sa-l0", "neal-l0.01"]  # most learners (12, 10, 8) -> lowest energies
    assert len([line for line in lines if line.startswith(tuple(i[:8] for i in env_store["ids"].values()))]) == 3


def test_parent_restricts_to_the_sweep(env_store, capsys):
    code, out, _ = _run(capsys, "--parent", env_store["ids"]["sweep"], "--format", "csv")
    assert code == 0
    assert _names(_csv_rows(out)) == ["1:sa-l0.1", "0:sa-l0", "2:sa-l1"]


def test_failed_runs_only_with_all(env_store, capsys):
    # (Without --all they are absent: see the CSV and text table tests.)
    code, out, _ = _run(capsys, "--all", "--format", "csv", "--out", "with-failed")
    assert code == 0
    rows = _csv_rows(out)
    assert _names(rows)[:2] == ["crashed", "interrupted"]  # 0.99: they sort first...
    assert [r["status"] for r in rows[:2]] == ["FAILED", "KILLED"]
    # ...but are in neither figure's data.
    runs = load_runs("qboost", include_failed=True)
    assert set(pareto_front(runs, "test_accuracy")["run_name"]) == PARETO
    assert 0.99 not in set(metric_by_lambda(runs, "test_accuracy")["max"])


def test_markdown_table(env_store, capsys):
    code, out, _ = _run(capsys, "--format", "markdown", "--limit", "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[2].startswith("| run | name | sampler |")
    assert lines[3].startswith("|---|---|---|---|---:|")
    assert lines[4].startswith(f"| {env_store['ids']['tabu-auto'][:8]} | tabu-auto | tabu | stumps | 0.05 (auto) |")


# --------------------------------------------------------------------------
# Figures and the Pareto front


def test_pngs_are_written_and_valid(env_store, capsys):
    code, out, _ = _run(capsys, "--out", "report/figs")
    assert code == 0
    written = [Path(line.removeprefix("wrote ")) for line in out.splitlines() if line.startswith("wrote ")]
    assert [p.name for p in written] == ["accuracy_vs_lambda.png", "pareto_accuracy_vs_selected.png"]
    for path in written:
        assert path.parent == Path("report/figs")
        _assert_png(path)


def test_pareto_front_is_exactly_the_expected_runs(env_store):
    runs = load_runs("qboost")
    front = pareto_front(runs, "test_accuracy")
    assert set(front["run_name"]) == PARETO
    assert front["metrics.selected"].tolist() == [1, 2, 4, 5, 7]  # ordered by model size
    client = MlflowClient(tracking_uri=env_store["uri"])
    for _, row in front.iterrows():
        metrics = client.get_run(row["run_id"]).data.metrics
        assert (row["metrics.selected"], row["metrics.test_accuracy"]) == (metrics["selected"], metrics["test_accuracy"])


def test_pareto_front_ties_and_direction():
    runs = pd.DataFrame(
        {
            "run_id": list("abcdef"),
            "status": ["FINISHED"] * 5 + ["FAILED"],
            "metrics.selected": [3.0, 3.0, 3.0, 5.0, 2.0, 1.0],
            "metrics.test_accuracy": [0.9, 0.9, 0.8, 0.9, math.nan, 1.0],
            "metrics.time_total": [2.0, 1.0, 0.5, 0.4, 9.0, 0.1],
        }
    )
    # Identical points are both kept; same size but worse is dropped; equal accuracy with more learners is dominated;
    # a missing metric and a failed run are ignored.
    assert pareto_front(runs, "test_accuracy")["run_id"].tolist() == ["a", "b"]
    # For a smaller-is-better metric the front minimises both.
    assert pareto_front(runs, "time_total")["run_id"].tolist() == ["e", "c", "d"]


def test_figure_data_are_the_run_metrics(env_store, tmp_path):
    runs = load_runs("qboost")
    summary = metric_by_lambda(runs, "test_accuracy").set_index(["sampler", "weak_learners", "weight_bits", "lambda"])
    neal = summary.loc[("neal", "stumps", "2", 0.1)]
    assert (neal["mean"], neal["min"], neal["max"], neal["runs"]) == ((0.88 + 0.84) / 2, 0.84, 0.88, 2)
    assert summary.loc[("tabu", "stumps", "2", 0.05), "mean"] == 0.90  # lambda=auto plotted at the chosen λ
    assert sorted(summary.index.get_level_values("sampler").unique()) == ["neal", "sa", "tabu"]

    fig = _figures._figure_metric_vs_lambda(runs, "test_accuracy")
    ax = fig.axes[0]
    assert ax.get_xscale() == "symlog"  # λ=0 is present
    assert ax.get_title() == "experiment 'qboost': test_accuracy vs λ"
    assert "test_accuracy" in ax.get_ylabel()
    client = MlflowClient(tracking_uri=env_store["uri"])
    # One errorbar container per sampler; its first line is the plotted means.
    plotted = {c.get_label(): dict(zip(c.lines[0].get_xdata(), c.lines[0].get_ydata())) for c in ax.containers}
    assert set(plotted) == {"neal / stumps / 2 bit (4 runs)", "sa / stumps / 2 bit (3 runs)", "tabu / stumps / 2 bit (2 runs)"}
    sa = plotted["sa / stumps / 2 bit (3 runs)"]
    for name in CHILDREN:
        metrics = client.get_run(env_store["ids"][name]).data.metrics
        assert sa[metrics["lambda_value"]] == metrics["test_accuracy"]

    fig = _figures._figure_pareto(runs, "test_accuracy")
    ax = fig.axes[0]
    assert "qboost" in ax.get_title() and "test_accuracy" in ax.get_ylabel()
    (front_line,) = [line for line in ax.get_lines() if line.get_label().startswith("Pareto front")]
    front = pareto_front(runs, "test_accuracy")
    assert list(front_line.get_xdata()) == front["metrics.selected"].tolist()
    assert list(front_line.get_ydata()) == front["metrics.test_accuracy"].tolist()

    # The reusable functions write PNGs wherever asked, creating the directory.
    children = load_runs("qboost", parent=env_store["ids"]["sweep"])
    _assert_png(plot_metric_vs_lambda(children, "test_accuracy", tmp_path / "sweep" / "lam.png"))
    _assert_png(plot_pareto(children, "test_accuracy", tmp_path / "sweep" / "pareto.png"))


def test_log_axis_without_zero(env_store):
    runs = load_runs("qboost")
    positive = runs[runs["lambda"] > 0]
    assert _figures._figure_metric_vs_lambda(positive, "test_accuracy").axes[0].get_xscale() == "log"


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
    _assert_one_error(*_run(capsys, "--experiment", "qbost"), "'qbost'", "existing experiments: Default, empty, only-failed, qboost")


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
    (tmp_path / "compare" / "accuracy_vs_lambda.png").write_bytes(b"stale figure from an earlier report")
    code, out, err = _run(capsys, "--experiment", "only-failed", "--all", "--sort", "time_total")
    assert code == 0, err
    assert out.splitlines()[4].split()[1:] == ["doomed", "-", "-", "-", "-", "-", "-", "-", "0.25", "FAILED"]
    assert "wrote" not in out
    assert err.count("note: ") == 2 and "no finished run has both 'test_accuracy'" in err
    # A figure of older runs would contradict the table: it is removed, not left behind.
    assert list((tmp_path / "compare").iterdir()) == []
    # Without --all there is nothing to list, and the default sort metric exists nowhere.
    _assert_one_error(*_run(capsys, "--experiment", "only-failed", "--all"), "unknown metric 'test_accuracy'", "available metrics: time_total")


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
    assert "| tabu-auto |" in out and "wrote compare/pareto_accuracy_vs_selected.png" in out
    _assert_png(tmp_path / "compare" / "accuracy_vs_lambda.png")


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
            "metrics.test_accuracy": [r[4] for r in rows],
            "metrics.selected": [float(r[5]) for r in rows],
            "experiment": "crowded",
        }
    )


def test_one_series_per_sampler_learner_set_and_weight_bits(tmp_path):
    runs = _crowded_runs()
    summary = metric_by_lambda(runs, "test_accuracy")
    series = summary[["sampler", "weak_learners", "weight_bits"]].drop_duplicates()
    assert len(series) == 7  # 2 samplers x 3 (learners, bits) + the (neal, trees, 2) runs
    fig = _figures._figure_metric_vs_lambda(runs, "test_accuracy")
    ax = fig.axes[0]
    lines = [c.lines[0] for c in ax.containers]
    labels = [c.get_label() for c in ax.containers]
    assert "neal / trees / 3 bit (4 runs)" in labels and "tabu / trees / 3 bit (4 runs)" in labels
    # neal and tabu have identical numbers: their marks must differ to both be seen
    styles = {(line.get_marker(), str(line.get_linestyle()), line.get_markersize()) for line in lines}
    assert len(styles) == len(lines)
    neal, tabu = (lines[labels.index(f"{s} / trees / 3 bit (4 runs)")] for s in ("neal", "tabu"))
    assert list(neal.get_ydata()) == list(tabu.get_ydata())
    assert (neal.get_marker(), neal.get_linestyle()) != (tabu.get_marker(), tabu.get_linestyle())
    _assert_png(plot_metric_vs_lambda(runs, "test_accuracy", tmp_path / "lam.png"))


def test_pareto_labels_never_overlap_and_empty_models_stay_off_the_front(tmp_path):
    runs = _crowded_runs()
    front = pareto_front(runs, "test_accuracy")
    assert (front["metrics.selected"] > 0).all() and len(front) >= 10
    fig = _figures._figure_pareto(runs, "test_accuracy")
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
    _assert_png(plot_pareto(runs, "test_accuracy", tmp_path / "pareto.png"))
