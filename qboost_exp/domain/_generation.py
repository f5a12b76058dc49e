"""Candidates in rounds: new trees fitted to what the chosen vote still gets wrong.

Iterative QBoost (Neven, Denchev, Rose and Macready, ACML 2012) adds fresh
weak learners in each round and re-solves the QUBO over the survivors (the
learners selected so far) plus the newcomers; with the whole vote re-solved
every round this is totally corrective boosting (Denchev et al. 2015) by
column generation. The round's newcomers are priced as column generation
prices columns: the QUBO's linear term rewards a learner ``h`` by its
correlation ``h'r`` with the residual ``r = y - (vote + intercept)``, and a
``{-1, +1}`` tree fitted to the labels ``sign(r)`` with sample weights
``|r|`` seeks a large one: ``h'r = sum |r| - 2 * (its weighted
misclassification)``. Approximately: CART splits by Gini impurity, a
surrogate, not by the misclassification itself. Each newcomer sees a bootstrap draw
(as sample weights, so every tree is a bare ``DecisionTreeClassifier`` the
serving compiler takes) and half the features per split, for diversity.

The rounds stop when a round's QUBO keeps no newcomer or does not lower
the objective (the penalty included); the best round is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from .._seeds import draw_seed

#: Features each newcomer's splits choose among (a fraction, as scikit-learn's ``max_features``).
NEWCOMER_MAX_FEATURES = 0.5


def residual_trees(
    X: np.ndarray, residual: np.ndarray, n_trees: int, max_depth: int, rng: np.random.RandomState
) -> list[DecisionTreeClassifier]:
    """``n_trees`` trees, each fitted to ``sign(residual)`` weighted by ``|residual|`` on a bootstrap draw.

    Returns fewer (none) when the residual is zero on every sample drawn.
    """
    signs = np.where(residual > 0, 1, -1)
    magnitude = np.abs(residual)
    n_samples = len(residual)
    trees = []
    for _ in range(n_trees):
        weight = magnitude * np.bincount(rng.randint(0, n_samples, n_samples), minlength=n_samples)
        seed = draw_seed(rng)
        if not np.any(weight > 0):
            continue
        tree = DecisionTreeClassifier(max_depth=max_depth, max_features=NEWCOMER_MAX_FEATURES, random_state=seed)
        trees.append(tree.fit(X, signs, sample_weight=weight))
    return trees


@dataclass
class Round:
    """One state of the rounds: the pool of candidates, its fitter (``OneShot``), the QUBO's answer and its objective."""

    candidates: list[Any]
    fitter: Any
    result: Any
    objective: float


def grow(
    start: Round,
    X: np.ndarray,
    solve_pool: Callable[[list[Any]], Round],
    rounds: int,
    size: int,
    max_depth: int,
    rng: np.random.RandomState,
    max_pool: int | None = None,
) -> tuple[Round, list[dict[str, Any]], list[Any]]:
    """Up to ``rounds`` rounds from ``start``; returns the best state, each round's record and every QUBO solution.

    ``solve_pool(candidates)`` fits a fitter over ``candidates`` and solves
    its QUBO at the chosen penalty and largest weight.
    ``max_pool``: the most candidates one QUBO may hold (the sampler's
    capacity); a round brings fewer newcomers when the survivors fill it.
    """
    best, records, solutions = start, [], []
    for r in range(rounds):
        weights = best.result.weights
        survivors = np.flatnonzero(weights)
        predictions, y = best.fitter.predictions, best.fitter.y
        vote = predictions.combine(survivors, weights[survivors]) + best.fitter.intercept(weights)
        room = size if max_pool is None else min(size, max_pool - len(survivors))
        if room < 1:
            break
        newcomers = residual_trees(X, y - vote, room, max_depth, rng)
        pool = [best.candidates[i] for i in survivors] + newcomers
        state = solve_pool(pool)
        solutions.extend(state.result.solutions)
        # Newcomers the pool kept (it may drop duplicates) sit after the survivors.
        kept_new = int(np.count_nonzero(state.result.weights[len(survivors) :])) if len(state.candidates) > len(survivors) else 0
        improved = state.objective < best.objective - 1e-12
        records.append({
            "round": r + 1,
            "candidates": len(state.candidates),
            "newcomers_selected": kept_new,
            "selected": int(np.count_nonzero(state.result.weights)),
            "objective": float(state.objective),
            "accepted": bool(improved and kept_new),
        })
        if not (improved and kept_new):
            break
        best = state
    return best, records, solutions
