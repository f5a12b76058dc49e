"""A tiny out-of-tree qboost-exp plugin: one sampler, one weak-learner set and one baseline.

It is registered through the entry points in
``qboost_demo_plugin-0.1.dist-info/entry_points.txt``, exactly as
``pip install`` of a package declaring them would register it.
"""

from __future__ import annotations

import dimod
import numpy as np
from dwave.samplers import SteepestDescentSolver
from sklearn.linear_model import LogisticRegression

from qboost_exp import WeakLearnerSet
from qboost_exp.domain.vote import Choice, WeightedVote


class RestartingDescent(dimod.Sampler):
    """Steepest descent from many random starts (a toy annealer)."""

    parameters = {"num_reads": [], "seed": []}
    properties: dict = {}

    def __init__(self, restarts: int = 50) -> None:
        self.restarts = restarts

    def sample(self, bqm, num_reads=None, seed=None):
        return SteepestDescentSolver().sample(bqm, num_reads=num_reads or self.restarts, seed=seed)


def make_restarting_descent(restarts: int = 50) -> RestartingDescent:
    return RestartingDescent(restarts=restarts)


class FeaturePairLogistic(WeakLearnerSet):
    """Logistic regressions on random pairs of features."""

    def __init__(self, n_pairs: int = 8, C: float = 1.0) -> None:
        self.n_pairs = n_pairs
        self.C = C

    def fit_candidates(self, X, y, random_state):
        from qboost_exp.domain.weak_learners import SubspaceLearner

        learners = []
        for _ in range(self.n_pairs):
            pair = sorted(random_state.choice(X.shape[1], size=2, replace=False).tolist())
            model = LogisticRegression(C=self.C, max_iter=500).fit(X[:, pair], y)
            learners.append(SubspaceLearner(model, pair))
        return learners


class GreedyVote(WeightedVote):
    """Forward selection over QBoost's dictionary: ``k`` learners, each the one that best fits what is left.

    A baseline in a dozen lines: :class:`WeightedVote` owns ``fit``, the
    fitted attributes, the prediction methods and the compiled form; this
    class only chooses the weights. Its ``weak_learners`` argument makes the
    registry hand it the run's weak-learner set.
    """

    def __init__(self, weak_learners="adaboost", k: int = 5, random_state=None) -> None:
        self.weak_learners = weak_learners
        self.k = k
        self.random_state = random_state

    def _choose_weights(self, X, y_pm, learner_set, rng) -> Choice:
        candidates = self._fit_candidates(learner_set, X, y_pm, rng)
        H = np.column_stack([c.predict(X) for c in candidates]).astype(float)
        chosen: list[int] = []
        residual = y_pm.astype(float)
        for _ in range(min(self.k, H.shape[1])):
            scores = np.abs(H.T @ residual)
            scores[chosen] = -np.inf
            chosen.append(int(np.argmax(scores)))
            design = np.column_stack([H[:, chosen], np.ones(len(y_pm))])
            coef, *_ = np.linalg.lstsq(design, y_pm.astype(float), rcond=None)
            residual = y_pm - design @ coef
        weights = np.zeros(H.shape[1])
        weights[chosen] = coef[:-1]
        return Choice(candidates, weights, float(coef[-1]), selected=np.array(sorted(chosen)))
