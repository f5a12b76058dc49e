"""Tables: the sorted runs of one dataset as aligned text, Markdown or exact CSV.

The objective's column comes first; the test metrics are shown (``test_acc``),
never used to order (see :mod:`._rank`).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import pandas as pd

from ..tracking import higher_is_better
from ._defaults import DEFAULT_SORT
from ._load import _column, _metric_column, _with_derived_columns

_NAME_COLUMN_WIDTH = 40


# (header, metric) for the metric columns of the table, in order.
_METRIC_COLUMNS = (
    ("val_acc", "validation_accuracy"),
    ("test_acc", "test_accuracy"),
    ("selected", "selected"),
    ("time_s", "time_total"),
)


def _fmt_number(value: Any, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _fmt_text(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _fmt_lambda(row: pd.Series) -> str:
    if row["baseline"]:
        return "-"  # a baseline has no λ (its config still carries the top-level key)
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
    runs = _with_derived_columns(runs)
    metrics = _table_metrics(sort_metric)
    headers = ["run", "name", "dataset", "model", "sampler", "learners", "lambda", "bits"] + [h for h, _ in metrics] + ["status"]
    specs = {"selected": "d", "time_total": ".2f"}
    rows = []
    for _, row in runs.iterrows():
        name = _fmt_text(row["run_name"])
        if len(name) > _NAME_COLUMN_WIDTH:
            name = name[: _NAME_COLUMN_WIDTH - 3] + "..."
        qboost_only = "-" if row["baseline"] else None  # a baseline's sampler and weight bits are unused config
        cells = [
            str(row["run_id"])[:8], name, _fmt_text(row["dataset"]), _fmt_text(row["model"]),
            qboost_only or _fmt_text(row["sampler"]), _fmt_text(row["weak_learners"]), _fmt_lambda(row), qboost_only or _fmt_text(row["weight_bits"]),
        ]
        for _, metric in metrics:
            value = row.get(_metric_column(metric))
            spec = specs.get(metric, ".4f" if higher_is_better(metric) else ".6g")
            if spec == "d" and value is not None and not pd.isna(value):
                value = int(value) if float(value).is_integer() else value
                spec = "d" if isinstance(value, int) else "g"
            cells.append(_fmt_number(value, spec))
        cells.append(_fmt_text(row["status"]))
        rows.append(cells)
    numeric = set(range(6, 8 + len(metrics)))
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
    runs = _with_derived_columns(runs)
    out = pd.DataFrame(
        {
            "run_id": runs["run_id"],
            "run_name": runs["run_name"],
            "dataset": runs["dataset"],
            "dataset_digest": runs["dataset_digest"],
            "model": runs["model"],
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


