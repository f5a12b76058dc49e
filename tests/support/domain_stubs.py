"""Stand-ins the domain's tests build models from: learners with given outputs, and a quick annealer setting."""

from __future__ import annotations

import numpy as np

FAST_NEAL = {"num_reads": 20, "num_sweeps": 200}


class FixedLearner:
    """A 'learner' whose outputs are given: row ids in X[:, 0] index a column of H."""

    def __init__(self, column: np.ndarray) -> None:
        self.column = column

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.column[X[:, 0].astype(int)]


class FixedLearnerSet:
    """A weak-learner set with prescribed +-1 outputs (for exact objective checks)."""

    def __init__(self, H: np.ndarray) -> None:
        self.H = H

    def fit_candidates(self, X, y, random_state):
        return [FixedLearner(self.H[:, i]) for i in range(self.H.shape[1])]
