"""``python -m qboost_exp.compare``: compare the training runs of an MLflow experiment.

Prints one table row per training run (sampler, learner set, λ, weight bits,
accuracies, selected learners, time, status) and writes two PNG figures:
test accuracy against λ, one series per (sampler, learner set, weight bits),
and the accuracy / model-size Pareto front. Every number shown is a metric
exactly as MLflow stored it, so the report agrees with the MLflow UI.

One module per job: :mod:`._load` (runs from the store), :mod:`._rank`
(order and Pareto front), :mod:`._figures`, :mod:`._tables`, :mod:`._cli`.
The building blocks are public so the sweep code can reuse them; they are
loaded on first use, so ``--help`` does not import pandas or MLflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "build_parser": "._cli",
    "main": "._cli",
    "DEFAULT_SORT": "._defaults",
    "LAMBDA_PLOT": "._figures",
    "PARETO_PLOT": "._figures",
    "metric_by_lambda": "._figures",
    "plot_metric_vs_lambda": "._figures",
    "plot_pareto": "._figures",
    "CompareError": "._load",
    "load_runs": "._load",
    "available_metrics": "._rank",
    "pareto_front": "._rank",
    "sort_runs": "._rank",
    "format_csv": "._tables",
    "format_markdown": "._tables",
    "format_text": "._tables",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from ._cli import build_parser, main
    from ._defaults import DEFAULT_SORT
    from ._figures import LAMBDA_PLOT, PARETO_PLOT, metric_by_lambda, plot_metric_vs_lambda, plot_pareto
    from ._load import CompareError, load_runs
    from ._rank import available_metrics, pareto_front, sort_runs
    from ._tables import format_csv, format_markdown, format_text


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
