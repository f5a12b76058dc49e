"""The PNG figures logged with every run.

Drawn with matplotlib's object API (``matplotlib.figure.Figure`` on an Agg
canvas), never through ``pyplot``: pyplot's import and its figure manager
cost more than drawing the four figures, and a file needs neither. For the
same reason the confusion matrix and the ROC curve are drawn here rather
than by scikit-learn's ``*Display`` classes, which import pyplot.

Every figure draws on any data a run can legally produce: one class in a
split, a single read, energies equal to the last bits, no selected learner,
NaN values. Where there is nothing to draw, the figure says why.
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


def _say(ax: Any, text: str) -> None:
    """Write ``text`` in the middle of an empty axes: why the figure shows nothing."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes, fontsize=11)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def plot_weights(weights: np.ndarray, title: str, path: Path) -> Path:
    """Bar chart of every candidate's weight; selected learners (non-zero weight) stand out."""
    weights = np.nan_to_num(np.asarray(weights, dtype=np.float64).ravel(), nan=0.0, posinf=0.0, neginf=0.0)
    fig = _figure(max(6.0, min(20.0, 0.15 * len(weights))), 3.5)
    ax = fig.subplots()
    ax.set_title(title)
    if len(weights) == 0:
        _say(ax, "no candidate learners: nothing to weigh")
        return _save(fig, path)
    colors = np.where(weights != 0, "tab:blue", "lightgray")
    ax.bar(np.arange(len(weights)), weights, color=colors, width=0.9)
    if not np.any(weights):
        ax.text(0.5, 0.5, "no learner selected: an empty model", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("candidate learner")
    ax.set_ylabel("weight")
    return _save(fig, path)


def plot_confusion(y: Any, predicted: Any, labels: Any, split: str, path: Path) -> Path:
    """The confusion matrix of ``split`` (rows: true label, columns: predicted), counts in the cells."""
    from sklearn.metrics import confusion_matrix

    fig = _figure(4.5, 4)
    ax = fig.subplots()
    ax.set_title(f"Confusion matrix ({split})")
    if len(y) == 0:
        _say(ax, f"the {split} split is empty")
        return _save(fig, path)
    matrix = confusion_matrix(y, predicted, labels=labels)
    ax.imshow(matrix, interpolation="nearest", cmap="viridis")
    threshold = (matrix.max() + matrix.min()) / 2.0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count}", ha="center", va="center", color="black" if count > threshold else "white")
    ticks = np.arange(len(labels))
    names = [str(label) for label in labels]
    ax.set(xticks=ticks, yticks=ticks, xticklabels=names, yticklabels=names, xlabel="Predicted label", ylabel="True label")
    return _save(fig, path)


def plot_roc(y: Any, scores: np.ndarray, positive: Any, name: str, split: str, path: Path) -> Path:
    """The ROC curve of ``scores`` for the class ``positive`` on ``split``, its AUC in the legend.

    A split with one class has no ROC curve; the figure says so.
    """
    from sklearn.metrics import auc, roc_curve

    y, scores = np.asarray(y), np.asarray(scores, dtype=np.float64).ravel()
    finite = np.isfinite(scores)
    fig = _figure(4.5, 4)
    ax = fig.subplots()
    ax.set_title(f"ROC curve ({split})")
    present = np.unique(y[finite])
    if len(present) < 2:
        held = f"only class {present[0]}" if len(present) else "no row with a finite score"
        _say(ax, f"no ROC curve: the {split} split has {held}\n(a ROC curve needs both classes)")
        return _save(fig, path)
    fpr, tpr, _ = roc_curve(y[finite], scores[finite], pos_label=positive)
    ax.plot(fpr, tpr, label=f"{name} (AUC = {auc(fpr, tpr):.2f})")
    ax.set(xlabel=f"False Positive Rate (Positive label: {positive})", ylabel=f"True Positive Rate (Positive label: {positive})",
           xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal")
    ax.legend(loc="lower right")
    return _save(fig, path)


#: Energies closer than this (relative to their size, at least 1) are one value: numpy cannot
#: cut a range of a few ulps into bins ("Too many bins for data range").
_SAME_ENERGY = 1e-9


def energy_bins(energies: np.ndarray) -> tuple[int, tuple[float, float]]:
    """``(bins, range)`` for a histogram of finite ``energies`` that numpy can always cut.

    Energies equal to the last bits (a sampler that found one state, read
    after read) get one bin around their value instead of bins a few ulps wide.
    """
    lo, hi = float(np.min(energies)), float(np.max(energies))
    scale = max(abs(lo), abs(hi), 1.0)
    if hi - lo <= _SAME_ENERGY * scale:
        middle, half = (lo + hi) / 2.0, 1e-6 * scale
        return 1, (middle - half, middle + half)
    return min(50, max(5, len(np.unique(energies)))), (lo, hi)


def plot_energies(energies: np.ndarray, occurrences: np.ndarray, best_energy: float, path: Path) -> Path:
    """Histogram of the energies of every read the sampler returned."""
    energies = np.asarray(energies, dtype=np.float64).ravel()
    occurrences = np.asarray(occurrences, dtype=np.float64).ravel()
    finite = np.isfinite(energies) & np.isfinite(occurrences)
    reads = int(np.sum(occurrences[finite]))
    fig = _figure(5.5, 3.5)
    ax = fig.subplots()
    ax.set_title(f"Sampleset energies ({reads} reads)")
    if not finite.any():
        _say(ax, "no read with a finite energy: nothing to draw")
        return _save(fig, path)
    from matplotlib.ticker import MaxNLocator

    bins, span = energy_bins(energies[finite])
    ax.hist(energies[finite], weights=occurrences[finite], bins=bins, range=span, color="tab:purple")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))  # energies print long: fewer ticks stay apart
    if bins == 1:
        value = float(np.median(energies[finite]))
        ax.set_title(f"Sampleset energies: all {reads} reads at {value:.6g}")
        ax.set_xticks([value], [f"{value:.6g}"])  # one bar: ticks a few ulps apart would be unreadable
    if np.isfinite(best_energy):
        ax.axvline(best_energy, color="black", linestyle="--", label=f"best {best_energy:.4g}")
        ax.legend()
    ax.set_xlabel("energy (objective value)")
    ax.set_ylabel("reads")
    return _save(fig, path)
