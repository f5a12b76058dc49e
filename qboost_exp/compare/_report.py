"""The benchmark report: its tables as text, Markdown and CSV, its figures, and logging them on the sweep's parent run.

:func:`benchmark_report` computes everything (:mod:`._aggregate`,
:mod:`._stats`); :func:`write_report` writes the files into one directory per
metric, :func:`report_dir` (``<out>/benchmark/<metric>/``), all at once (a
failure leaves the previous report whole); :func:`log_report` logs that
directory as the artifacts ``benchmark/<metric>/...`` of the parent run
(:func:`artifact_path`); :func:`format_summary` is what ``python -m
qboost_exp.compare`` prints.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from ._aggregate import SUMMARY_METRICS, aggregate, per_seed
from ._defaults import BENCHMARK_DIR
from ._stats import RankResult, across_datasets, check_reference, paired_tests

#: The artifact directory on the parent run, and the subdirectory of ``--out``: one subdirectory per metric in it.
ARTIFACT_DIR = BENCHMARK_DIR
#: The tables' file names (each as ``.csv`` and ``.md``; ``per_seed`` as CSV only); ``benchmark.md`` holds them all.
TABLES = ("aggregate", "paired", "ranks")
SUMMARY_FILE = "benchmark.md"
PER_SEED_FILE = "per_seed.csv"


@dataclass
class BenchmarkReport:
    """Everything the report shows; :func:`benchmark_report` makes it."""

    metric: str
    against: str
    long: pd.DataFrame
    aggregate: pd.DataFrame
    paired: pd.DataFrame
    ranks: RankResult
    notes: list[str] = field(default_factory=list)


def benchmark_report(runs: pd.DataFrame, metric: str = "test_accuracy", against: str = "qboost", swept: Sequence[str] | None = None) -> BenchmarkReport:
    """The benchmark of ``runs`` on ``metric``: per-seed rows, means with CIs, paired tests against ``against``, ranks.

    Raises
    ------
    BenchmarkError
        No run has ``metric``, a (dataset, seed, method) holds several runs, or
        ``against`` is no method of the runs.
    """
    from ._aggregate import BenchmarkError

    long = per_seed(runs, metric, swept)
    if long.empty:
        raise BenchmarkError(f"no finished run logged {metric!r}: nothing to benchmark")
    check_reference(long, against)
    table = aggregate(long, metric)
    ranks = across_datasets(long, metric)
    return BenchmarkReport(metric, against, long, table, paired_tests(long, metric, against), ranks, list(ranks.notes))


def sweep_report(runs: pd.DataFrame, tracking_uri: str, parent_run_id: str | None, metric: str, against: str) -> BenchmarkReport:
    """:func:`benchmark_report` of a sweep's ``runs``, its methods refined by the keys the parent run says it swept (none without a parent)."""
    from ..tracking import client_for, swept_keys

    swept = swept_keys(client_for(tracking_uri).get_run(parent_run_id)) if parent_run_id else None
    return benchmark_report(runs, metric, against, swept)


# ---------------------------------------------------------------- cells


def _num(value: Any, spec: str = ".4f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _p(value: float) -> str:
    return "-" if math.isnan(value) else ("< 0.0001" if value < 1e-4 else f"{value:.4f}")


def _mean_ci(row: pd.Series, name: str, spec: str = ".4f") -> str:
    mean, low, high = row[f"{name}_mean"], row[f"{name}_ci_low"], row[f"{name}_ci_high"]
    return _num(mean, spec) if math.isnan(low) else f"{_num(mean, spec)} [{_num(low, spec)}, {_num(high, spec)}]"


def aggregate_rows(report: BenchmarkReport) -> tuple[list[str], list[list[str]]]:
    """The aggregate table as display cells: per (dataset, method), means over seeds with the 95 % CI."""
    metric = report.metric
    others = [m for m in SUMMARY_METRICS if m not in (metric, "selected")]
    headers = ["dataset", "method", "n", f"{metric} mean [95% CI]", "std", *[f"{m} mean" for m in others], "learners mean ± std", "λ mean"]
    rows = []
    for _, row in report.aggregate.iterrows():
        learners = "-" if math.isnan(row["selected_mean"]) else f"{row['selected_mean']:.1f} ± {_num(row['selected_std'], '.1f')}"
        rows.append([row["dataset"], row["method"], str(row["n"]), _mean_ci(row, metric), _num(row[f"{metric}_std"]),
                     *[_num(row[f"{m}_mean"]) for m in others], learners, _num(row["lambda_mean"], "g")])
    return headers, rows


def paired_rows(report: BenchmarkReport) -> tuple[list[str], list[list[str]]]:
    """The paired table as display cells: each method against the reference, per dataset."""
    headers = ["dataset", "method", f"vs {report.against}", "seeds", "wins/ties/losses", "mean diff", "Wilcoxon p", "note"]
    rows = [[r["dataset"], r["method"], r["direction"], str(r["pairs"]), f"{r['wins']}/{r['ties']}/{r['losses']}",
             _num(r["mean_difference"], "+.4f"), _p(r["p_value"]), r["note"]] for _, r in report.paired.iterrows()]
    return headers, rows


def rank_rows(report: BenchmarkReport) -> tuple[list[str], list[list[str]]]:
    """The ranks table as display cells: datasets x methods (best average rank first), then the average rank."""
    result = report.ranks
    methods = list(result.average.index)
    headers = ["dataset", *methods]
    rows = [[str(d), *[f"{result.ranks.loc[d, m]:g}" for m in methods]] for d in result.ranks.index]
    rows.append(["average rank", *[f"{result.average[m]:.3f}" for m in methods]])
    return headers, rows


def friedman_line(report: BenchmarkReport) -> str:
    """The Friedman / Iman-Davenport / Nemenyi CD line under the ranks table (or why there is none)."""
    r = report.ranks
    parts = []
    if not math.isnan(r.friedman_statistic):
        parts.append(f"Friedman chi2 = {r.friedman_statistic:.4f} (df {r.methods - 1}), p = {_p(r.friedman_p)}")
        parts.append(f"Iman-Davenport F = {_num(r.iman_davenport_f)} (df {r.methods - 1}, {(r.methods - 1) * (r.datasets - 1)}), p = {_p(r.iman_davenport_p)}")
    if not math.isnan(r.cd):
        parts.append(f"Nemenyi critical difference (alpha {r.alpha:g}) = {r.cd:.4f} for {r.methods} methods on {r.datasets} datasets")
    return "; ".join(parts + r.notes)


# ---------------------------------------------------------------- formats


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """Aligned plain text: left-aligned columns, two spaces apart."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    line = lambda cells: "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("---" for _ in headers) + "|", *(line(r) for r in rows)])


_SECTIONS: tuple[tuple[str, str, Callable[[BenchmarkReport], tuple[list[str], list[list[str]]]]], ...] = (
    ("aggregate", "per dataset and method, over seeds", aggregate_rows),
    ("paired", "each method against the reference, on the seeds both ran (Wilcoxon signed-rank, two-sided)", paired_rows),
    ("ranks", "rank of each method's mean per dataset (1 = best, ties averaged)", rank_rows),
)


def _sections(report: BenchmarkReport, table: Callable[[list[str], list[list[str]]], str], heading: Callable[[str], str]) -> list[str]:
    parts = []
    for name, what, rows in _SECTIONS:
        text = table(*rows(report))
        if name == "ranks":
            text += "\n\n" + friedman_line(report)
        parts.append(heading(f"{name}: {report.metric}, {what}") + "\n\n" + text)
    return parts


def format_summary(report: BenchmarkReport) -> str:
    """The report as printed: a header line, then the aggregate, paired and ranks tables as aligned text."""
    datasets, methods, seeds = report.long["dataset"].nunique(), report.long["method"].nunique(), report.long["seed"].nunique()
    head = (f"benchmark of {report.metric} (an estimate of each method, not a choice among runs): "
            f"{datasets} dataset(s) x {methods} method(s), {seeds} seed(s), reference {report.against}")
    return "\n\n".join([head, *_sections(report, text_table, lambda h: h)])


def format_markdown_report(report: BenchmarkReport, figures: Sequence[str] = ()) -> str:
    """``benchmark.md``: every table under a heading, the test line, and the figures' names."""
    parts = [f"# Benchmark: {report.metric}", *_sections(report, markdown_table, lambda h: f"## {h}")]
    if figures:
        parts.append("## figures\n\n" + "\n".join(f"- `{name}`" for name in figures))
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------- files


def _csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def _ranks_frame(report: BenchmarkReport) -> pd.DataFrame:
    r = report.ranks
    frame = r.ranks.copy()
    frame.loc["average rank"] = r.average
    return frame.reset_index(names="dataset")


def artifact_path(metric: str) -> str:
    """``benchmark/<metric>``: the report's directory on the parent run, and under ``--out`` (the metric made file-safe)."""
    return f"{ARTIFACT_DIR}/{re.sub(r'[^A-Za-z0-9._-]', '_', metric)}"


def report_dir(out: Path, metric: str) -> Path:
    """``<out>/benchmark/<metric>``: where :func:`write_report` puts a report on ``metric``."""
    return Path(out) / artifact_path(metric)


def _write_files(report: BenchmarkReport, out: Path) -> list[str]:
    """Write every file of the report into the empty directory ``out``; returns their names."""
    from ._benchmark_figures import CD_PLOT, learners_plot_name, plot_accuracy_vs_learners, plot_cd_diagram

    names = [PER_SEED_FILE]
    _csv(report.long, out / PER_SEED_FILE)
    for name, frame in (("aggregate", report.aggregate), ("paired", report.paired), ("ranks", _ranks_frame(report))):
        _csv(frame, out / f"{name}.csv")
        names.append(f"{name}.csv")
    for name, _, rows in _SECTIONS:
        text = markdown_table(*rows(report)) + ("\n\n" + friedman_line(report) if name == "ranks" else "")
        (out / f"{name}.md").write_text(text + "\n")
        names.append(f"{name}.md")
    figures = []
    if report.ranks.testable:
        figures.append(plot_cd_diagram(report.ranks, report.metric, out / CD_PLOT.format(metric=report.metric)).name)
    for dataset in sorted(set(report.aggregate["dataset"])):
        figures.append(plot_accuracy_vs_learners(report.aggregate, dataset, report.metric, out / learners_plot_name(report.metric, dataset)).name)
    (out / SUMMARY_FILE).write_text(format_markdown_report(report, figures))
    return [*names, *figures, SUMMARY_FILE]


def _sibling(target: Path, what: str) -> Path:
    """A fresh name next to ``target`` (same filesystem: a rename moves it), hidden: ``.<name>.<what>-<random>``."""
    return target.parent / f".{target.name}.{what}-{uuid.uuid4().hex[:12]}"


def _swap_in(new: Path, target: Path) -> None:
    """Put the directory ``new`` at ``target`` by renames; an old ``target`` is moved aside first and removed after."""
    if not target.exists():
        os.replace(new, target)
        return
    old = _sibling(target, "old")
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)  # put the old report back
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_report(report: BenchmarkReport, out: Path) -> list[Path]:
    """Write the tables (CSV, Markdown) and the figures into :func:`report_dir` ``(out, metric)``; returns the paths.

    The files are written into a temporary sibling directory, which replaces
    the report's directory (and an earlier report's files in it) only once
    every file is written: a failure leaves the earlier report as it was, and
    no half-written one.
    """
    target = report_dir(out, report.metric)
    target.parent.mkdir(parents=True, exist_ok=True)
    new = _sibling(target, "new")
    new.mkdir()
    try:
        names = _write_files(report, new)
        _swap_in(new, target)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    return [target / name for name in names]


def log_report(tracking_uri: str, parent_run_id: str, out: Path, metric: str) -> None:
    """Log :func:`report_dir` ``(out, metric)``'s files as the artifacts ``benchmark/<metric>/<file>`` of the parent run."""
    from ..tracking import client_for

    client_for(tracking_uri).log_artifacts(parent_run_id, str(report_dir(out, metric)), artifact_path(metric))
