"""The PNG figures logged with every run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and in CI
    import matplotlib.pyplot as plt

    return plt


def plot_weights(model: Any, path: Path) -> Path:
    """Bar chart of every candidate's weight; selected learners stand out."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, min(20.0, 0.15 * model.n_candidates_)), 3.5))
    colors = np.where(model.weights_ > 0, "tab:blue", "lightgray")
    ax.bar(np.arange(model.n_candidates_), model.weights_, color=colors, width=0.9)
    ax.set_xlabel("candidate learner")
    ax.set_ylabel("weight")
    ax.set_title(f"Learner weights: {len(model.selected_indices_)} of {model.n_candidates_} selected (λ={model.lam_:g})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _save_display(draw: Any, title: str, path: Path) -> Path:
    """A small square figure drawn by one of scikit-learn's ``*Display.from_predictions``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    draw(ax)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_confusion(model: Any, X: Any, y: Any, split: str, path: Path) -> Path:
    from sklearn.metrics import ConfusionMatrixDisplay

    def draw(ax: Any) -> None:
        ConfusionMatrixDisplay.from_predictions(y, model.predict(X), labels=model.classes_, ax=ax, colorbar=False)

    return _save_display(draw, f"Confusion matrix ({split})", path)


def plot_roc(model: Any, X: Any, y: Any, split: str, path: Path) -> Path:
    from sklearn.metrics import RocCurveDisplay

    def draw(ax: Any) -> None:
        RocCurveDisplay.from_predictions(y, model.decision_function(X), pos_label=model.classes_[1], ax=ax, name="QBoost margin")

    return _save_display(draw, f"ROC curve ({split})", path)


def plot_energies(model: Any, path: Path) -> Path:
    """Histogram of the energies of every read the sampler returned."""
    plt = _pyplot()
    summary = getattr(model, "sampleset_summary_", None)
    if summary is not None:
        energies, occurrences = summary["energies"], summary["num_occurrences"]
    else:  # models fitted before the summary existed keep the whole sampleset
        energies, occurrences = model.sampleset_.record.energy, model.sampleset_.record.num_occurrences
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.hist(energies, weights=occurrences, bins=min(50, max(5, len(energies))), color="tab:purple")
    ax.axvline(model.best_energy_, color="black", linestyle="--", label=f"best {model.best_energy_:.4g}")
    ax.set_xlabel("energy (objective value)")
    ax.set_ylabel("reads")
    ax.set_title(f"Sampleset energies ({int(np.sum(occurrences))} reads)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
