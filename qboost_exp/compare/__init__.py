"""``python -m qboost_exp.compare``: compare the training runs of an MLflow experiment.

Prints one table row per training run (sampler, learner set, λ, weight bits,
accuracies, selected learners, time, status) and writes two PNG figures:
test accuracy against λ, one series per (sampler, learner set, weight bits),
and the accuracy / model-size Pareto front. Every number shown is a metric
exactly as MLflow stored it, so the report agrees with the MLflow UI.

One module per job: :mod:`._load` (runs from the store), :mod:`._rank`
(order and Pareto front), :mod:`._figures`, :mod:`._tables`, :mod:`._cli`.
The building blocks are public so the sweep code can reuse them.
"""

from ._cli import build_parser, main
from ._figures import LAMBDA_PLOT, PARETO_PLOT, metric_by_lambda, plot_metric_vs_lambda, plot_pareto
from ._load import CompareError, load_runs
from ._rank import DEFAULT_SORT, available_metrics, pareto_front, sort_runs
from ._tables import format_csv, format_markdown, format_text

__all__ = [
    "CompareError",
    "DEFAULT_SORT",
    "LAMBDA_PLOT",
    "PARETO_PLOT",
    "available_metrics",
    "build_parser",
    "format_csv",
    "format_markdown",
    "format_text",
    "load_runs",
    "main",
    "metric_by_lambda",
    "pareto_front",
    "plot_metric_vs_lambda",
    "plot_pareto",
    "sort_runs",
]
