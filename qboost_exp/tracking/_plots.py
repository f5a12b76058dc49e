"""The PNG figures logged with every run.

Drawn with matplotlib's object API (``matplotlib.figure.Figure`` on an Agg
canvas), never through ``pyplot``: pyplot's import and its figure manager
cost more than drawing the four figures, and a file needs neither. For the
same reason the confusion matrix and the ROC curve are drawn here rather
than by scikit-learn's ``*Display`` classes, which import pyplot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)  # files only: no display on servers and in CI
    return fig


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def plot_weights(weights: np.ndarray, title: str, path: Path) -> Path:
    """Bar chart of every candidate's weight; selected learners (non-zero weight) stand out."""
    weights = np.asarray(weights, dtype=np.float64)
    fig = _figure(max(6.0, min(20.0, 0.15 * len(weights))), 3.5)
    ax = fig.subplots()
    colors = np.where(weights != 0, "tab:blue", "lightgray")
    ax.bar(np.arange(len(weights)), weights, color=colors, width=0.9)
    ax.set_xlabel("candidate learner")
    ax.set_ylabel("weight")
    ax.set_title(title)
    return _save(fig, path)


def plot_confusion(y: Any, predicted: Any, labels: Any, split: str, path: Path) -> Path:
    """The confusion matrix of ``split`` (rows: true label, columns: predicted), counts in the cells."""
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y, predicted, labels=labels)
    fig = _figure(4.5, 4)
    ax = fig.subplots()
    ax.imshow(matrix, interpolation="nearest", cmap="viridis")
    threshold = (matrix.max() + matrix.min()) / 2.0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count}", ha="center", va="center", color="black" if count > threshold else "white")
    ticks = np.arange(len(labels))
    names = [str(label) for label in labels]
    ax.set(xticks=ticks, yticks=ticks, xticklabels=names, yticklabels=names, xlabel="Predicted label", ylabel="True label")
    ax.set_title(f"Confusion matrix ({split})")
    return _save(fig, path)


def plot_roc(y: Any, scores: np.ndarray, positive: Any, name: str, split: str, path: Path) -> Path:
    """The ROC curve of ``scores`` for the class ``positive`` on ``split``, its AUC in the legend."""
    from sklearn.metrics import auc, roc_curve

    fpr, tpr, _ = roc_curve(y, scores, pos_label=positive)
    fig = _figure(4.5, 4)
    ax = fig.subplots()
    ax.plot(fpr, tpr, label=f"{name} (AUC = {auc(fpr, tpr):.2f})")
    ax.set(xlabel=f"False Positive Rate (Positive label: {positive})", ylabel=f"True Positive Rate (Positive label: {positive})",
           xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal")
    ax.legend(loc="lower right")
    ax.set_title(f"ROC curve ({split})")
    return _save(fig, path)


def plot_energies(energies: np.ndarray, occurrences: np.ndarray, best_energy: float, path: Path) -> Path:
    """Histogram of the energies of every read the sampler returned."""
    fig = _figure(5.5, 3.5)
    ax = fig.subplots()
    ax.hist(energies, weights=occurrences, bins=min(50, max(5, len(energies))), color="tab:purple")
    ax.axvline(best_energy, color="black", linestyle="--", label=f"best {best_energy:.4g}")
    ax.set_xlabel("energy (objective value)")
    ax.set_ylabel("reads")
    ax.set_title(f"Sampleset energies ({int(np.sum(occurrences))} reads)")
    ax.legend()
    return _save(fig, path)
