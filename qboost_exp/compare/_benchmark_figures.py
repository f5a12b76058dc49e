"""The benchmark's figures: the critical-difference diagram, and accuracy against learners per dataset."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..tracking import QBOOST_MODEL, higher_is_better
from ._figures import _MARKERS, _label_where_it_fits, _new_figure, _save
from ._stats import RankResult

#: File names: the CD diagram, and one accuracy-vs-learners figure per dataset.
CD_PLOT = "cd_diagram_{metric}.png"
LEARNERS_PLOT = "{metric}_vs_learners_{dataset}.png"


def learners_plot_name(metric: str, dataset: str) -> str:
    """``test_accuracy_vs_learners_wisc-1a2b3c4d.png``."""
    return LEARNERS_PLOT.format(metric=metric, dataset=re.sub(r"[^A-Za-z0-9._-]", "_", dataset.replace("@", "-")))


def plot_cd_diagram(result: RankResult, metric: str, path: str | os.PathLike[str]) -> Path:
    """Demšar's critical-difference diagram (scikit-posthocs): average ranks on an axis, methods Nemenyi does not tell apart joined.

    Requires a testable ``result`` (2 datasets and 2 methods or more).
    """
    import scikit_posthocs

    fig = _new_figure()
    fig.set_size_inches(8, max(3.2, 1.6 + 0.4 * result.methods))
    ax = fig.add_subplot()
    scikit_posthocs.critical_difference_diagram(
        result.average, result.nemenyi_p, ax=ax, alpha=result.alpha, cd=result.cd,
        label_fmt_left="{label} ({rank:.2f})", label_fmt_right="({rank:.2f}) {label}", label_props={"fontsize": 9},
    )
    better = "higher" if higher_is_better(metric) else "lower"
    ax.set_title(
        f"average rank of {metric} (mean over seeds; {better} is better) on {result.datasets} datasets, rank 1 = best\n"
        f"bars join methods the Nemenyi test does not tell apart (α={result.alpha:g}); CD = {result.cd:.3f}",
        fontsize=9, pad=22,  # room for scikit-posthocs' "CD = ..." above the axis
    )
    return _save(fig, path)


def _ci(rows: pd.DataFrame, name: str) -> list[np.ndarray]:
    """Error bars from the t-interval, never negative; none (0) where the interval is unknown (one seed)."""
    mean = rows[f"{name}_mean"].to_numpy(dtype=float)
    low, high = rows[f"{name}_ci_low"].to_numpy(dtype=float), rows[f"{name}_ci_high"].to_numpy(dtype=float)
    return [np.nan_to_num(np.clip(mean - low, 0, None)), np.nan_to_num(np.clip(high - mean, 0, None))]


def _lambda_path(ax: Any, rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Join the λ-refined variants of QBoost (``qboost[lambda=...]``) by λ, as a line; returns the rows drawn."""
    base = rows["method"].str.split("[", n=1).str[0]
    path = rows[(base == QBOOST_MODEL) & rows["lambda_mean"].notna() & rows["selected_mean"].notna()].sort_values("lambda_mean")
    if len(path) < 2:
        return path.iloc[0:0]
    ax.plot(path["selected_mean"], path[f"{metric}_mean"], color="crimson", linewidth=1.5, zorder=1, label="QBoost λ path (λ increasing: fewer learners)")
    return path


def _draw_methods(ax: Any, rows: pd.DataFrame, metric: str, in_path: set[str]) -> list[tuple[float, float, str]]:
    """One error-bar point per method (x: mean learners ± std, y: mean ± 95 % CI); a line for a method without learners."""
    labels = []
    for i, (_, row) in enumerate(rows.iterrows()):
        one = rows.loc[[row.name]]
        text = f"{row['method']} (n={row['n']})"
        if math.isnan(row["selected_mean"]):
            ax.axhline(row[f"{metric}_mean"], color="dimgray", linestyle=(0, (6, 2)), linewidth=1.2, label=f"{text}: logs no learners")
            continue
        color = "crimson" if row["method"] in in_path else None
        ax.errorbar(one["selected_mean"], one[f"{metric}_mean"], yerr=_ci(one, metric), xerr=np.nan_to_num(one["selected_std"].to_numpy(dtype=float)),
                    marker=_MARKERS[i % len(_MARKERS)], markersize=7, linestyle="none", capsize=3, color=color, label=text)
        labels.append((float(row["selected_mean"]), float(row[f"{metric}_mean"]), str(row["method"])))
    return labels


def plot_accuracy_vs_learners(aggregate: pd.DataFrame, dataset: str, metric: str, path: str | os.PathLike[str]) -> Path:
    """One dataset: each method's mean ``metric`` with its 95 % CI (y) at its mean number of learners ± std (x).

    QBoost's λ-refined variants (a λ sweep: ``qboost[lambda=...]``) are joined
    into a line, by λ. A method that logs no ``selected`` is a horizontal line.
    """
    from matplotlib.ticker import MaxNLocator

    rows = aggregate[aggregate["dataset"] == dataset]
    fig = _new_figure()
    ax = fig.add_subplot()
    path_rows = _lambda_path(ax, rows, metric)
    labels = _draw_methods(ax, rows, metric, set(path_rows["method"]))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    better = "higher" if higher_is_better(metric) else "lower"
    ax.set_xlabel("selected weak learners (mean over seeds; bars: ± std)")
    ax.set_ylabel(f"{metric} (mean over seeds; bars: 95 % CI; {better} is better)")
    ax.set_title(f"dataset {dataset}: {metric} against model size, per method", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    _label_where_it_fits(fig, ax, labels, spread=1.3)
    return _save(fig, path)
