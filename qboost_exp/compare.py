"""``python -m qboost_exp.compare``: compare the training runs of an MLflow experiment.

Prints one table row per training run (sampler, learner set, λ, weight bits,
accuracies, selected learners, time, status) and writes two PNG figures:
test accuracy against λ per sampler, and the accuracy / model-size Pareto
front. Every number shown is a metric exactly as MLflow stored it, so the
report agrees with the MLflow UI.

The building blocks are public so the sweep code can reuse them:
:func:`load_runs`, :func:`sort_runs`, :func:`metric_by_lambda`,
:func:`pareto_front`, :func:`plot_metric_vs_lambda`, :func:`plot_pareto`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence
from urllib.parse import unquote, urlparse

import pandas as pd

from ._argparse import OneLineErrorParser, positive_int
from ._metrics import higher_is_better
from .errors import QBoostError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"  # MLflow 3's own default
DEFAULT_EXPERIMENT = "qboost"
DEFAULT_SORT = "test_accuracy"
DEFAULT_OUT = "compare"
TRAINING_ROLES = ("single", "child")
PARENT_ROLE = "parent"
FAILED_STATUSES = ("FAILED", "KILLED")
LAMBDA_PLOT = "accuracy_vs_lambda.png"
PARETO_PLOT = "pareto_accuracy_vs_selected.png"

# mlflow.search_runs pages through the store itself (1000 runs per request);
# this only bounds memory for a pathological experiment.
_MAX_RUNS = 100_000
# Substrings of metric names where a larger value is better; everything else
# (times, selected learners, energies, chain breaks, QPU time) is minimised.
_ROLE_TAG = "tags.qboost.role"
_PARENT_TAG = "tags.mlflow.parentRunId"
_NAME_COLUMN_WIDTH = 40


class CompareError(QBoostError):
    """A user mistake or an unusable store: printed as one ``error:`` line, exit 2."""


# --------------------------------------------------------------------------
# Loading


def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    """The tracking URI to read: the argument, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``.

    Resolved here rather than by ``mlflow.get_tracking_uri()`` because MLflow
    caches a URI set earlier in the process, which would silently ignore a
    changed environment (tests, long-lived sessions).

    Parameters
    ----------
    tracking_uri : str or None
        An explicit URI; empty or None means "not given".

    Returns
    -------
    str
    """
    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def _local_store_path(uri: str) -> tuple[Path, str] | None:
    """The file or directory a local tracking URI points at, and its kind; None for remote stores."""
    if uri.startswith("sqlite:"):
        # SQLAlchemy: sqlite:///relative.db, sqlite:////absolute.db, sqlite:// = in memory.
        rest = uri[len("sqlite:") :].split("?", 1)[0]
        if not rest.startswith("///"):
            return None
        path = unquote(rest[3:])
        if path in ("", ":memory:"):
            return None
        return Path(path), "file"
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)), "dir"
    if parsed.scheme == "":
        return Path(uri), "dir"
    return None  # http(s), databricks, postgresql, ...: the server reports its own errors


def _check_store_exists(uri: str) -> None:
    """Refuse a local store that does not exist: opening it would create an empty one."""
    local = _local_store_path(uri)
    if local is None:
        return
    path, kind = local
    exists = path.is_file() if kind == "file" else path.is_dir()
    if not exists:
        raise CompareError(
            f"no MLflow tracking store at {path.absolute()} (tracking URI {uri}); "
            "train something first, or point --tracking-uri / MLFLOW_TRACKING_URI at an existing store"
        )


def _one_line(exc: BaseException) -> str:
    # MLflow messages can span lines; the CLI promises exactly one error line.
    return " ".join(str(getattr(exc, "message", None) or exc).split())


def _column(runs: pd.DataFrame, name: str) -> pd.Series:
    """A column of ``runs``, or all-missing if no run logged it (search_runs omits such columns)."""
    if name in runs.columns:
        return runs[name]
    return pd.Series([None] * len(runs), index=runs.index, dtype=object)


def _metric_column(metric: str) -> str:
    return metric if metric.startswith("metrics.") else f"metrics.{metric}"


def _lambda_values(runs: pd.DataFrame) -> pd.Series:
    """λ per run: the ``lambda_value`` metric (the λ actually used), else the numeric ``lambda`` param."""
    from_param = pd.to_numeric(_column(runs, "params.lambda"), errors="coerce")  # "auto" -> NaN
    from_metric = pd.to_numeric(_column(runs, "metrics.lambda_value"), errors="coerce")
    return from_metric.where(from_metric.notna(), from_param).astype(float)


def _with_derived_columns(runs: pd.DataFrame, experiment: str | None = None) -> pd.DataFrame:
    """Add the convenience columns the table and plots use, keeping every raw MLflow column.

    Columns added: ``experiment``, ``run_name``, ``sampler``, ``weak_learners``
    (tag, else the config param), ``lambda`` (float), ``weight_bits`` (the
    param string). Existing columns of those names are left alone, so frames
    built elsewhere can be passed to the plotting functions.
    """
    runs = runs.copy()

    def tag_else_param(tag: str, param: str) -> pd.Series:
        tagged = _column(runs, f"tags.{tag}")
        return tagged.where(tagged.notna(), _column(runs, f"params.{param}"))

    derived = {
        "run_name": lambda: _column(runs, "tags.mlflow.runName"),
        "sampler": lambda: tag_else_param("sampler", "sampler.name"),
        "weak_learners": lambda: tag_else_param("weak_learners", "weak_learners.name"),
        "lambda": lambda: _lambda_values(runs),
        "weight_bits": lambda: _column(runs, "params.qubo.weight_bits"),
    }
    if experiment is not None and "experiment" not in runs.columns:
        runs["experiment"] = experiment
    for name, make in derived.items():
        if name not in runs.columns:
            runs[name] = make()
    return runs


def _load(experiment: str, tracking_uri: str | None, parent: str | None, include_failed: bool) -> tuple[pd.DataFrame, dict[str, int]]:
    """:func:`load_runs`, plus how many runs each filter dropped (for a helpful "no runs" message)."""
    uri = resolve_tracking_uri(tracking_uri)
    _check_store_exists(uri)
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    # mlflow.search_runs has no URI argument and reads the process-wide one.
    mlflow.set_tracking_uri(uri)
    try:
        client = MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name(experiment)
        if exp is None or exp.lifecycle_stage == "deleted":
            names = sorted(e.name for e in client.search_experiments())
            raise CompareError(f"no experiment named {experiment!r} in {uri}; existing experiments: {', '.join(names) or '(none)'}")
        runs = mlflow.search_runs(
            experiment_ids=[exp.experiment_id],
            max_results=_MAX_RUNS,
            order_by=["attributes.start_time ASC"],  # stable tie order for the sort
            output_format="pandas",
        )
    except MlflowException as exc:
        raise CompareError(f"cannot read runs from {uri}: {_one_line(exc)}") from exc
    if len(runs) >= _MAX_RUNS:
        warnings.warn(f"experiment {experiment!r} has at least {_MAX_RUNS} runs; only the oldest {_MAX_RUNS} are compared", stacklevel=3)

    dropped = {"total": len(runs), "parent": 0, "untagged": 0, "failed": 0}
    if parent is not None:
        runs = runs[_column(runs, _PARENT_TAG) == _resolve_parent(runs, parent, experiment)]
    role = _column(runs, _ROLE_TAG)
    # Parent runs only summarise their children; counting them would show each sweep twice.
    dropped["parent"] = int((role == PARENT_ROLE).sum())
    dropped["untagged"] = int((~role.isin(TRAINING_ROLES) & (role != PARENT_ROLE)).sum())
    runs = runs[role.isin(TRAINING_ROLES)]
    failed = _column(runs, "status").isin(FAILED_STATUSES)
    if not include_failed:
        dropped["failed"] = int(failed.sum())
        runs = runs[~failed]
    return _with_derived_columns(runs.reset_index(drop=True), experiment), dropped


def _resolve_parent(runs: pd.DataFrame, parent: str, experiment: str) -> str:
    """The full id of the sweep's parent run; a unique prefix (the table's 8 characters) is enough."""
    role = _column(runs, _ROLE_TAG)
    known = set(runs.loc[role == PARENT_ROLE, "run_id"]) | set(_column(runs, _PARENT_TAG).dropna())
    matches = sorted(run_id for run_id in known if run_id.startswith(parent))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise CompareError(f"--parent {parent!r} matches several parent runs: {', '.join(m[:12] for m in matches)}; give more characters")
    names = dict(zip(runs["run_id"], _column(runs, "tags.mlflow.runName")))
    listing = ", ".join(f"{run_id[:8]} ({names.get(run_id) or '?'})" for run_id in sorted(known)) or "(none)"
    raise CompareError(f"no parent run {parent!r} in experiment {experiment!r}; parent runs: {listing}")


def load_runs(
    experiment: str,
    tracking_uri: str | None = None,
    parent: str | None = None,
    include_failed: bool = False,
) -> pd.DataFrame:
    """The training runs of an experiment, as ``mlflow.search_runs`` returns them.

    Parent runs of sweeps (tag ``qboost.role=parent``) are left out; only runs
    tagged ``single`` or ``child`` are training runs.

    Parameters
    ----------
    experiment : str
        MLflow experiment name.
    tracking_uri : str or None
        Store to read. None means ``MLFLOW_TRACKING_URI``, else
        ``sqlite:///mlflow.db`` (in the current directory); pass
        ``mlflow.get_tracking_uri()`` to use the URI this process already set.
        It becomes the process-wide URI (``mlflow.set_tracking_uri``), since
        ``mlflow.search_runs`` has no URI argument.
    parent : str or None
        Keep only the children of this sweep's parent run (a unique prefix of
        its id suffices).
    include_failed : bool
        Keep runs whose status is FAILED or KILLED.

    Returns
    -------
    pandas.DataFrame
        One row per run, oldest first, with every ``metrics.*``, ``params.*``
        and ``tags.*`` column MLflow returns (values untouched) plus the
        columns ``experiment``, ``run_name``, ``sampler``, ``weak_learners``,
        ``lambda`` (float: the ``lambda_value`` metric, else the numeric
        ``lambda`` param, else NaN) and ``weight_bits``. Empty if no run matches.

    Raises
    ------
    CompareError
        The local store does not exist, the experiment or parent run is
        unknown, or the store cannot be read.
    """
    return _load(experiment, tracking_uri, parent, include_failed)[0]


# --------------------------------------------------------------------------
# Sorting and the Pareto front


def available_metrics(runs: pd.DataFrame) -> list[str]:
    """Names of the metrics at least one of ``runs`` logged, sorted."""
    return sorted(c[len("metrics.") :] for c in runs.columns if c.startswith("metrics.") and runs[c].notna().any())


def sort_runs(runs: pd.DataFrame, metric: str = DEFAULT_SORT) -> pd.DataFrame:
    """``runs`` ordered best first by ``metric``; runs without it go last.

    Descending for accuracy / AUC / F1 metrics, ascending otherwise (time,
    selected learners, energy). Ties keep the incoming order (oldest first
    for :func:`load_runs` output).

    Raises
    ------
    CompareError
        No run has that metric; the message lists the available ones.
    """
    name = metric.removeprefix("metrics.")
    if name not in available_metrics(runs):
        raise CompareError(f"unknown metric {name!r} to sort by; available metrics: {', '.join(available_metrics(runs)) or '(none)'}")
    # mergesort is stable, so ties stay in start-time order.
    return runs.sort_values(_metric_column(name), ascending=not higher_is_better(name), na_position="last", kind="mergesort")


def _plottable(runs: pd.DataFrame) -> pd.DataFrame:
    # A failed or killed run's metrics are partial: never plot them.
    return runs[~_column(runs, "status").isin(FAILED_STATUSES)]


def pareto_front(runs: pd.DataFrame, metric: str = DEFAULT_SORT) -> pd.DataFrame:
    """The runs no other run beats on both ``metric`` and the number of selected learners.

    Fewer selected learners is better; ``metric`` is better higher or lower as
    :func:`higher_is_better` says. A run is on the front unless another run
    is at least as good on both and strictly better on one, so identical
    points are all kept. Failed/killed runs and runs missing either value are
    ignored.

    Parameters
    ----------
    runs : pandas.DataFrame
        As returned by :func:`load_runs`.
    metric : str
        Metric name, e.g. ``"test_accuracy"``.

    Returns
    -------
    pandas.DataFrame
        The front's rows of ``runs``, by number of selected learners ascending.
    """
    col = _metric_column(metric)
    data = _plottable(runs)
    data = data[_column(data, col).notna() & _column(data, "metrics.selected").notna()]
    if data.empty:
        return data
    # "goodness": larger is better whichever way the metric points.
    goodness = data[col] if higher_is_better(metric) else -data[col]
    keep: list[Any] = []
    best = -math.inf
    for _, group in goodness.groupby(data["metrics.selected"], sort=True):
        top = group.max()
        # Beaten by a smaller model unless strictly better than everything with fewer learners;
        # within the same size only the best value survives.
        if top > best:
            keep.extend(group.index[group == top])
            best = top
    return data.loc[keep]


# --------------------------------------------------------------------------
# Figures


def metric_by_lambda(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``metric`` per sampler and λ: mean, min, max and number of runs, as plotted.

    Runs without the metric or without a numeric λ, and failed/killed runs,
    are left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``sampler``, ``lambda``, ``mean``, ``min``, ``max``, ``runs``;
        sorted by sampler, then λ.
    """
    col = _metric_column(metric)
    data = _with_derived_columns(_plottable(runs))
    data = data[_column(data, col).notna() & data["lambda"].notna()]
    if data.empty:
        return pd.DataFrame({"sampler": pd.Series(dtype=object), "lambda": pd.Series(dtype=float), "mean": pd.Series(dtype=float), "min": pd.Series(dtype=float), "max": pd.Series(dtype=float), "runs": pd.Series(dtype=int)})
    grouped = data.groupby([data["sampler"].fillna("?").astype(str), "lambda"], sort=True)[col]
    summary = grouped.agg(["mean", "min", "max", "count"]).reset_index()
    return summary.rename(columns={"count": "runs"})


def _experiment_name(runs: pd.DataFrame) -> str:
    names = _column(runs, "experiment").dropna().unique()
    if len(names) == 0:
        return "MLflow runs"
    return ("experiment " if len(names) == 1 else "experiments ") + ", ".join(repr(str(n)) for n in names)


def _new_figure() -> Figure:
    # A bare Figure (no pyplot) draws with Agg and leaves the process's backend
    # and figure registry alone: safe to call from a sweep or a notebook.
    from matplotlib.figure import Figure

    return Figure(figsize=(8, 5), layout="constrained")


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
    for sampler, rows in summary.groupby("sampler", sort=True):
        ax.errorbar(
            rows["lambda"],
            rows["mean"],
            yerr=[rows["mean"] - rows["min"], rows["max"] - rows["mean"]],
            marker="o",
            capsize=3,
            label=f"{sampler} ({int(rows['runs'].sum())} runs)",
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
    ax.legend(title="sampler")
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


def _figure_pareto(runs: pd.DataFrame, metric: str, title: str | None = None) -> Figure:
    from matplotlib.ticker import MaxNLocator

    col = _metric_column(metric)
    data = _with_derived_columns(_plottable(runs))
    data = data[_column(data, col).notna() & _column(data, "metrics.selected").notna()]
    if data.empty:
        raise CompareError(f"no finished run has both {metric!r} and 'selected' to plot")
    front = pareto_front(data, metric)
    fig = _new_figure()
    ax = fig.add_subplot()
    for sampler, rows in data.groupby(data["sampler"].fillna("?").astype(str), sort=True):
        ax.scatter(rows["metrics.selected"], rows[col], alpha=0.6, label=f"{sampler}")
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
    for _, row in front.iterrows():
        ax.annotate(str(row["run_id"])[:8], (row["metrics.selected"], row[col]), textcoords="offset points", xytext=(6, 6), fontsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    better = "higher" if higher_is_better(metric) else "lower"
    ax.set_xlabel("selected weak learners (metric 'selected'; fewer is better)")
    ax.set_ylabel(f"{metric} ({better} is better)")
    ax.set_title(title or f"{_experiment_name(runs)}: {metric} vs selected learners, Pareto front")
    ax.grid(True, alpha=0.3)
    ax.legend()
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


# --------------------------------------------------------------------------
# The table

# (header, metric) for the metric columns of the table, in order.
_METRIC_COLUMNS = (
    ("test_acc", "test_accuracy"),
    ("val_acc", "validation_accuracy"),
    ("selected", "selected"),
    ("time_s", "time_total"),
)


def _fmt_number(value: Any, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _fmt_text(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _fmt_lambda(row: pd.Series) -> str:
    param = row.get("params.lambda")
    auto = isinstance(param, str) and param.strip().lower() == "auto"
    if pd.isna(row["lambda"]):
        return "auto" if auto else _fmt_text(param)
    # Show that λ was chosen by the search, not configured.
    return f"{row['lambda']:g} (auto)" if auto else f"{row['lambda']:g}"


def _table_metrics(sort_metric: str) -> list[tuple[str, str]]:
    columns = list(_METRIC_COLUMNS)
    if sort_metric not in {m for _, m in columns} | {"lambda_value"}:
        columns.append((sort_metric, sort_metric))  # show what the rows are ordered by
    return columns


def _display_rows(runs: pd.DataFrame, sort_metric: str) -> tuple[list[str], list[list[str]], set[int]]:
    """Headers, formatted cells, and the indices of right-aligned (numeric) columns."""
    metrics = _table_metrics(sort_metric)
    headers = ["run", "name", "sampler", "learners", "lambda", "bits"] + [h for h, _ in metrics] + ["status"]
    specs = {"selected": "d", "time_total": ".2f"}
    rows = []
    for _, row in runs.iterrows():
        name = _fmt_text(row["run_name"])
        if len(name) > _NAME_COLUMN_WIDTH:
            name = name[: _NAME_COLUMN_WIDTH - 3] + "..."
        cells = [str(row["run_id"])[:8], name, _fmt_text(row["sampler"]), _fmt_text(row["weak_learners"]), _fmt_lambda(row), _fmt_text(row["weight_bits"])]
        for _, metric in metrics:
            value = row.get(_metric_column(metric))
            spec = specs.get(metric, ".4f" if higher_is_better(metric) else ".6g")
            if spec == "d" and value is not None and not pd.isna(value):
                value = int(value) if float(value).is_integer() else value
                spec = "d" if isinstance(value, int) else "g"
            cells.append(_fmt_number(value, spec))
        cells.append(_fmt_text(row["status"]))
        rows.append(cells)
    numeric = set(range(4, 6 + len(metrics)))
    return headers, rows, numeric


def format_text(runs: pd.DataFrame, sort_metric: str = DEFAULT_SORT) -> str:
    """``runs`` (already sorted) as an aligned plain-text table."""
    headers, rows, numeric = _display_rows(runs, sort_metric)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def format_markdown(runs: pd.DataFrame, sort_metric: str = DEFAULT_SORT) -> str:
    """``runs`` (already sorted) as a GitHub-flavoured Markdown table."""
    headers, rows, numeric = _display_rows(runs, sort_metric)

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    rule = ["---:" if i in numeric else "---" for i in range(len(headers))]
    return "\n".join([line(headers), "|" + "|".join(rule) + "|", *(line(r) for r in rows)])


def format_csv(runs: pd.DataFrame, sort_metric: str = DEFAULT_SORT) -> str:
    """``runs`` (already sorted) as CSV with full run ids and the metrics at full precision.

    Floats are written in their shortest round-trip form, so parsing a cell
    gives back exactly the value MLflow stored.
    """
    out = pd.DataFrame(
        {
            "run_id": runs["run_id"],
            "run_name": runs["run_name"],
            "sampler": runs["sampler"],
            "weak_learners": runs["weak_learners"],
            "lambda": runs["lambda"],
            "lambda_param": _column(runs, "params.lambda"),
            "weight_bits": runs["weight_bits"],
        }
    )
    for _, metric in _table_metrics(sort_metric):
        out[metric] = _column(runs, _metric_column(metric)).astype(float)
    out["status"] = runs["status"]
    return out.to_csv(index=False, lineterminator="\n")


_FORMATTERS = {"text": format_text, "markdown": format_markdown, "csv": format_csv}


# --------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m qboost_exp.compare`` argument parser."""
    parser = OneLineErrorParser(
        prog="python -m qboost_exp.compare",
        description="Compare the training runs of an MLflow experiment: a table, test accuracy vs λ, and the accuracy/size Pareto front.",
    )
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="MLflow experiment name (default: %(default)s)")
    parser.add_argument(
        "--sort",
        default=DEFAULT_SORT,
        metavar="METRIC",
        help="metric to order rows by; accuracy/AUC/F1 descending, others (time, selected, energy) ascending (default: %(default)s)",
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        metavar="URI",
        help=f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI} in the current directory)",
    )
    parser.add_argument("--parent", default=None, metavar="RUN_ID", help="only the child runs of this sweep's parent run (a unique id prefix is enough)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="directory for the PNG figures (default: ./%(default)s/)")
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N", help="print only the first N rows (figures use all runs)")
    parser.add_argument("--all", action="store_true", dest="include_failed", help="also list FAILED/KILLED runs (never plotted)")
    parser.add_argument("--format", choices=sorted(_FORMATTERS), default="text", help="table format (default: %(default)s)")
    return parser


def _no_runs_message(args: argparse.Namespace, dropped: dict[str, int]) -> str:
    where = f"experiment {args.experiment!r}" + (f" under parent run {args.parent!r}" if args.parent else "")
    if dropped["total"] == 0:
        return f"{where} has no runs; train something first (python -m qboost_exp ...)"
    hints = []
    if dropped["failed"]:
        hints.append(f"{dropped['failed']} failed/killed (--all lists them)")
    if dropped["parent"]:
        hints.append(f"{dropped['parent']} sweep parent runs")
    if dropped["untagged"]:
        hints.append(f"{dropped['untagged']} without a qboost.role=single|child tag")
    return f"{where} has no training runs to compare ({'; '.join(hints) or 'none matched'})"


def _write_figures(runs: pd.DataFrame, out: Path, stream: Any) -> None:
    """Write both PNGs; a figure with nothing to show is skipped with a note, not an error."""
    for name, plot in ((LAMBDA_PLOT, plot_metric_vs_lambda), (PARETO_PLOT, plot_pareto)):
        path = out / name
        try:
            plot(runs, "test_accuracy", path)
        except CompareError as exc:
            # A PNG left from an earlier report would contradict the table.
            path.unlink(missing_ok=True)
            print(f"note: {name} not written: {exc}", file=sys.stderr)
        else:
            print(f"wrote {path}", file=stream)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison report; the ``python -m qboost_exp.compare`` entry point.

    Parameters
    ----------
    argv : list of str or None
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        0 on success, 2 for a user mistake (one ``error:`` line on stderr).
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed
        return int(exit_.code or 0)
    try:
        runs, dropped = _load(args.experiment, args.tracking_uri, args.parent, args.include_failed)
        if runs.empty:
            raise CompareError(_no_runs_message(args, dropped))
        metric = args.sort.removeprefix("metrics.")
        ordered = sort_runs(runs, metric)
    except CompareError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2

    shown = ordered if args.limit is None else ordered.head(args.limit)
    if args.format != "csv":
        direction = "descending" if higher_is_better(metric) else "ascending"
        count = f"{len(shown)} of {len(ordered)}" if len(shown) < len(ordered) else f"{len(ordered)}"
        scope = f", children of {args.parent}" if args.parent else ""
        print(f"experiment {args.experiment!r}{scope}: {count} training runs, sorted by {metric} ({direction})\n")
    print(_FORMATTERS[args.format](shown, metric), end="" if args.format == "csv" else "\n")

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot create output directory {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if args.format != "csv":
        print()
    # With --format csv stdout stays pure CSV (pipe it into a file); paths go to stderr.
    _write_figures(ordered, out, sys.stderr if args.format == "csv" else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
