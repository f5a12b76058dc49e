"""How the annealer chooses the weights: one QUBO over every candidate, or iterative QBoost.

A *fitter* holds the candidates' packed predictions on the data it fits and
answers ``fit(penalty, max_weight, solve)`` with weights for every candidate
(with ``fit_intercept``, over the centred statistics: the objective at its
best intercept, :func:`best_intercept`);
``penalty`` is the energy a selected learner costs (``lam * max_weight``, see
:func:`._qubo.selection_penalty`). ``solve(stats, penalty, max_weight)`` solves
one QUBO (see :mod:`._sampling`), so the fitters are independent of the sampler.

Iterative QBoost (Neven, Denchev, Rose and Macready, ACML 2012) takes a
dictionary larger than one QUBO: the candidates in windows of ``window``
learners, each window's weights solved as a QUBO *given the strong classifier
built so far*, whose margin enters the linear terms as a residual. The first
pass over the windows is the paper's algorithm: every earlier window is a
fixed prefix. Later passes (``max_rounds`` beyond the number of windows)
re-solve each window given all the others, a block-coordinate descent on the
same objective. Every round's QUBO has exactly the energy of the full
objective, up to the constant penalty of the learners outside the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ._qubo import GramStatistics, PackedPredictions, gram_statistics, qboost_objective, residual_statistics
from ._sampling import PathSolution, Solution
from ..errors import QBoostError

STRATEGIES = ("one_shot", "iterative")

#: ``solve(stats, penalty, max_weight) -> Solution``: one QUBO, solved.
Solve = Callable[[GramStatistics, float, float], Solution]
#: ``solve_path(stats, penalties, max_weight) -> (solutions, sampler calls)``: the QUBOs of several penalties at once.
SolvePath = Callable[[GramStatistics, Sequence[float], float], tuple[list[PathSolution], int]]


@dataclass
class FitResult:
    weights: np.ndarray
    solutions: list[Solution]
    rounds: list[dict[str, Any]] | None = field(default=None)


def packed_predictions(candidates: Sequence[Any], X: np.ndarray) -> PackedPredictions:
    """Every candidate's +-1 predictions on ``X``, one bit each, checked on the way."""

    def rows():
        for i, learner in enumerate(candidates):
            h = np.asarray(learner.predict(X))
            if h.shape != (X.shape[0],) or not np.all((h == 1) | (h == -1)):
                raise QBoostError(f"candidate learner {i} ({learner!r}) must predict -1 or +1 for every sample")
            yield h

    return PackedPredictions.from_rows(rows(), X.shape[0])


def best_intercept(predictions: PackedPredictions, y_pm: np.ndarray, weights: np.ndarray) -> float:
    """The intercept ``b`` that minimises the squared loss of ``weights``' vote: ``mean(y - vote)``."""
    selected = np.flatnonzero(weights)
    return float(np.mean(y_pm - predictions.combine(selected, weights[selected])))


class _Fitter:
    """What both fitters answer about a weight vector over their candidates (``predictions``, ``y``, ``fit_intercept``)."""

    predictions: PackedPredictions
    y: np.ndarray
    fit_intercept: bool

    def intercept(self, weights: np.ndarray) -> float:
        """The vote's intercept: its best value with ``fit_intercept``, else 0."""
        return best_intercept(self.predictions, self.y, weights) if self.fit_intercept else 0.0

    def objective(self, weights: np.ndarray, penalty: float) -> float:
        """The training objective of ``weights``, at that intercept, ``penalty`` per selected learner."""
        return qboost_objective(weights, self.predictions, self.y, penalty, margin=self.intercept(weights))


class OneShot(_Fitter):
    """One QUBO over all candidates (QBoost as D-Wave's demo solves it); ``fit_intercept`` centres it."""

    def __init__(self, predictions: PackedPredictions, y_pm: np.ndarray, fit_intercept: bool = False) -> None:
        self.predictions, self.y, self.fit_intercept = predictions, y_pm, fit_intercept
        stats = gram_statistics(predictions, y_pm)
        self.stats = stats.centred() if fit_intercept else stats

    def fit(self, penalty: float, max_weight: float, solve: Solve) -> FitResult:
        """Weights for every candidate: one QUBO with ``penalty`` per selected learner."""
        solution = solve(self.stats, penalty, max_weight)
        return FitResult(weights=solution.weights, solutions=[solution])

    def fit_path(self, penalties: Sequence[float], max_weight: float, solve_path: SolvePath) -> tuple[list[np.ndarray], int]:
        """Weights for every candidate at each of ``penalties`` (the λ search), and the sampler calls made.

        The QUBOs differ only in the penalty, so one pool of samples serves
        them all (see :func:`._sampling.solve_path`). Iterative QBoost has no
        such path: the search fits it once per penalty.
        """
        solutions, calls = solve_path(self.stats, penalties, max_weight)
        return [s.weights for s in solutions], calls


class Iterative(_Fitter):
    """Iterative QBoost over windows of ``window`` candidates (see the module docstring).

    Parameters
    ----------
    predictions, y_pm
        The candidates' packed predictions and the +-1 labels of the data fitted.
    window : int
        Candidates per QUBO.
    max_rounds : int or None
        QUBOs solved at most; ``None`` means one pass over the windows.
    n_iter_no_change : int or None
        Stop when the objective has not improved for this many rounds (on
        ``validation`` when given, else on the fitted data).
    validation : tuple (dense +-1 predictions (n_val, M), +-1 labels) or None
    fit_intercept : bool
        Solve each window at the best intercept (centred statistics).
    """

    def __init__(
        self,
        predictions: PackedPredictions,
        y_pm: np.ndarray,
        window: int,
        max_rounds: int | None = None,
        n_iter_no_change: int | None = None,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        fit_intercept: bool = False,
    ) -> None:
        self.predictions, self.y, self.fit_intercept = predictions, y_pm, fit_intercept
        m = predictions.n_learners
        self.windows = [np.arange(start, min(start + window, m)) for start in range(0, m, window)]
        self.max_rounds = max_rounds
        self.n_iter_no_change = n_iter_no_change
        self.validation = validation
        # G of each window does not depend on the margin: computed once, reused by every round and grid point.
        self._hh = [gram_statistics(predictions.subset(w), y_pm).hh for w in self.windows]

    def fit(self, penalty: float, max_weight: float, solve: Solve) -> FitResult:
        """Weights for every candidate, window by window; ``rounds`` holds each round's objective.

        A round's objective is the full objective with ``penalty`` per
        selected learner: from the QUBO's energy (whose penalty covers the
        window only) plus the learners outside the window, or on
        ``validation`` when given.
        """
        m = self.predictions.n_learners
        weights = np.zeros(m)
        margin = np.zeros(self.predictions.n_samples)
        solutions, rounds = [], []
        best = (np.inf, weights.copy())
        stalled = 0
        n_rounds = self.max_rounds or len(self.windows)
        for r in range(n_rounds):
            k = r % len(self.windows)
            window = self.windows[k]
            old = weights[window]
            used = np.flatnonzero(old)
            rest = margin - self.predictions.combine(window[used], old[used])
            stats = residual_statistics(self.predictions.subset(window), self.y, rest, hh=self._hh[k])
            if self.fit_intercept:
                stats = stats.centred()
            solution = solve(stats, penalty, max_weight)
            solutions.append(solution)
            weights[window] = solution.weights
            new = np.flatnonzero(solution.weights)
            margin = rest + self.predictions.combine(window[new], solution.weights[new])
            outside = np.count_nonzero(weights) - len(new)
            objective = solution.energy + penalty * outside
            if self.validation is not None:
                h_val, y_val = self.validation
                objective = qboost_objective(weights, h_val, y_val, penalty, margin=self.intercept(weights))
            rounds.append({
                "round": r + 1,
                "window": [int(window[0]), int(window[-1]) + 1],
                "selected": int(np.count_nonzero(weights)),
                "objective": float(objective),
            })
            if objective < best[0] - 1e-12:
                best, stalled = (objective, weights.copy()), 0
            else:
                stalled += 1
            if self.n_iter_no_change and stalled >= self.n_iter_no_change:
                break
        return FitResult(weights=best[1], solutions=solutions, rounds=rounds)
