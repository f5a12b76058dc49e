"""A tiny out-of-tree qboost-exp plugin: one sampler and one weak-learner set.

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
