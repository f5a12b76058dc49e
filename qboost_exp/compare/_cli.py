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

from ._defaults import DEFAULT_OUT, DEFAULT_SORT

# pandas, MLflow and matplotlib are imported only once the arguments parse
# (--help and usage errors answer at once): see main().
#: Table formats: ``--format NAME`` prints with ``qboost_exp.compare.format_NAME``.
FORMATS = ("csv", "markdown", "text")


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
    parser.add_argument("--format", choices=FORMATS, default="text", help="table format (default: %(default)s)")
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
    from ._figures import LAMBDA_PLOT, PARETO_PLOT, plot_metric_vs_lambda, plot_pareto
    from ._load import CompareError

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
    from . import _tables
    from ._load import CompareError, _load, _one_line
    from ._rank import sort_runs

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
    print(getattr(_tables, f"format_{args.format}")(shown, metric), end="" if args.format == "csv" else "\n")

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
