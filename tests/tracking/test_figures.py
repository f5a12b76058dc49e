"""Figures that cannot fail on legal data: every degenerate case a run can produce draws a readable PNG.

Where there is nothing to draw, the figure says why (the text checked here
is the one drawn in the figure).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from qboost_exp.tracking import _plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def said(monkeypatch) -> list[str]:
    """The texts the figures wrote in place of a plot."""
    texts: list[str] = []
    original = _plots._say

    def spy(ax, text):  # noqa: ANN001, ANN202
        texts.append(text)
        original(ax, text)

    monkeypatch.setattr(_plots, "_say", spy)
    return texts


def assert_png(path: Path, size: tuple[int, int]) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width, *_ = matplotlib.image.imread(path).shape
    assert (width, height) == size


# ------------------------------------------------------------------ energies


def test_energies_equal_to_the_last_bits_draw_one_bar(tmp_path, said):
    energies = np.full(3, 0.14491993) + np.array([0.0, 2.8e-17, 5.6e-17])
    assert len(np.unique(energies)) == 3  # distinct floats: numpy cannot cut their range into bins
    assert _plots.energy_bins(energies) == (1, pytest.approx((0.14491993 - 1e-6, 0.14491993 + 1e-6)))
    _plots.plot_energies(energies, np.array([2, 1, 1]), float(energies[0]), tmp_path / "e.png")
    assert_png(tmp_path / "e.png", (550, 350))
    assert said == []


@pytest.mark.parametrize(
    "energies, bins",
    [
        (np.array([0.5]), 1),  # a single read
        (np.array([-3.0, -3.0, -3.0]), 1),  # one state, read after read
        (np.array([0.0, 0.0]), 1),  # all at zero
        (np.array([1e6, 1e6 + 1e-4]), 1),  # 1e-10 apart relative to their size: one value
        (np.array([0.1, 0.2]), 5),  # two values: at least 5 bins
        (np.linspace(0.0, 1.0, 200), 50),  # at most 50 bins
        (np.array([1e-12, 2e-12, 3e-12]), 1),  # tiny energies, tiny spread: one bar at 1e-12 scale
    ],
)
def test_energy_bins_are_always_cuttable(energies, bins):
    count, (lo, hi) = _plots.energy_bins(energies)
    assert count == bins and lo <= energies.min() and energies.max() <= hi
    counts, _ = np.histogram(energies, bins=count, range=(lo, hi))  # numpy accepts them
    assert counts.sum() == len(energies)


def test_no_finite_energy_says_so(tmp_path, said):
    _plots.plot_energies(np.array([np.nan, np.inf]), np.array([1, 1]), float("nan"), tmp_path / "e.png")
    assert_png(tmp_path / "e.png", (550, 350))
    assert said == ["no read with a finite energy: nothing to draw"]


# ------------------------------------------------------------------ ROC, confusion, weights


def test_one_class_in_the_split_has_no_roc_curve_and_says_so(tmp_path, said):
    _plots.plot_roc(np.array([1, 1, 1]), np.array([0.2, -0.1, 0.4]), 1, "QBoost margin", "test", tmp_path / "roc.png")
    assert_png(tmp_path / "roc.png", (450, 400))
    assert said == ["no ROC curve: the test split has only class 1\n(a ROC curve needs both classes)"]


def test_nan_scores_are_left_out_of_the_roc_curve(tmp_path, said):
    y, scores = np.array([0, 1, 0, 1, 1]), np.array([-1.0, 1.0, np.nan, 0.5, np.nan])
    _plots.plot_roc(y, scores, 1, "m", "test", tmp_path / "roc.png")
    assert said == []
    _plots.plot_roc(y, np.full(5, np.nan), 1, "m", "test", tmp_path / "roc.png")
    assert said == ["no ROC curve: the test split has no row with a finite score\n(a ROC curve needs both classes)"]


def test_an_empty_models_constant_margin_draws_the_diagonal(tmp_path, said):
    _plots.plot_roc(np.array([0, 1, 0, 1]), np.zeros(4), 1, "QBoost margin", "test", tmp_path / "roc.png")
    assert_png(tmp_path / "roc.png", (450, 400))
    assert said == []


def test_confusion_matrix_of_one_class_and_of_an_empty_split(tmp_path, said):
    _plots.plot_confusion(np.array([1, 1, 1]), np.array([1, 1, 0]), np.array([0, 1]), "test", tmp_path / "c.png")
    assert_png(tmp_path / "c.png", (450, 400))
    assert said == []
    _plots.plot_confusion(np.array([]), np.array([]), np.array([0, 1]), "test", tmp_path / "c.png")
    assert said == ["the test split is empty"]


def test_weights_of_an_empty_model_and_of_no_candidates(tmp_path, said):
    _plots.plot_weights(np.zeros(60), "Learner weights: 0 of 60 selected", tmp_path / "w.png")
    assert_png(tmp_path / "w.png", (900, 350))
    _plots.plot_weights(np.array([np.nan, 0.25]), "NaN weight", tmp_path / "w.png")
    assert said == []
    _plots.plot_weights(np.zeros(0), "Learner weights: 0 of 0 selected", tmp_path / "w.png")
    assert said == ["no candidate learners: nothing to weigh"]


def test_every_figure_of_a_fitted_empty_model_renders(tmp_path):
    """A real QBoost fit with λ so large nothing is selected: the run's four figures, no warning."""
    from types import SimpleNamespace

    from sklearn.datasets import load_breast_cancer

    from qboost_exp import QBoostClassifier
    from qboost_exp.tracking._log import render_figures

    X, y = load_breast_cancer(return_X_y=True)
    model = QBoostClassifier(lam=100.0, max_weight=0.125, sampler="neal", random_state=0).fit(X[:200], y[:200])
    assert len(model.selected_indices_) == 0
    names = [f"f{i}" for i in range(X.shape[1])]
    data = SimpleNamespace(
        X_train=X[:200], y_train=y[:200], X_val=X[:0], y_val=y[:0], X_test=X[200:260], y_test=y[200:260], feature_names=names
    )
    result = SimpleNamespace(model=model, dataset=data, model_name="qboost", frame=lambda split: pd.DataFrame(getattr(data, f"X_{split}"), columns=names))
    assert render_figures(result, tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["confusion_matrix.png", "energy_histogram.png", "roc_curve.png", "weights.png"]


# ------------------------------------------------------------------ the sweep's and compare's λ figure


def test_identical_runs_draw_error_bars_of_zero_not_a_crash(tmp_path):
    """Regression: three runs at 0.7 average 1.1e-16 below their minimum, and matplotlib refused the negative error bar."""
    from qboost_exp.compare import metric_by_lambda, plot_metric_vs_lambda

    runs = pd.DataFrame(
        {
            "run_id": [f"{i:032x}" for i in range(3)],
            "status": "FINISHED",
            "sampler": "neal",
            "weak_learners": "adaboost",
            "weight_bits": "1",
            "lambda": 0.05,
            "metrics.validation_accuracy": 0.7,
            "metrics.selected": 12.0,
            "experiment": "e",
        }
    )
    summary = metric_by_lambda(runs, "validation_accuracy")
    assert (summary["mean"] - summary["min"]).iloc[0] < 0  # the case that crashed
    plot_metric_vs_lambda(runs, "validation_accuracy", tmp_path / "lam.png")
    assert_png(tmp_path / "lam.png", (800, 500))
    from qboost_exp.compare._figures import _spread

    below, above = _spread(summary)
    assert below.tolist() == [0.0] and 0.0 <= above[0] < 1e-15
