"""Figures of one dataset: the objective against λ, and the objective / model-size Pareto front.

Both plot the objective (a validation metric; a test metric is refused), one
dataset per figure (runs of several datasets are refused, not pooled), and
draw the baselines (``qboost.baseline=true`` runs: lasso, AdaBoost, ...) as
labelled reference marks: horizontal lines on the λ plot, stars beside the
QBoost front on the Pareto plot. Both ring the run the one "best" rule
chooses (:func:`qboost_exp.compare.chosen_run`: best objective, then fewer
learners, larger λ, earlier start) and write "chosen" beside it.

On the λ plot a line joins only runs that differ in λ alone (every logged
config param equal except ``lambda``; a ``lambda=auto`` run sits at the λ it
chose). Runs that differ in more than λ -- Optuna trials vary depth,
estimators and weight bits at once -- are points, never joined into a
zig-zag.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..tracking import higher_is_better
from ._load import _column, _metric_column, _with_derived_columns
from ._rank import _plottable, _split_baselines, chosen_run, pareto_front
from ._select import CompareError, check_objective

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: File names of the two figures; ``suffix`` is empty for a report of one dataset (see :func:`figure_names`).
LAMBDA_PLOT = "{metric}_vs_lambda{suffix}.png"
PARETO_PLOT = "pareto_{metric}_vs_selected{suffix}.png"


SERIES_KEYS = ("sampler", "weak_learners", "weight_bits")
# Distinct in shape, fill and dash, so a series drawn exactly over another still shows.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
_LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))
# Baselines: dark colours and their own dashes, apart from the QBoost series' colour cycle.
_BASELINE_COLORS = ("black", "dimgray", "saddlebrown", "darkslateblue", "darkgreen", "darkred")
_BASELINE_DASHES = ((0, (6, 2)), (0, (2, 2)), (0, (6, 2, 1, 2)), (0, (10, 3)), (0, (1, 1)), (0, (4, 1, 1, 1, 1, 1)))
# Config params that say where a run is tracked or how it talks, not what it trains:
# they never make two runs "differ in more than λ".
_NOT_CONFIG = ("params.mlflow.", "params.verbose", "params.register", "params.promote", "params.objective")
_LAMBDA_PARAM = "params.lambda"


def figure_names(metric: str, dataset: str | None = None) -> tuple[str, str]:
    """The λ plot's and the Pareto plot's file names for ``metric``; ``dataset`` (a label) adds a suffix.

    >>> figure_names("validation_accuracy")
    ('validation_accuracy_vs_lambda.png', 'pareto_validation_accuracy_vs_selected.png')
    >>> figure_names("validation_accuracy", "wisc@1a2b3c4d")[0]
    'validation_accuracy_vs_lambda_wisc-1a2b3c4d.png'
    """
    suffix = "" if dataset is None else "_" + re.sub(r"[^A-Za-z0-9._-]", "_", dataset.replace("@", "-"))
    name = metric.removeprefix("metrics.")
    return LAMBDA_PLOT.format(metric=name, suffix=suffix), PARETO_PLOT.format(metric=name, suffix=suffix)


def _series_columns(data: pd.DataFrame) -> pd.DataFrame:
    """``sampler``, ``weak_learners`` and ``weight_bits`` as text, "?" where a run did not log it."""
    return pd.DataFrame({key: data[key].astype(object).where(data[key].notna(), "?").astype(str) for key in SERIES_KEYS}, index=data.index)


def series_label(sampler: str, weak_learners: str, weight_bits: str) -> str:
    """How a (sampler, learner set, weight bits) series is named in legends."""
    return f"{sampler} / {weak_learners} / {weight_bits} bit"


def _one_dataset(data: pd.DataFrame) -> str | None:
    """The dataset label of every row of ``data`` (None if no row names one); several raise CompareError."""
    labels = sorted(set(_with_derived_columns(data)["dataset"].dropna().astype(str)))
    if len(labels) > 1:
        raise CompareError(
            f"the runs to plot come from {len(labels)} datasets ({', '.join(labels)}): one figure shows one dataset; "
            "plot each on its own (python -m qboost_exp.compare draws one pair per dataset; --dataset NAME[@DIGEST] picks one)"
        )
    return labels[0] if labels and labels[0] != "?" else None


def _config_keys(data: pd.DataFrame) -> list[str]:
    return sorted(c for c in data.columns if c.startswith("params.") and c != _LAMBDA_PARAM and not c.startswith(_NOT_CONFIG))


def _config_signatures(data: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Each run's config without λ, as sortable text: equal text = the runs differ in λ alone."""
    values = data[keys].astype(object).where(data[keys].notna(), None) if keys else pd.DataFrame(index=data.index)
    return pd.Series([json.dumps(list(row)) for row in values.itertuples(index=False, name=None)], index=data.index, dtype=object)


def _group_labels(data: pd.DataFrame, keys: list[str], signatures: list[str]) -> dict[str, str]:
    """For the lines of one series: ``key=value`` of the params that tell them apart ("" for a series of one line)."""
    if len(signatures) < 2:
        return dict.fromkeys(signatures, "")
    configs = {sig: dict(zip(keys, json.loads(sig))) for sig in signatures}
    varying = [k for k in keys if len({json.dumps(c[k]) for c in configs.values()}) > 1]
    labels = {}
    for sig, config in configs.items():
        parts = [f"{k.removeprefix('params.')}={config[k]}" for k in varying[:3]]
        labels[sig] = ", ".join(parts) + (", ..." if len(varying) > 3 else "")
    return labels


_SUMMARY_COLUMNS = [*SERIES_KEYS, "group", "joined", "lambda", "mean", "min", "max", "runs"]


def metric_by_lambda(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``metric`` per line and λ: mean, min, max and number of runs, as plotted.

    A line is a series (sampler, learner set, weight bits) and one config: runs
    whose logged params are all equal except ``lambda`` (``mlflow.*``,
    ``verbose``, ``register``, ``promote`` and ``objective`` do not count). A
    config seen at two λ or more is a line (``joined``); a config seen at one
    λ only -- e.g. an Optuna trial, which differs from the others in more than
    λ -- is a point (``joined`` False). Runs with the same config and λ
    (repeats) are averaged. Baselines, runs without the metric or a numeric
    λ, and failed/killed runs are left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``sampler``, ``weak_learners``, ``weight_bits``, ``group`` (the
        params that tell a line from the series' other lines, "" if it is the
        only one; "" for points), ``joined``, ``lambda``, ``mean``, ``min``,
        ``max``, ``runs``; sorted by series, lines before points, then λ.

    Raises
    ------
    CompareError
        ``metric`` is a test metric.
    """
    col = _metric_column(check_objective(metric))
    data, _ = _split_baselines(_plottable(runs))
    data = data[_column(data, col).notna() & data["lambda"].notna()]
    if data.empty:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("lambda", "mean", "min", "max") else bool if c == "joined" else object) for c in _SUMMARY_COLUMNS})
    keys = _config_keys(data)
    data = data.assign(**_series_columns(data), _config=_config_signatures(data, keys), _value=_column(data, col).astype(float))
    parts = []
    for series, rows in data.groupby(list(SERIES_KEYS), sort=True):
        lambdas = rows.groupby("_config")["lambda"].nunique()
        lines = sorted(lambdas.index[lambdas >= 2])
        labels = _group_labels(rows, keys, lines)
        stats = rows.groupby(["_config", "lambda"], sort=True)["_value"].agg(["mean", "min", "max", "count"]).reset_index()
        stats["joined"] = stats["_config"].isin(lines)
        stats["group"] = stats["_config"].map(labels).fillna("")
        for key, value in zip(SERIES_KEYS, series):
            stats[key] = value
        order = stats["_config"].map({sig: i for i, sig in enumerate(lines)}).fillna(len(lines))
        parts.append(stats.assign(_order=order).sort_values(["_order", "_config", "lambda"], kind="stable"))
    summary = pd.concat(parts, ignore_index=True).rename(columns={"count": "runs"})
    summary["runs"] = summary["runs"].astype(int)
    return summary[_SUMMARY_COLUMNS]


def _experiment_name(runs: pd.DataFrame) -> str:
    names = _column(runs, "experiment").dropna().unique()
    if len(names) == 0:
        return "MLflow runs"
    return ("experiment " if len(names) == 1 else "experiments ") + ", ".join(repr(str(n)) for n in names)


def _where(runs: pd.DataFrame, dataset: str | None) -> str:
    return _experiment_name(runs) + (f", dataset {dataset}" if dataset else "")


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


def _baseline_rows(baselines: pd.DataFrame, col: str) -> pd.DataFrame:
    """The finished baselines that logged ``col``, oldest first, with a ``_name`` (their ``model`` option)."""
    rows = baselines[_column(baselines, col).notna()]
    return rows.assign(_name=rows["model"].astype(str))


def _baseline_styles(names: pd.Series) -> dict[str, tuple[str, Any]]:
    """A colour and a dash per baseline model, by name."""
    return {name: (_BASELINE_COLORS[i % len(_BASELINE_COLORS)], _BASELINE_DASHES[i % len(_BASELINE_DASHES)]) for i, name in enumerate(sorted(set(names)))}


def _reference_lines(ax: Any, rows: pd.DataFrame, col: str, styles: dict[str, tuple[str, Any]]) -> list[tuple[float, str]]:
    """A labelled horizontal line per baseline run; returns (value, text) of each line's label."""
    labels = []
    for _, row in rows.iterrows():
        color, dash = styles[row["_name"]]
        value = float(row[col])
        ax.axhline(value, color=color, linestyle=dash, linewidth=1.3, label=f"baseline {row['_name']}: {value:.4f}")
        labels.append((value, row["_name"]))
    return labels


def _label_reference_lines(fig: Figure, ax: Any, labels: list[tuple[float, str]], styles: dict[str, tuple[str, Any]]) -> list[Any]:
    """Write each reference line's name at the axes' left edge, just above (else below) the line, never over another."""
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    placed: list[Any] = []
    for value, name in sorted(labels):
        for dy, va in ((2, "bottom"), (-2, "top")):
            text = ax.annotate(name, (0.005, value), xycoords=("axes fraction", "data"), textcoords="offset points", xytext=(2, dy),
                               fontsize=7, ha="left", va=va, color=styles[name][0])
            box = text.get_window_extent(renderer)
            if any(box.overlaps(other) for other in placed):
                text.remove()
                continue
            placed.append(box)
            break
    return placed


def _spread(rows: pd.DataFrame) -> list[np.ndarray]:
    """Error bars from each point's minimum to its maximum, never negative.

    The mean of equal values can fall an ulp outside them (three accuracies
    of 0.9647 average 1.1e-16 below their minimum), and matplotlib refuses a
    negative error bar.
    """
    mean = rows["mean"].to_numpy(dtype=float)
    return [np.clip(mean - rows["min"].to_numpy(dtype=float), 0.0, None), np.clip(rows["max"].to_numpy(dtype=float) - mean, 0.0, None)]


#: The ring around the chosen run: large, hollow, dark gold, above everything else.
_CHOSEN_STYLE = {"marker": "o", "markersize": 20, "markerfacecolor": "none", "markeredgecolor": "darkgoldenrod", "markeredgewidth": 2.5,
                 "linestyle": "none", "zorder": 6}


def _chosen_label(row: pd.Series, col: str) -> str:
    selected = row.get("metrics.selected")
    size = "" if selected is None or pd.isna(selected) else f", {selected:g} learners"
    lam = "" if row["baseline"] or pd.isna(row["lambda"]) else f", λ={row['lambda']:g}"
    kind = f"baseline {row['model']}" if row["baseline"] else f"run {str(row['run_id'])[:8]}"
    return f"chosen: {kind} ({row[col]:.4f}{size}{lam})"


def _ring_chosen(ax: Any, chosen: pd.Series | None, x: Any, col: str) -> tuple[float, float] | None:
    """Ring the chosen run at (``x``, its value), or, where it has no ``x``, name it in the legend; returns where it was ringed."""
    from matplotlib.lines import Line2D

    if chosen is None:
        return None
    label = _chosen_label(chosen, col)
    if x is None or pd.isna(x):
        ax.add_line(Line2D([], [], linestyle="none", label=label + ": not on this plot's x axis"))
        return None
    ax.plot([float(x)], [float(chosen[col])], label=label, **_CHOSEN_STYLE)
    return float(x), float(chosen[col])


def _draw_lambda_series(ax: Any, summary: pd.DataFrame) -> None:
    """One error-bar line per series and group of :func:`metric_by_lambda`, and its unjoined points apart."""
    style = 0
    for key, rows in summary.groupby(list(SERIES_KEYS), sort=True):
        for group, line in rows[rows["joined"]].groupby("group", sort=False):
            # Hollow markers shrinking with the line's index: one drawn over another stays visible.
            ax.errorbar(
                line["lambda"],
                line["mean"],
                yerr=_spread(line),
                marker=_MARKERS[style % len(_MARKERS)],
                markersize=max(4.0, 10.0 - 1.5 * (style % 5)),
                markerfacecolor="none",
                markeredgewidth=1.5,
                linestyle=_LINESTYLES[style % len(_LINESTYLES)],
                capsize=3,
                label=f"{series_label(*key)}{', ' + group if group else ''} ({int(line['runs'].sum())} runs)",
            )
            style += 1
        points = rows[~rows["joined"]]
        if len(points):
            ax.errorbar(
                points["lambda"],
                points["mean"],
                yerr=_spread(points),
                marker=_MARKERS[style % len(_MARKERS)],
                markersize=6,
                linestyle="none",
                alpha=0.75,
                capsize=2,
                label=f"{series_label(*key)}: {len(points)} point{'s' if len(points) != 1 else ''} not joined (no other run differs from it in λ alone)",
            )
            style += 1


def _lambda_axis(ax: Any, lambdas: pd.Series) -> str:
    """Set the λ axis's scale (log, symlog with λ=0, or linear) and return its label."""
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
    return xlabel


def _figure_metric_vs_lambda(runs: pd.DataFrame, metric: str, title: str | None = None) -> Figure:
    name = check_objective(metric)
    col = _metric_column(name)
    plottable = _with_derived_columns(_plottable(runs))
    dataset = _one_dataset(plottable)
    summary = metric_by_lambda(plottable, name)
    if summary.empty:
        raise CompareError(f"no finished QBoost run has both {name!r} and a numeric λ to plot")
    _, baselines = _split_baselines(plottable)
    fig = _new_figure()
    ax = fig.add_subplot()
    _draw_lambda_series(ax, summary)
    references = _baseline_rows(baselines, col)
    styles = _baseline_styles(references["_name"])
    labels = _reference_lines(ax, references, col, styles)
    chosen = chosen_run(plottable, name)
    ringed = _ring_chosen(ax, chosen, None if chosen is None or chosen["baseline"] else chosen["lambda"], col)
    ax.set_xlabel(_lambda_axis(ax, summary["lambda"]))
    ax.set_ylabel(f"{name} (mean over runs; bars: min to max)")
    ax.set_title(title or f"{_where(plottable, dataset)}: {name} vs λ", fontsize=10)
    ax.grid(True, alpha=0.3)
    legend_title = "sampler / learners / weight bits" + ("; baselines: dashed" if labels else "")
    handles, texts = ax.get_legend_handles_labels()
    # QBoost first, then the references, then the chosen run
    order = sorted(range(len(texts)), key=lambda i: (texts[i].startswith("chosen: "), texts[i].startswith("baseline ")))
    ax.legend([handles[i] for i in order], [texts[i] for i in order], title=legend_title, fontsize=7, title_fontsize=7)
    if labels:
        _label_reference_lines(fig, ax, labels, styles)
    if ringed is not None:
        _label_where_it_fits(fig, ax, [(*ringed, "chosen")], spread=1.6, color=_CHOSEN_STYLE["markeredgecolor"], fontweight="bold", fontsize=8)
    return fig


def plot_metric_vs_lambda(runs: pd.DataFrame, metric: str, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Plot ``metric`` (the objective) against λ for runs of one dataset, and save it as a PNG.

    One line per series and config: only runs that differ in λ alone are
    joined; runs that differ in more (Optuna trials) are points, one legend
    entry per series (see :func:`metric_by_lambda`). Several runs at the same
    λ and config are averaged, with error bars from their minimum to their
    maximum. Baselines are labelled horizontal reference lines. The x axis is
    logarithmic; when λ=0 occurs it is symlog, linear below the smallest
    positive λ, so 0 sits at the left edge.

    Parameters
    ----------
    runs : pandas.DataFrame
        As returned by :func:`load_runs` (failed/killed runs are skipped), of one dataset.
    metric : str
        The objective, e.g. ``"validation_accuracy"``; never a test metric.
    path : path-like
        PNG file to write; its directory is created if needed.
    title : str or None
        Default: ``"experiment '<name>', dataset <name@digest>: <metric> vs λ"``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    CompareError
        ``metric`` is a test metric, the runs come from several datasets, or
        no finished QBoost run has both the metric and a numeric λ.
    """
    return _save(_figure_metric_vs_lambda(runs, metric, title), path)


def _overlaps(box: Any, placed: list[Any], inside: Any) -> bool:
    return any(box.overlaps(other) for other in placed) or not (
        inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1
    )


def _label_where_it_fits(fig: Figure, ax: Any, points: list[tuple[float, float, str]], spread: float = 1.0, **style: Any) -> list[Any]:
    """Annotate each point with its text at the first nearby offset (times ``spread``) where it overlaps no label
    already placed nor the legend, and stays inside the axes; a label that fits nowhere is left out."""
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()  # final layout (constrained), so the boxes measured are the saved ones
    inside = ax.get_window_extent(renderer)
    from matplotlib.transforms import Bbox

    legend = ax.get_legend()
    placed: list[Any] = [legend.get_window_extent(renderer)] if legend is not None else []
    placed += [t.get_window_extent(renderer) for t in ax.texts]  # labels written before these
    # Every plotted point is an obstacle too: a label must not cover a mark.
    xy = [tuple(o) for coll in ax.collections for o in coll.get_offsets()]
    # (Reference lines span the axes: they are not points, and labels may sit beside them.)
    xy += [(x, y) for line in ax.get_lines() if line.get_transform() is ax.transData for x, y in zip(line.get_xdata(), line.get_ydata())]
    radius = 7.0  # pixels: the front's rings have markersize 10 (points) at 100 dpi
    for px, py in ax.transData.transform(xy) if xy else []:
        placed.append(Bbox([[px - radius, py - radius], [px + radius, py + radius]]))
    offsets = ((7, 7), (7, -7), (-7, 7), (-7, -7), (10, 18), (10, -18), (-10, 18), (-10, -18), (0, 26), (0, -26))
    written = []
    for x, y, text in points:
        for dx, dy in offsets:
            label = ax.annotate(
                text, (x, y), textcoords="offset points", xytext=(dx * spread, dy * spread),
                ha="left" if dx > 0 else "right" if dx < 0 else "center", va="bottom" if dy > 0 else "top", **{"fontsize": 7, **style},
            )
            box = label.get_window_extent(renderer)
            if _overlaps(box, placed, inside):
                label.remove()
                continue
            placed.append(box)
            written.append(label)
            break
    return written


def _draw_front(ax: Any, data: pd.DataFrame, name: str, col: str) -> pd.DataFrame:
    """The QBoost runs' Pareto front (accuracy against learners), drawn; returned for labelling."""
    front = pareto_front(data, name) if len(data) else data
    if len(front):
        ax.plot(
            front["metrics.selected"], front[col], color="crimson", marker="o", markersize=10, markerfacecolor="none",
            markeredgewidth=2, linewidth=1.5, label=f"QBoost Pareto front ({len(front)} runs)",
        )
    return front


def _figure_pareto(runs: pd.DataFrame, metric: str, title: str | None = None) -> Figure:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    name = check_objective(metric)
    col = _metric_column(name)
    plottable = _with_derived_columns(_plottable(runs))
    dataset = _one_dataset(plottable)
    qboost, baselines = _split_baselines(plottable)
    data = qboost[_column(qboost, col).notna() & _column(qboost, "metrics.selected").notna()]
    references = _baseline_rows(baselines, col)
    if data.empty and references.empty:
        raise CompareError(f"no finished run has both {name!r} and 'selected' to plot")
    # A model that selected no learner predicts one class for everything: it is
    # flagged and kept out (it would sit on the front and stretch the axis).
    empty = data[data["metrics.selected"] == 0]
    data = data[data["metrics.selected"] > 0]
    if data.empty and references.empty:
        raise CompareError(f"no finished run with at least one selected learner has {name!r} to plot")
    fig = _new_figure()
    ax = fig.add_subplot()
    keys = _series_columns(data)
    for i, (key, rows) in enumerate(data.groupby([keys[k] for k in SERIES_KEYS], sort=True)):
        ax.scatter(rows["metrics.selected"], rows[col], alpha=0.7, marker=_MARKERS[i % len(_MARKERS)], label=series_label(*key))
    front = _draw_front(ax, data, name, col)
    # Baselines: a star where they have a size, a reference line where they have none (or 0 learners).
    selected = pd.to_numeric(_column(references, "metrics.selected"), errors="coerce")
    sized, unsized = references[selected > 0], references[~(selected > 0)]
    styles = _baseline_styles(references["_name"])
    for base, rows in sized.groupby("_name", sort=True):
        ax.scatter(rows["metrics.selected"], rows[col], marker="*", s=220, color=styles[base][0], edgecolors="white", linewidths=0.8,
                   zorder=4, label=f"baseline {base}" + (f" ({len(rows)} runs)" if len(rows) > 1 else ""))
    line_labels = _reference_lines(ax, unsized, col, styles)
    chosen = chosen_run(plottable, name)
    chosen_x = None if chosen is None else pd.to_numeric(pd.Series([chosen.get("metrics.selected")]), errors="coerce").iloc[0]
    ringed = _ring_chosen(ax, chosen, chosen_x if chosen_x is not None and chosen_x > 0 else None, col)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    better = "higher" if higher_is_better(name) else "lower"
    ax.set_xlabel("selected weak learners (metric 'selected'; fewer is better)")
    ax.set_ylabel(f"{name} ({better} is better)")
    ax.set_title(title or f"{_where(plottable, dataset)}: {name} vs selected learners, Pareto front", fontsize=10)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("chosen: "))  # the chosen run last
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    if len(empty):
        handles.append(Line2D([], [], linestyle="none"))
        labels.append(f"{len(empty)} empty model{'s' if len(empty) > 1 else ''} (0 learners) not shown")
    ax.legend(handles, labels, fontsize=7)
    if line_labels:
        _label_reference_lines(fig, ax, line_labels, styles)
    # Baselines' names first (they are few and must be read), then the front's run ids where they fit.
    if ringed is not None:
        _label_where_it_fits(fig, ax, [(*ringed, "chosen")], spread=1.6, color=_CHOSEN_STYLE["markeredgecolor"], fontweight="bold", fontsize=8)
    stars = [(row["metrics.selected"], row[col], row["_name"]) for _, row in sized.iterrows()]
    for x, y, text in stars:
        _label_where_it_fits(fig, ax, [(x, y, text)], color=styles[text][0], fontweight="bold")
    _label_where_it_fits(fig, ax, [(row["metrics.selected"], row[col], str(row["run_id"])[:8]) for _, row in front.iterrows()])
    return fig


def plot_pareto(runs: pd.DataFrame, metric: str, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Scatter ``metric`` (the objective) against the number of selected learners for runs of one dataset.

    Every finished QBoost run is a point marked by series; the QBoost front
    (:func:`pareto_front`) is circled, connected and labelled with short run
    ids. Baselines are labelled stars at their own size (a labelled
    horizontal line when they log no number of learners), never on the front.

    Parameters
    ----------
    runs : pandas.DataFrame
        As returned by :func:`load_runs` (failed/killed runs are skipped), of one dataset.
    metric : str
        The objective, e.g. ``"validation_accuracy"``; never a test metric.
    path : path-like
        PNG file to write; its directory is created if needed.
    title : str or None
        Default names the experiment, the dataset and the metric.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    CompareError
        ``metric`` is a test metric, the runs come from several datasets, or
        no finished run has both the metric and ``selected``.
    """
    return _save(_figure_pareto(runs, metric, title), path)
