"""``python -m qboost_exp.compare``: compare the training runs of an MLflow experiment.

One dataset at a time (a run's dataset is its name and the digest of its
training split): one table per dataset, ranked by the objective (a
validation metric, default ``validation_accuracy``; a test metric is refused
for ranking, shown as a column), and per dataset two PNG figures: the
objective against λ (lines only through runs that differ in λ alone) and the
objective / model-size Pareto front, with the baselines as labelled reference
marks. Every number shown is a metric exactly as MLflow stored it, so the
report agrees with the MLflow UI.

With ``--parent`` (a sweep over seeds or datasets) or ``--benchmark``, a
benchmark report too: each method's mean over seeds with its 95 % CI, paired
Wilcoxon tests against a reference method, average ranks across datasets with
the Friedman test and the Nemenyi critical difference, their figures, written
to ``<out>/benchmark/<metric>/`` and logged on the parent run as the
artifacts ``benchmark/<metric>/``. It compares methods on
an estimate (test accuracy by default); it never chooses a run.

The tie rule (:func:`qboost_exp.tracking.rank_key`): among runs level on the
objective the sparser wins -- fewer selected learners, then the larger λ, then
the earlier start; both figures ring that chosen run.

One module per job: :mod:`._select` (the objective and dataset rules, light
enough for ``serving``), :mod:`._load` (runs from the store), :mod:`._rank`
(order, the chosen run, Pareto front), :mod:`._figures`, :mod:`._tables`,
:mod:`._cli`; the benchmark: :mod:`._aggregate` (datasets, methods, seeds;
means and t-intervals), :mod:`._stats` (paired tests, ranks, Friedman,
Nemenyi CD), :mod:`._benchmark_figures` (CD diagram, accuracy vs learners),
:mod:`._report` (its tables, files and artifacts).
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
    "chosen_run": "._rank",
    "BenchmarkError": "._aggregate",
    "aggregate": "._aggregate",
    "method_labels": "._aggregate",
    "benchmark_datasets": "._aggregate",
    "per_seed": "._aggregate",
    "t_interval": "._aggregate",
    "RankResult": "._stats",
    "across_datasets": "._stats",
    "critical_difference": "._stats",
    "friedman": "._stats",
    "paired_tests": "._stats",
    "plot_accuracy_vs_learners": "._benchmark_figures",
    "plot_cd_diagram": "._benchmark_figures",
    "BenchmarkReport": "._report",
    "benchmark_report": "._report",
    "sweep_report": "._report",
    "format_summary": "._report",
    "artifact_path": "._report",
    "log_report": "._report",
    "report_dir": "._report",
    "write_report": "._report",
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
    from ._rank import chosen_run
    from ._aggregate import BenchmarkError, aggregate, benchmark_datasets, method_labels, per_seed, t_interval
    from ._stats import RankResult, across_datasets, critical_difference, friedman, paired_tests
    from ._benchmark_figures import plot_accuracy_vs_learners, plot_cd_diagram
    from ._report import BenchmarkReport, artifact_path, benchmark_report, format_summary, log_report, report_dir, sweep_report, write_report


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
