"""Choosing λ and the largest weight together, by cross-validation on the training data only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

CV_RULES = ("one_se", "best")


@dataclass
class GridPoint:
    lam: float
    max_weight: float | str  # a number, or "1/M" (resolved per fit: M is the number of candidates)


def choose(scores: np.ndarray, selected: np.ndarray, grid: Sequence[GridPoint], rule: str) -> int:
    """The index of the grid point to use, from per-split scores and selected counts.

    ``scores`` and ``selected`` have shape ``(n_splits, n_points)``. ``best``
    takes the highest mean score. ``one_se`` (the one-standard-error rule of
    Breiman et al.) takes, among the points whose mean score is within one
    standard error of the best, the one with the fewest learners on average:
    the sparsest model the data cannot tell apart from the best. Ties go to
    the larger λ, then to the smaller largest weight.
    """
    mean = scores.mean(axis=0)
    best = int(np.argmax(mean))
    if rule == "one_se" and scores.shape[0] > 1:
        se = scores[:, best].std(ddof=1) / np.sqrt(scores.shape[0])
        eligible = np.flatnonzero(mean >= mean[best] - se)
    else:
        eligible = np.flatnonzero(mean == mean[best])
    size = selected.mean(axis=0)

    def key(i: int) -> tuple[float, float, float]:
        w = grid[i].max_weight
        return (size[i] if rule == "one_se" else 0.0, -grid[i].lam, 0.0 if isinstance(w, str) else float(w))

    return min(eligible, key=key)


def cross_validate(
    grid: Sequence[GridPoint],
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    fit_split: Callable[[np.ndarray, np.ndarray], Callable[[GridPoint], tuple[float, int]]],
    rule: str,
    verbose: int = 0,
) -> tuple[GridPoint, dict[str, Any]]:
    """Score every grid point on every split and choose one.

    ``fit_split(train, val)`` prepares one split (fits the candidates on
    ``train``) and returns a function scoring one grid point on ``val``:
    ``(accuracy, learners selected)``.
    """
    scores = np.zeros((len(splits), len(grid)))
    selected = np.zeros((len(splits), len(grid)))
    for s, (train, val) in enumerate(splits):
        score = fit_split(train, val)
        for g, point in enumerate(grid):
            scores[s, g], selected[s, g] = score(point)
        if verbose:
            done = choose(scores[: s + 1], selected[: s + 1], grid, rule)
            print(
                f"  lambda search: split {s + 1}/{len(splits)} done, "
                f"best so far lambda={grid[done].lam:g} max_weight={grid[done].max_weight}",
                flush=True,
            )
    chosen = choose(scores, selected, grid, rule)
    details = {
        "lam": np.array([p.lam for p in grid]),
        "max_weight": [p.max_weight for p in grid],
        "split_scores": scores,
        "split_selected": selected,
        "mean_score": scores.mean(axis=0),
        "mean_selected": selected.mean(axis=0),
        "rule": rule,
        "chosen": chosen,
    }
    return grid[chosen], details
