"""``python -m qboost_exp.compare``: the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cli_args import OneLineErrorParser, positive_int
from ..tracking import DEFAULT_EXPERIMENT, DEFAULT_TRACKING_URI, higher_is_better

if TYPE_CHECKING:
    import pandas as pd

from ._defaults import BENCHMARK_DIR, DEFAULT_AGAINST, DEFAULT_BENCHMARK_METRIC, DEFAULT_OUT, DEFAULT_SORT

# pandas, MLflow and matplotlib are imported only once the arguments parse
# (--help and usage errors answer at once): see main().
#: Table formats: ``--format NAME`` prints with ``qboost_exp.compare.format_NAME``.
FORMATS = ("csv", "markdown", "text")


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m qboost_exp.compare`` argument parser."""
    parser = OneLineErrorParser(
        prog="python -m qboost_exp.compare",
        description=(
            "Compare the training runs of an MLflow experiment, one dataset at a time: a table ranked by the objective "
            "(a validation metric; test metrics are shown, never used to rank), the objective vs λ, and the "
            "objective/size Pareto front, with the baselines as reference marks."
        ),
    )
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="MLflow experiment name (default: %(default)s)")
    parser.add_argument(
        "--objective",
        "--sort",
        dest="objective",
        default=DEFAULT_SORT,
        metavar="METRIC",
        help="the metric to rank rows by and to plot; accuracy/AUC/F1 descending, others (time, selected, energy) ascending; "
        "never a test_* metric: choosing on the test split overfits it (default: %(default)s)",
    )
    parser.add_argument(
        "--dataset",
        default=None,
        metavar="NAME[@DIGEST]",
        help="only the runs of this dataset (its name, or name@digest as the table's dataset column shows it; a digest prefix is enough)",
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        metavar="URI",
        help=f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI} in the current directory)",
    )
    parser.add_argument("--parent", default=None, metavar="RUN_ID", help="only the child runs of this sweep's parent run (a unique id prefix is enough)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="directory for the PNG figures (default: ./%(default)s/)")
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N", help="print only the first N rows of each dataset's table (figures use all runs)")
    parser.add_argument("--all", action="store_true", dest="include_failed", help="also list FAILED/KILLED runs (never plotted)")
    parser.add_argument("--format", choices=FORMATS, default="text", help="table format (default: %(default)s)")
    bench = parser.add_argument_group(
        "benchmark report",
        "Methods compared over seeds and datasets: means with 95 % CIs, paired Wilcoxon tests against a reference, "
        "average ranks with the Friedman test and the Nemenyi critical difference, and figures; written to "
        f"DIR/{BENCHMARK_DIR}/METRIC/ and, with --parent, logged as the parent run's artifacts {BENCHMARK_DIR}/METRIC/. "
        "It reports an estimate of each method, so a test metric is allowed here (the default); it never chooses "
        "a run, which is why --objective refuses test metrics.",
    )
    switch = bench.add_mutually_exclusive_group()
    switch.add_argument("--benchmark", dest="benchmark", action="store_const", const="on", default="auto",
                        help="write the benchmark report (default: only with --parent, when its runs span several seeds or datasets)")
    switch.add_argument("--no-benchmark", dest="benchmark", action="store_const", const="off", help="never write it")
    bench.add_argument("--metric", default=DEFAULT_BENCHMARK_METRIC, metavar="METRIC",
                       help="the metric the methods are compared on (default: %(default)s; an estimate, never used to choose a run)")
    bench.add_argument("--against", default=DEFAULT_AGAINST, metavar="METHOD",
                       help="the reference method of the paired tests: a qboost.method tag, e.g. lasso@k (default: %(default)s)")
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


def _write_figures(runs: pd.DataFrame, metric: str, out: Path, dataset: str | None, stream: Any) -> None:
    """Write one dataset's two PNGs; a figure with nothing to show is skipped with a note, not an error."""
    from ._figures import figure_names, plot_metric_vs_lambda, plot_pareto
    from ._select import CompareError

    for name, plot in zip(figure_names(metric, dataset), (plot_metric_vs_lambda, plot_pareto)):
        path = out / name
        try:
            plot(runs, metric, path)
        except CompareError as exc:
            # A PNG left from an earlier report would contradict the table.
            path.unlink(missing_ok=True)
            print(f"note: {name} not written: {exc}", file=sys.stderr)
        else:
            print(f"wrote {path}", file=stream)


def _sections(runs: pd.DataFrame, spec: str | None, what: str) -> list[tuple[Any, pd.DataFrame]]:
    """(DatasetId, its runs) per dataset, by label; ``spec`` (``--dataset``) keeps the datasets it names."""
    from ._load import dataset_ids
    from ._select import CompareError, describe, matching

    ids = dataset_ids(runs)
    counts: dict[Any, int] = {}
    for dataset in ids:
        counts[dataset] = counts.get(dataset, 0) + 1
    chosen = sorted(counts, key=lambda d: d.label) if spec is None else matching(counts, spec)
    if not chosen:
        raise CompareError(f"--dataset {spec}: no such dataset in {what}; datasets found: {describe(counts)}")
    return [(dataset, runs[[d == dataset for d in ids]]) for dataset in chosen]


def _print_tables(args: Any, sections: list, metric: str, where: str) -> None:
    """The runs' tables on stdout (one per dataset), under a line that says what is shown; or pure CSV."""
    import pandas as pd

    from . import _tables

    several = len(sections) > 1
    total = sum(len(rows) for _, rows in sections)
    shown = [(dataset, rows if args.limit is None else rows.head(args.limit)) for dataset, rows in sections]
    if args.format == "csv":
        print(_tables.format_csv(pd.concat([rows for _, rows in shown]), metric), end="")
        return
    direction = "descending" if higher_is_better(metric) else "ascending"
    count = sum(len(rows) for _, rows in shown)
    count_text = f"{count} of {total}" if count < total else f"{total}"
    scope = f"{len(sections)} datasets, one table each" if several else f"dataset {sections[0][0].label}"
    print(f"{where}: {count_text} training runs, sorted by {metric} ({direction}); {scope}\n")
    tables = []
    for (dataset, rows), (_, every) in zip(shown, sections):
        table = getattr(_tables, f"format_{args.format}")(rows, metric)
        if several:
            heading = f"dataset {dataset.label}: " + (f"{len(rows)} of {len(every)}" if len(rows) < len(every) else f"{len(every)}") + (" run" if len(every) == 1 else " runs")
            table = (f"### {heading}" if args.format == "markdown" else heading) + "\n\n" + table
        tables.append(table)
    print("\n\n".join(tables))


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
    from ._select import CompareError, check_objective

    try:
        # Before anything is read: ranking on the test split is refused whatever the store holds.
        metric = check_objective(args.objective, "--objective/--sort")
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from ._load import _load, _one_line
    from ._rank import available_metrics, sort_runs

    where = f"experiment {args.experiment!r}" + (f", children of {args.parent}" if args.parent else "")
    try:
        runs, dropped = _load(args.experiment, args.tracking_uri, args.parent, args.include_failed)
        if runs.empty:
            raise CompareError(_no_runs_message(args, dropped))
        if metric not in available_metrics(runs):
            sort_runs(runs, metric)  # raises: the message lists the available metrics
        sections = [(dataset, sort_runs(rows, metric) if metric in available_metrics(rows) else rows) for dataset, rows in _sections(runs, args.dataset, where)]
    except CompareError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2

    try:
        report = _benchmark(args, runs)
    except CompareError as exc:
        # Asked for (--benchmark, --against, --metric): an error. Offered (auto): a note, the comparison goes on.
        if args.benchmark == "on" or args.against != DEFAULT_AGAINST or args.metric != DEFAULT_BENCHMARK_METRIC:
            print(f"error: {_one_line(exc)}", file=sys.stderr)
            return 2
        print(f"note: no benchmark report: {_one_line(exc)}", file=sys.stderr)
        report = None

    several = len(sections) > 1
    if report is not None and several and args.dataset is None:
        # A benchmark's splits (one per dataset and seed) are dozens of tables and figures that rank nothing it compares.
        print(f"{where}: {sum(len(rows) for _, rows in sections)} training runs on {len(sections)} splits; their per-split tables "
              "and figures are left out of a benchmark report (one split: --dataset NAME@DIGEST; all: --no-benchmark)",
              file=sys.stderr if args.format == "csv" else sys.stdout)
        sections = []
    else:
        _print_tables(args, sections, metric, where)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot create output directory {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if args.format != "csv":
        print()
    # With --format csv stdout stays pure CSV (pipe it into a file); paths go to stderr.
    stream = sys.stderr if args.format == "csv" else sys.stdout
    for dataset, rows in sections:
        _write_figures(rows, metric, out, dataset.label if several else None, stream)
    if report is None:
        return 0
    return _write_benchmark(args, report, runs, out, stream)


def _parent_id(runs: pd.DataFrame) -> str | None:
    """The full id of the parent run ``--parent`` named (every loaded run is its child)."""
    from ._load import _column

    ids = _column(runs, "tags.mlflow.parentRunId").dropna().unique()
    return str(ids[0]) if len(ids) == 1 else None


def _wanted(args: Any, runs: pd.DataFrame) -> bool:
    """``--benchmark`` on, off, or auto: with ``--parent``, when the runs span several seeds or datasets."""
    if args.benchmark != "auto":
        return args.benchmark == "on"
    from ._aggregate import benchmark_datasets
    from ._load import _column

    return args.parent is not None and (_column(runs, "params.seed").nunique() > 1 or benchmark_datasets(runs).nunique() > 1)


def _benchmark(args: Any, runs: pd.DataFrame) -> Any:
    """The benchmark report of ``runs``, or None when not wanted; CompareError for runs that cannot be benchmarked."""
    if not _wanted(args, runs):
        return None
    from ..tracking import resolve_tracking_uri
    from ._report import sweep_report

    parent = _parent_id(runs) if args.parent is not None else None
    return sweep_report(runs, resolve_tracking_uri(args.tracking_uri), parent, args.metric.removeprefix("metrics."), args.against)


def _write_benchmark(args: Any, report: Any, runs: pd.DataFrame, out: Path, stream: Any) -> int:
    """Print the benchmark's tables, write its files under ``out`` (``benchmark/<metric>/``), log them on the parent run; the exit status."""
    from ._load import _one_line
    from ._report import artifact_path, format_summary, log_report, report_dir, write_report

    print("\n" + format_summary(report), file=stream)
    where = report_dir(out, report.metric)
    try:
        paths = write_report(report, out)
    except Exception as exc:  # noqa: BLE001 - a disk, a figure or a table that fails: one line, the old report left whole
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {_one_line(exc)}"
        print(f"error: cannot write the benchmark report to {where}: {reason}", file=sys.stderr)
        return 2
    print("\n" + "\n".join(f"wrote {path}" for path in paths), file=stream)
    parent = _parent_id(runs) if args.parent is not None else None
    if parent is None:
        return 0
    from ..tracking import resolve_tracking_uri

    try:
        log_report(resolve_tracking_uri(args.tracking_uri), parent, out, report.metric)
    except Exception as exc:  # noqa: BLE001 - a store that cannot take the artifacts
        print(f"error: the benchmark report is in {where} but could not be logged on parent run {parent}: {_one_line(exc)}", file=sys.stderr)
        return 2
    print(f"logged {len(paths)} files as artifacts {artifact_path(report.metric)}/ of parent run {parent}", file=stream)
    return 0
