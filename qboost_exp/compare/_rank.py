"""Ranking: sorting runs by the objective and the objective / model-size Pareto front.

The order is the project's one "best" rule (:func:`qboost_exp.tracking.rank_key`):
the metric's direction from its name; among runs level on it the sparser
first (fewer selected learners, then the larger λ), then the run that started
first. :func:`chosen_run` is the first of that order: the run a sweep, this
report and ``serving package --best`` call "best". Both
refuse a test metric (:func:`qboost_exp.compare._select.check_objective`):
the test split is shown, never used to order or choose.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..tracking import FAILED_STATUSES, higher_is_better, rank_key
from ._defaults import DEFAULT_SORT
from ._load import _column, _metric_column, _with_derived_columns, own_lambda
from ._select import CompareError, check_objective


def available_metrics(runs: pd.DataFrame) -> list[str]:
    """Names of the metrics at least one of ``runs`` logged, sorted."""
    return sorted(c[len("metrics.") :] for c in runs.columns if c.startswith("metrics.") and runs[c].notna().any())


def sort_runs(runs: pd.DataFrame, metric: str = DEFAULT_SORT) -> pd.DataFrame:
    """``runs`` ordered best first by ``metric`` (the objective); runs without it go last.

    Descending for accuracy / AUC / F1 metrics, ascending otherwise (time,
    selected learners, energy). Among runs level on ``metric`` the sparser
    comes first: fewer selected learners, then the larger λ, then the run
    that started first; then the incoming order (oldest first for
    :func:`load_runs` output). This is :func:`qboost_exp.tracking.best_run`'s
    rule, so the first row is the run a sweep and ``package --best`` choose.

    Raises
    ------
    CompareError
        ``metric`` is a test metric (runs are never ordered on the test
        split), or no run has it (the message lists the available ones).
    """
    name = check_objective(metric)
    if name not in available_metrics(runs):
        raise CompareError(f"unknown metric {name!r} to sort by; available metrics: {', '.join(available_metrics(runs)) or '(none)'}")
    # The one "best" rule (qboost_exp.tracking.rank_key): the metric's direction, then sparser, then the earlier run.
    data = _with_derived_columns(runs)
    values = pd.to_numeric(data[_metric_column(name)], errors="coerce")
    selected = pd.to_numeric(_column(data, "metrics.selected"), errors="coerce")
    keys = [
        (1, 0.0, 0.0, 0.0, 0) if pd.isna(value) else (0, *rank_key(float(value), _millis(start), name, selected=sel, lam=lam))
        # A baseline has no λ to break a tie with.
        for value, start, sel, lam in zip(values, _column(data, "start_time"), selected, own_lambda(data))
    ]
    order = sorted(range(len(runs)), key=lambda i: (keys[i], i))
    return runs.iloc[order]


def chosen_run(runs: pd.DataFrame, metric: str = DEFAULT_SORT) -> pd.Series | None:
    """The run the one "best" rule chooses among the finished ``runs`` (see :func:`sort_runs`); None if none has ``metric``."""
    finished = _plottable(runs)
    col = _metric_column(check_objective(metric))
    finished = finished[pd.to_numeric(_column(finished, col), errors="coerce").notna()]
    if finished.empty:
        return None
    return _with_derived_columns(sort_runs(finished, metric)).iloc[0]


def _millis(start: Any) -> int:
    """A run's start time as MLflow's milliseconds (search_runs gives a Timestamp)."""
    if start is None or pd.isna(start):
        return 0
    return int(pd.Timestamp(start).value // 1_000_000)


def _plottable(runs: pd.DataFrame) -> pd.DataFrame:
    # A failed or killed run's metrics are partial: never plot them.
    return runs[~_column(runs, "status").isin(FAILED_STATUSES)]


def _split_baselines(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(QBoost runs, baseline runs) of ``runs``, derived columns added."""
    data = _with_derived_columns(runs)
    baseline = data["baseline"].fillna(False).astype(bool)
    return data[~baseline], data[baseline]


def pareto_front(runs: pd.DataFrame, metric: str = DEFAULT_SORT) -> pd.DataFrame:
    """The QBoost runs no other QBoost run beats on both ``metric`` and the number of selected learners.

    Fewer selected learners is better; ``metric`` (the objective: never a
    test metric) is better higher or lower as :func:`higher_is_better` says.
    A run is on the front unless another run is at least as good on both and
    strictly better on one, so identical points are all kept. Baselines
    (``qboost.baseline=true``: reference marks, not QBoost trade-offs),
    failed/killed runs, runs missing either value and empty models (0
    selected learners) are ignored.

    Parameters
    ----------
    runs : pandas.DataFrame
        As returned by :func:`load_runs`.
    metric : str
        Metric name, e.g. ``"validation_accuracy"``.

    Returns
    -------
    pandas.DataFrame
        The front's rows of ``runs`` (with the derived columns of
        :func:`load_runs`), by number of selected learners ascending.

    Raises
    ------
    CompareError
        ``metric`` is a test metric.
    """
    col = _metric_column(check_objective(metric))
    data, _ = _split_baselines(_plottable(runs))
    # An empty model (no learner selected) is no trade-off: it is never on the front.
    data = data[_column(data, col).notna() & (pd.to_numeric(_column(data, "metrics.selected"), errors="coerce") > 0)]
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
