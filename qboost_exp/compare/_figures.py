"""Figures: the metric against λ per series, and the accuracy / model-size Pareto front."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..tracking import higher_is_better
from ._load import CompareError, _column, _metric_column, _with_derived_columns
from ._rank import _plottable, pareto_front

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LAMBDA_PLOT = "accuracy_vs_lambda.png"
PARETO_PLOT = "pareto_accuracy_vs_selected.png"


SERIES_KEYS = ("sampler", "weak_learners", "weight_bits")
# Distinct in shape, fill and dash, so a series drawn exactly over another still shows.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
_LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))


def _series_columns(data: pd.DataFrame) -> pd.DataFrame:
    """``sampler``, ``weak_learners`` and ``weight_bits`` as text, "?" where a run did not log it."""
    return pd.DataFrame({key: data[key].astype(object).where(data[key].notna(), "?").astype(str) for key in SERIES_KEYS}, index=data.index)


def series_label(sampler: str, weak_learners: str, weight_bits: str) -> str:
    """How a (sampler, learner set, weight bits) series is named in legends."""
    return f"{sampler} / {weak_learners} / {weight_bits} bit"


def metric_by_lambda(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``metric`` per series (sampler, learner set, weight bits) and λ: mean, min, max and number of runs, as plotted.

    Runs without the metric or without a numeric λ, and failed/killed runs,
    are left out. Runs of different learner sets or weight bits are never
    averaged together.

    Returns
    -------
    pandas.DataFrame
        Columns ``sampler``, ``weak_learners``, ``weight_bits``, ``lambda``,
        ``mean``, ``min``, ``max``, ``runs``; sorted by series, then λ.
    """
    col = _metric_column(metric)
    data = _with_derived_columns(_plottable(runs))
    data = data[_column(data, col).notna() & data["lambda"].notna()]
    columns = [*SERIES_KEYS, "lambda", "mean", "min", "max", "runs"]
    if data.empty:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("lambda", "mean", "min", "max") else object) for c in columns})
    keys = _series_columns(data)
    grouped = data.assign(**keys).groupby([*SERIES_KEYS, "lambda"], sort=True)[col]
    summary = grouped.agg(["mean", "min", "max", "count"]).reset_index()
    return summary.rename(columns={"count": "runs"})[columns]


def _experiment_name(runs: pd.DataFrame) -> str:
    names = _column(runs, "experiment").dropna().unique()
    if len(names) == 0:
        return "MLflow runs"
    return ("experiment " if len(names) == 1 else "experiments ") + ", ".join(repr(str(n)) for n in names)


def _new_figure() -> Figure:
    # A bare Figure (no pyplot) draws with Agg and leaves the process's backend
    # and figure registry alone: safe to call from a sweep or a notebook.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(fig)  # a renderer to measure text with (label placement)
    return fig


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, format="png")
    return path


def _figure_metric_vs_lambda(runs: pd.DataFrame, metric: str, title: str | None = None) -> Figure:
    summary = metric_by_lambda(runs, metric)
    if summary.empty:
        raise CompareError(f"no finished run has both {metric!r} and a numeric λ to plot")
    fig = _new_figure()
    ax = fig.add_subplot()
    groups = list(summary.groupby(list(SERIES_KEYS), sort=True))
    for i, (key, rows) in enumerate(groups):
        # Hollow markers shrinking with the series index: one drawn over another stays visible.
        ax.errorbar(
            rows["lambda"],
            rows["mean"],
            yerr=[rows["mean"] - rows["min"], rows["max"] - rows["mean"]],
            marker=_MARKERS[i % len(_MARKERS)],
            markersize=max(4.0, 10.0 - 1.5 * (i % 5)),
            markerfacecolor="none",
            markeredgewidth=1.5,
            linestyle=_LINESTYLES[i % len(_LINESTYLES)],
            capsize=3,
            label=f"{series_label(*key)} ({int(rows['runs'].sum())} runs)",
        )
    lambdas = summary["lambda"]
    positive = lambdas[lambdas > 0]
    if positive.empty:
        xlabel = "λ (lambda_value)"
    elif (lambdas <= 0).any():
        # A log axis cannot show λ=0; symlog is linear below the smallest
        # positive λ, which puts 0 at the left edge with its own tick.
        threshold = float(positive.min())
        ax.set_xscale("symlog", linthresh=threshold)
        xlabel = f"λ (lambda_value; symlog axis, linear below {threshold:g} so λ=0 sits at the left)"
    else:
        ax.set_xscale("log")
        xlabel = "λ (lambda_value; log axis)"
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{metric} (mean over runs; bars: min to max)")
    ax.set_title(title or f"{_experiment_name(runs)}: {metric} vs λ")
    ax.grid(True, alpha=0.3)
    ax.legend(title="sampler / learners / weight bits", fontsize=8, title_fontsize=8)
    return fig


def plot_metric_vs_lambda(runs: pd.DataFrame, metric: str, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Plot ``metric`` against λ, one line per sampler, and save it as a PNG.

    Several runs at the same λ are averaged, with error bars from their
    minimum to their maximum (see :func:`metric_by_lambda`). The x axis is
    logarithmic; when λ=0 occurs it is symlog, linear below the smallest
    positive λ, so 0 sits at the left edge.

    Parameters
    ----------
    runs : pandas.DataFrame
        As returned by :func:`load_runs` (failed/killed runs are skipped).
    metric : str
        Metric name, e.g. ``"test_accuracy"``.
    path : path-like
        PNG file to write; its directory is created if needed.
    title : str or None
        Default: ``"experiment '<name>': <metric> vs λ"``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    CompareError
        No finished run has both the metric and a numeric λ.
    """
    return _save(_figure_metric_vs_lambda(runs, metric, title), path)


def _overlaps(box: Any, placed: list[Any], inside: Any) -> bool:
    return any(box.overlaps(other) for other in placed) or not (
        inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1
    )


def _label_where_it_fits(fig: Figure, ax: Any, points: list[tuple[float, float, str]]) -> None:
    """Annotate each point with its text at the first nearby offset where it overlaps no label
    already placed nor the legend, and stays inside the axes; a label that fits nowhere is left out."""
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()  # final layout (constrained), so the boxes measured are the saved ones
    inside = ax.get_window_extent(renderer)
    from matplotlib.transforms import Bbox

    legend = ax.get_legend()
    placed: list[Any] = [legend.get_window_extent(renderer)] if legend is not None else []
    # Every plotted point is an obstacle too: a label must not cover a mark.
    xy = [tuple(o) for coll in ax.collections for o in coll.get_offsets()]
    xy += [(x, y) for line in ax.get_lines() for x, y in zip(line.get_xdata(), line.get_ydata())]
    radius = 7.0  # pixels: the front's rings have markersize 10 (points) at 100 dpi
    for px, py in ax.transData.transform(xy) if xy else []:
        placed.append(Bbox([[px - radius, py - radius], [px + radius, py + radius]]))
    offsets = ((7, 7), (7, -7), (-7, 7), (-7, -7), (10, 18), (10, -18), (-10, 18), (-10, -18), (0, 26), (0, -26))
    for x, y, text in points:
        for dx, dy in offsets:
            label = ax.annotate(
                text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=7,
                ha="left" if dx > 0 else "right" if dx < 0 else "center", va="bottom" if dy > 0 else "top",
            )
            box = label.get_window_extent(renderer)
            if _overlaps(box, placed, inside):
                label.remove()
                continue
            placed.append(box)
            break


def _figure_pareto(runs: pd.DataFrame, metric: str, title: str | None = None) -> Figure:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    col = _metric_column(metric)
    data = _with_derived_columns(_plottable(runs))
    data = data[_column(data, col).notna() & _column(data, "metrics.selected").notna()]
    # A model that selected no learner predicts one class for everything: it is
    # flagged and kept out (it would sit on the front and stretch the axis).
    if data.empty:
        raise CompareError(f"no finished run has both {metric!r} and 'selected' to plot")
    empty = data[data["metrics.selected"] == 0]
    data = data[data["metrics.selected"] > 0]
    if data.empty:
        raise CompareError(f"no finished run with at least one selected learner has {metric!r} to plot")
    front = pareto_front(data, metric)
    fig = _new_figure()
    ax = fig.add_subplot()
    keys = _series_columns(data)
    for i, (key, rows) in enumerate(data.groupby([keys[k] for k in SERIES_KEYS], sort=True)):
        ax.scatter(rows["metrics.selected"], rows[col], alpha=0.7, marker=_MARKERS[i % len(_MARKERS)], label=series_label(*key))
    ax.plot(
        front["metrics.selected"],
        front[col],
        color="crimson",
        marker="o",
        markersize=10,
        markerfacecolor="none",
        markeredgewidth=2,
        linewidth=1.5,
        label=f"Pareto front ({len(front)} runs)",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    better = "higher" if higher_is_better(metric) else "lower"
    ax.set_xlabel("selected weak learners (metric 'selected'; fewer is better)")
    ax.set_ylabel(f"{metric} ({better} is better)")
    ax.set_title(title or f"{_experiment_name(runs)}: {metric} vs selected learners, Pareto front")
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if len(empty):
        handles.append(Line2D([], [], linestyle="none"))
        labels.append(f"{len(empty)} empty model{'s' if len(empty) > 1 else ''} (0 learners) not shown")
    ax.legend(handles, labels, fontsize=8)
    _label_where_it_fits(fig, ax, [(row["metrics.selected"], row[col], str(row["run_id"])[:8]) for _, row in front.iterrows()])
    return fig


def plot_pareto(runs: pd.DataFrame, metric: str, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Scatter ``metric`` against the number of selected learners, Pareto front highlighted.

    Every finished run is a point coloured by sampler; the front
    (:func:`pareto_front`) is circled, connected and labelled with short run ids.

    Parameters
    ----------
    runs : pandas.DataFrame
        As returned by :func:`load_runs` (failed/killed runs are skipped).
    metric : str
        Metric name, e.g. ``"test_accuracy"``.
    path : path-like
        PNG file to write; its directory is created if needed.
    title : str or None
        Default names the experiment and the metric.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    CompareError
        No finished run has both the metric and ``selected``.
    """
    return _save(_figure_pareto(runs, metric, title), path)
