"""``python -m qboost_exp.compare``: compare the training runs of an MLflow experiment.

One dataset at a time (a run's dataset is its name and the digest of its
training split): one table per dataset, ranked by the objective (a
validation metric, default ``validation_accuracy``; a test metric is refused
for ranking, shown as a column), and per dataset two PNG figures: the
objective against λ (lines only through runs that differ in λ alone) and the
objective / model-size Pareto front, with the baselines as labelled reference
marks. Every number shown is a metric exactly as MLflow stored it, so the
report agrees with the MLflow UI.

One module per job: :mod:`._select` (the objective and dataset rules, light
enough for ``serving``), :mod:`._load` (runs from the store), :mod:`._rank`
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
    "figure_names": "._figures",
    "metric_by_lambda": "._figures",
    "plot_metric_vs_lambda": "._figures",
    "plot_pareto": "._figures",
    "CompareError": "._select",
    "DatasetId": "._select",
    "check_objective": "._select",
    "choose_dataset": "._select",
    "dataset_of": "._select",
    "is_test_metric": "._select",
    "training_digest": "._select",
    "dataset_ids": "._load",
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
    from ._figures import LAMBDA_PLOT, PARETO_PLOT, figure_names, metric_by_lambda, plot_metric_vs_lambda, plot_pareto
    from ._load import dataset_ids, load_runs
    from ._select import CompareError, DatasetId, check_objective, choose_dataset, dataset_of, is_test_metric, training_digest
    from ._rank import available_metrics, pareto_front, sort_runs
    from ._tables import format_csv, format_markdown, format_text


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
