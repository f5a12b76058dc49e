"""The benchmark's tests: paired per dataset against a reference method, and ranks across datasets.

- **Paired, per dataset** (:func:`paired_tests`): each method against the
  reference (``--against``, default ``qboost``) on the seeds both ran: wins,
  ties (equal values) and losses, the mean difference, and the Wilcoxon
  signed-rank test's two-sided p-value (``scipy.stats.wilcoxon``; zero
  differences are dropped, as Wilcoxon's own rule; all zero: p = 1).
- **Across datasets** (:func:`rank_methods`, :func:`friedman`,
  :func:`critical_difference`): each dataset ranks the methods by their mean
  (rank 1 the best, ties share the average rank); the Friedman test on those
  ranks (``scipy.stats.friedmanchisquare``, with the Iman-Davenport F), and
  the Nemenyi critical difference of Demšar (JMLR 7, 2006):
  ``CD = q_alpha * sqrt(k (k + 1) / (6 N))``, ``q_alpha`` the studentized
  range's quantile (infinite degrees of freedom) over sqrt(2). Two methods
  whose average ranks differ by less than CD are not told apart.

Ties and signs are decided on values rounded to :data:`DECIMALS` places
(:func:`settle`): a win and a loss of one size are a mean difference of 0, not
-5.6e-17, and the means of one set of accuracies summed in another order rank
level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..tracking import higher_is_better
from ._aggregate import BenchmarkError, settle

#: The significance level of the Nemenyi test and of the critical-difference diagram.
ALPHA = 0.05


def _wilcoxon(differences: np.ndarray) -> tuple[float, str]:
    """Two-sided p-value of the Wilcoxon signed-rank test of ``differences``, and a note."""
    from scipy.stats import wilcoxon

    if len(differences) == 0:
        return math.nan, "no common seed"
    if not np.any(differences):
        return 1.0, "all differences zero: p = 1"
    nonzero = int(np.count_nonzero(differences))
    note = f"{len(differences) - nonzero} zero difference(s) dropped" if nonzero < len(differences) else ""
    return float(wilcoxon(differences, zero_method="wilcox", alternative="two-sided").pvalue), note


def _direction(mean_difference: float, metric: str) -> str:
    if math.isnan(mean_difference) or mean_difference == 0:
        return "level"
    better = mean_difference > 0 if higher_is_better(metric) else mean_difference < 0
    return "better" if better else "worse"


def check_reference(long: pd.DataFrame, against: str) -> None:
    """Raise :class:`BenchmarkError` when no run is of the method ``against`` (the message lists the methods)."""
    methods = sorted(set(long["method"]))
    if against not in methods:
        raise BenchmarkError(f"--against {against}: no such method among the runs; methods: {', '.join(methods) or '(none)'}")


def paired_tests(long: pd.DataFrame, metric: str, against: str) -> pd.DataFrame:
    """Each method against ``against``, per dataset, on the seeds both have.

    Returns one row per (dataset, method): ``pairs``, ``wins``, ``ties``,
    ``losses`` (from the method's side: a win is a seed where it is better on
    ``metric``), ``mean_difference`` (method minus reference), ``p_value``
    (Wilcoxon, two-sided), ``direction`` (``better``, ``worse`` or ``level``
    than the reference, by the mean difference) and ``note``.
    """
    check_reference(long, against)
    up = higher_is_better(metric)
    rows = []
    for dataset, runs in long.groupby("dataset", sort=True):
        values = runs.pivot(index="seed", columns="method", values=metric)
        if against not in values.columns:
            continue
        for method in [m for m in values.columns if m != against]:
            both = values[[method, against]].dropna()
            diff = settle((both[method] - both[against]).to_numpy(dtype=float))
            wins, losses = int(np.sum(diff > 0 if up else diff < 0)), int(np.sum(diff < 0 if up else diff > 0))
            mean = float(settle(diff.mean())) if len(diff) else math.nan
            p_value, note = _wilcoxon(diff)
            rows.append({"dataset": dataset, "method": method, "against": against, "pairs": len(diff), "wins": wins,
                         "ties": len(diff) - wins - losses, "losses": losses, "mean_difference": mean, "p_value": p_value,
                         "direction": _direction(mean, metric), "note": note})
    return pd.DataFrame(rows, columns=["dataset", "method", "against", "pairs", "wins", "ties", "losses", "mean_difference", "p_value", "direction", "note"])


@dataclass
class RankResult:
    """Ranks across datasets: the table, the tests, and why a test was not run (``notes``)."""

    ranks: pd.DataFrame  # datasets x methods, rank 1 = best; plus the row "average rank"
    average: pd.Series  # method -> average rank, best first
    datasets: int
    methods: int
    friedman_statistic: float = math.nan
    friedman_p: float = math.nan
    iman_davenport_f: float = math.nan
    iman_davenport_p: float = math.nan
    cd: float = math.nan
    alpha: float = ALPHA
    nemenyi_p: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def testable(self) -> bool:
        return self.datasets >= 2 and self.methods >= 2


def ranked_means(long: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, list[str]]:
    """Datasets x methods: each method's mean ``metric`` over the seeds every ranked method finished on that dataset.

    The ranked methods are those with a value on every dataset; per dataset,
    the means are taken over the seeds they all have (paired, as Friedman's
    blocks need), rounded by :func:`settle`. Returns the table and notes: the
    methods left out, and which dataset lost which seeds. A dataset on which
    the ranked methods share no seed is left out (a note says so).
    """
    values = long.pivot_table(index=["dataset", "seed"], columns="method", values=metric, aggfunc="first")
    notes = []
    present = values.notna().groupby(level="dataset").any()
    methods = [m for m in present.columns if present[m].all()]
    dropped = sorted(set(present.columns) - set(methods))
    if dropped:
        notes.append(f"left out of the ranks (not run on every dataset): {', '.join(dropped)}")
    rows, lost, empty = {}, [], []
    for dataset, block in values[methods].groupby(level="dataset", sort=True):
        block = block.droplevel("dataset")
        common = block.dropna()
        missing = sorted(set(block.index) - set(common.index))
        if common.empty:
            empty.append(str(dataset))
            continue
        if missing:
            lost.append(f"{dataset} seed(s) {', '.join(map(str, missing))}")
        rows[dataset] = settle(common.mean().to_numpy(dtype=float))
    if lost:
        notes.append(f"ranked on the seeds every ranked method finished (paired means); left out: {'; '.join(lost)}")
    if empty:
        notes.append(f"left out of the ranks (no seed every ranked method finished): {', '.join(empty)}")
    means = pd.DataFrame.from_dict(rows, orient="index", columns=methods) if rows else pd.DataFrame(columns=methods, dtype=float)
    means.index.name, means.columns.name = "dataset", "method"
    return means, notes


def rank_methods(means: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Datasets x methods ranks of ``means`` (:func:`ranked_means`): 1 = best by ``metric``'s direction, ties averaged."""
    from scipy.stats import rankdata

    sign = -1.0 if higher_is_better(metric) else 1.0
    return means.apply(lambda row: pd.Series(rankdata(sign * row.to_numpy(dtype=float)), index=row.index), axis=1)


def critical_difference(k: int, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """``(q_alpha, CD)`` of the Nemenyi test for ``k`` methods on ``n`` datasets (Demšar 2006, section 3.2.2).

    >>> q, cd = critical_difference(4, 14)
    >>> round(q, 3), round(cd, 2)
    (2.569, 1.25)
    """
    from scipy.stats import studentized_range

    q = float(studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    return q, q * math.sqrt(k * (k + 1) / (6 * n))


def friedman(values: pd.DataFrame) -> tuple[float, float, float, float]:
    """``(chi2, p, F, p_F)``: the Friedman test of the methods (columns) over the datasets (rows), and Iman-Davenport's F.

    ``values`` are ranked within each row by ``scipy.stats.friedmanchisquare``
    (with its tie correction), smallest first: hand it ranks, or values signed
    so that smaller is better. Needs 3 methods or more (scipy), and a row
    whose values differ (all level: scipy's statistic is 0/0).
    """
    from scipy.stats import f as f_dist
    from scipy.stats import friedmanchisquare

    n, k = values.shape
    chi2, p = friedmanchisquare(*[values[c].to_numpy(dtype=float) for c in values.columns])
    chi2, p = float(chi2), float(p)
    denominator = n * (k - 1) - chi2
    if denominator <= 0:  # every dataset ranks the methods alike: F is infinite
        return chi2, p, math.inf, 0.0
    f_value = (n - 1) * chi2 / denominator
    return chi2, p, f_value, float(f_dist.sf(f_value, k - 1, (k - 1) * (n - 1)))


#: The note when no dataset tells the methods apart.
ALL_LEVEL = "all methods level on every dataset: no test"


def across_datasets(long: pd.DataFrame, metric: str, alpha: float = ALPHA) -> RankResult:
    """Average ranks, Friedman, Iman-Davenport and the Nemenyi CD of the per-seed rows ``long``; what cannot be computed is said in ``notes``."""
    means, notes = ranked_means(long, metric)
    ranks = rank_methods(means, metric)
    n, k = ranks.shape
    result = RankResult(ranks=ranks, average=ranks.mean().sort_values(), datasets=n, methods=k, alpha=alpha, notes=notes)
    if not result.testable:
        result.notes.append(f"no test across datasets: it needs 2 datasets and 2 methods or more, here {n} dataset(s) x {k} method(s)")
        return result
    result.cd = critical_difference(k, n, alpha)[1]
    sign = -1.0 if higher_is_better(metric) else 1.0
    # scipy and scikit-posthocs rank each row themselves, smallest first: signed means make rank 1 the best.
    values = sign * means
    result.nemenyi_p = _nemenyi(values)
    if (ranks.nunique(axis=1) == 1).all():
        # scipy's Friedman statistic would be 0/0 (NaN, with a RuntimeWarning): nothing to test.
        result.notes.append(ALL_LEVEL)
        return result
    if k < 3:
        result.notes.append("Friedman needs 3 methods or more (with 2, see the paired table's Wilcoxon tests)")
        return result
    result.friedman_statistic, result.friedman_p, result.iman_davenport_f, result.iman_davenport_p = friedman(values)
    return result


def _nemenyi(values: pd.DataFrame) -> pd.DataFrame:
    """Pairwise Nemenyi p-values (scikit-posthocs' ``posthoc_nemenyi_friedman``) of the methods (columns) over the datasets, smaller values better."""
    import scikit_posthocs

    return scikit_posthocs.posthoc_nemenyi_friedman(values.to_numpy(dtype=float)).set_axis(values.columns, axis=0).set_axis(values.columns, axis=1)
