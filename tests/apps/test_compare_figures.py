"""compare's figures against a real SQLite MLflow store: the λ plot and the Pareto front, the data they show, series
kept apart, labels that do not overprint, one dataset per figure, lines only through runs that differ in λ alone,
baselines as reference marks.

The store (compare_store.py) is built once for this module; each test points
``MLFLOW_TRACKING_URI`` at it through monkeypatch. The tables: test_compare_tables.py.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from compare_checks import LAMBDA_PNG, PARETO_PNG
from compare_checks import assert_png as _assert_png
from compare_checks import run_compare as _run
from compare_store import CHILDREN, MIXED, MIXED_WISC_LINES, PARETO, WISC, WISC_LABEL, WISC_MIXED
from compare_store import env_store, isolated_mlflow, store  # noqa: F401  (fixtures; isolated_mlflow is autouse)
from compare_store import mixed_runs as _mixed
from qboost_exp.compare import _figures
from qboost_exp.compare import CompareError, load_runs, metric_by_lambda, pareto_front, plot_metric_vs_lambda, plot_pareto

# MLflow's own SQLAlchemy usage warns; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow")


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
    ids = [t for t in labels if t.get_text() != "chosen"]
    assert 3 <= len(ids) <= len(front)  # labels for front runs only, where they fit
    front_ids = {str(r)[:8] for r in front["run_id"]}
    assert {t.get_text() for t in ids} <= front_ids
    # ...and "chosen" beside the ring round the run the one "best" rule picks: the front's most accurate
    (ring,) = [line for line in ax.get_lines() if line.get_label().startswith("chosen: ")]
    assert (ring.get_xdata()[0], ring.get_ydata()[0]) == (17.0, 0.95 + 0.003 * 13)
    assert [t.get_text() for t in labels].count("chosen") == 1
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
# One dataset per figure


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
    assert points_label in legend and len(legend) == 2 + 1 + 3 + 1  # two lines, the points, three baselines, the chosen run
    # The one "best" rule chooses the adaboost baseline (0.96): it has no λ, so the legend names it instead of a ring.
    assert legend[-1] == "chosen: baseline adaboost (0.9600, 60 learners): not on this plot's x axis"


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
