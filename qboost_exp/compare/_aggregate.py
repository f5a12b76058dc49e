"""The benchmark's data: one row per (dataset, method, seed), and each method's mean over seeds with a 95 % CI.

A benchmark sweep trains every method on every dataset with several seeds
(``-m dataset=a,b model=qboost,lasso seed=0,1,2,3,4``). Its runs are read here
as:

- a **dataset**: the ``dataset`` tag and the ``qboost.source_digest`` tag (the
  whole dataset before the split, shared by the seeds), labelled
  ``wisc@1a2b3c4d``; a run without that tag falls back to compare's
  :class:`DatasetId` (name and training-split digest: then each seed is its
  own dataset);
- a **method**: the ``qboost.method`` tag (``qboost``, ``lasso@k``,
  ``abess@15``, ...), else the ``model`` tag, else ``qboost``; refined by the
  sweep's swept keys (other than ``dataset*``, ``seed`` and ``model*``) where
  runs of one (dataset, seed, method) differ in them, e.g. a λ sweep gives
  ``qboost[lambda=0.1]``;
- a **seed**: the ``seed`` param.

Each (dataset, seed, method) must then hold one run: several are an error
that names them.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..tracking import METHOD_TAG, QBOOST_MODEL, SOURCE_DIGEST_TAG
from ._load import _column, _metric_column, _with_derived_columns, own_lambda
from ._select import SHORT_DIGEST, CompareError

#: The metrics every benchmark table summarises (besides the one compared).
SUMMARY_METRICS = ("test_accuracy", "validation_accuracy", "selected")
#: Confidence level of the t-intervals.
CONFIDENCE = 0.95
# Config params that never make a method: where the run is tracked, how it talks (compare._figures' list).
_NOT_CONFIG = ("params.mlflow.", "params.verbose", "params.register", "params.promote", "params.objective")

#: Decimal places differences and means are rounded to before signs, ties and ranks: far below any
#: metric's resolution, far above float noise (an ulp of 1.0 is 2.2e-16).
DECIMALS = 12


def settle(values: Any) -> Any:
    """``values`` rounded to :data:`DECIMALS` places (``np.round``), so float noise makes no sign, tie or rank."""
    return np.round(values, DECIMALS)


class BenchmarkError(CompareError):
    """The runs cannot be read as a benchmark (one ``error:`` line, exit 2)."""


def benchmark_datasets(runs: pd.DataFrame) -> pd.Series:
    """Each run's benchmark dataset label: ``name@source-digest``, else compare's dataset label (name@training digest)."""
    data = _with_derived_columns(runs)
    source = _column(data, f"tags.{SOURCE_DIGEST_TAG}")
    name = data["dataset_name"].astype(object).where(data["dataset_name"].notna(), "?").astype(str)
    labels = [f"{n}@{str(s)[:SHORT_DIGEST]}" if isinstance(s, str) and s else fallback for n, s, fallback in zip(name, source, data["dataset"])]
    return pd.Series(labels, index=runs.index, dtype=object)


def base_methods(runs: pd.DataFrame) -> pd.Series:
    """Each run's method before refinement: tag ``qboost.method``, else tag ``model`` (else param), else ``qboost``."""
    data = _with_derived_columns(runs)
    tagged = _column(data, f"tags.{METHOD_TAG}")
    return tagged.where(tagged.notna() & (tagged.astype(str) != ""), data["model"]).fillna(QBOOST_MODEL).astype(str)


def _ignored(key: str) -> bool:
    return key.startswith("dataset") or key == "seed" or key.startswith("model")


def _param_column(runs: pd.DataFrame, key: str) -> str | None:
    """The ``params.*`` column of a swept config key (a group like ``sampler`` is logged as ``sampler.name``)."""
    for column in (f"params.{key}", f"params.{key}.name"):
        if column in runs.columns:
            return column
    return None


def _candidate_columns(runs: pd.DataFrame, swept: Sequence[str] | None) -> list[str]:
    """The params that may refine a method: the sweep's swept keys, or (no tag) every config param."""
    if swept is None:
        keys = [c.removeprefix("params.") for c in runs.columns if c.startswith("params.") and not c.startswith(_NOT_CONFIG)]
    else:
        keys = list(swept)
    columns = [_param_column(runs, k) for k in keys if not _ignored(k)]
    return list(dict.fromkeys(c for c in columns if c is not None))


def _varying(rows: pd.DataFrame, columns: list[str], group: list[str]) -> list[str]:
    """The columns whose value differs between runs of one ``group`` (dataset, seed)."""
    text = rows[columns].astype(object).where(rows[columns].notna(), "").astype(str) if columns else rows[[]]
    return [c for c in columns if (text.groupby([rows[g] for g in group])[c].nunique() > 1).any()]


def _refined(rows: pd.DataFrame, columns: list[str]) -> pd.Series:
    text = rows[columns].astype(object).where(rows[columns].notna(), "").astype(str)
    parts = text.apply(lambda row: ",".join(f"{c.removeprefix('params.').removesuffix('.name')}={row[c]}" for c in columns), axis=1)
    return rows["method"] + "[" + parts + "]"


def method_labels(runs: pd.DataFrame, swept: Sequence[str] | None = None) -> pd.Series:
    """Each run's method, refined by the swept keys that tell apart runs of one (dataset, seed, method).

    Parameters
    ----------
    runs : pandas.DataFrame
        As :func:`qboost_exp.compare.load_runs` returns them.
    swept : sequence of str or None
        The parent run's swept keys (:func:`qboost_exp.tracking.swept_keys`);
        None: every logged config param may refine.
    """
    rows = pd.DataFrame({"dataset": benchmark_datasets(runs), "seed": _column(runs, "params.seed").astype(str), "method": base_methods(runs)})
    rows = rows.join(runs[[c for c in runs.columns if c.startswith("params.")]])
    columns = _candidate_columns(runs, swept)
    labels = rows["method"].copy()
    for method, group in rows.groupby("method", sort=False):
        varying = _varying(group, columns, ["dataset", "seed"])
        if varying:
            labels.loc[group.index] = _refined(group, varying)
    return labels


def per_seed(runs: pd.DataFrame, metric: str, swept: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (dataset, method, seed): the run and its metrics, the long table every statistic starts from.

    Columns ``dataset``, ``method``, ``seed``, ``run_id``, ``lambda`` and one
    per metric (``metric`` and :data:`SUMMARY_METRICS`, NaN where not
    logged). Runs without ``metric`` are left out.

    Raises
    ------
    BenchmarkError
        Two runs or more share a (dataset, seed, method) even after the swept
        keys refine it (the message names them).
    """
    data = _with_derived_columns(runs)
    metrics = list(dict.fromkeys([metric, *SUMMARY_METRICS]))
    long = pd.DataFrame({
        "dataset": benchmark_datasets(data), "method": method_labels(data, swept), "seed": _column(data, "params.seed"),
        "run_id": data["run_id"], "lambda": own_lambda(data),
    })
    for name in metrics:
        long[name] = pd.to_numeric(_column(data, _metric_column(name)), errors="coerce").astype(float)
    long = long[long[metric].notna()]
    long["seed"] = long["seed"].astype(object).where(long["seed"].notna(), "?").astype(str)
    _check_one_run_each(long)
    return long.sort_values(["dataset", "method", "seed"], kind="stable").reset_index(drop=True)


def _check_one_run_each(long: pd.DataFrame) -> None:
    counts = long.groupby(["dataset", "method", "seed"])["run_id"].agg(list)
    several = counts[counts.map(len) > 1]
    if several.empty:
        return
    (dataset, method, seed), ids = next(iter(several.items()))
    raise BenchmarkError(
        f"{len(several)} (dataset, seed, method) cells hold several runs, e.g. dataset {dataset}, seed {seed}, method {method}: "
        f"runs {', '.join(i[:8] for i in ids)}; they differ in nothing the sweep swept (tag qboost.swept) -- "
        "give each method its own qboost.method tag, or compare one sweep at a time (--parent)"
    )


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, float, float]:
    """``(mean, std, low, high)`` of ``values`` (NaN dropped): the sample std (ddof 1) and the t-interval of the mean.

    One value: std and the interval are NaN. Equal values: the interval is the value itself.
    """
    from scipy import stats

    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if len(x) == 0:
        return (math.nan,) * 4
    if np.all(x == x[0]):
        # Equal values: the value itself (their float mean can fall an ulp outside them), nothing spread.
        return (float(x[0]), *((0.0, float(x[0]), float(x[0])) if len(x) > 1 else (math.nan,) * 3))
    mean = float(x.mean())
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(x) - 1)) * std / math.sqrt(len(x))
    return mean, std, mean - half, mean + half


def aggregate(long: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (dataset, method): ``n`` seeds and, for ``metric`` and :data:`SUMMARY_METRICS`, ``<m>_mean``, ``_std``,
    ``_ci_low``, ``_ci_high`` (95 % t-interval of the mean); plus ``lambda_mean``. Sorted by dataset, then ``metric``'s mean, best first."""
    from ..tracking import higher_is_better

    rows = []
    for (dataset, method), group in long.groupby(["dataset", "method"], sort=True):
        row = {"dataset": dataset, "method": method, "n": len(group)}
        for name in dict.fromkeys([metric, *SUMMARY_METRICS]):
            mean, std, low, high = t_interval(group[name].tolist())
            row.update({f"{name}_mean": mean, f"{name}_std": std, f"{name}_ci_low": low, f"{name}_ci_high": high})
        row["lambda_mean"] = float(group["lambda"].mean()) if group["lambda"].notna().any() else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    key = settle(table[f"{metric}_mean"])  # means an ulp apart are level: the stable order (by method) keeps them
    order = table.assign(_key=key).sort_values(["dataset", "_key"], ascending=[True, not higher_is_better(metric)], kind="stable").index
    return table.loc[order].reset_index(drop=True)
