"""What every WeightedVote (QBoost and the dictionary baselines) counts: its selected learners that vary on the training data."""

from __future__ import annotations

import numpy as np

from qboost_exp.domain.baselines import LassoClassifier
from qboost_exp.domain.vote import Choice, WeightedVote


class _Fixed:
    """A fitted learner: ``value`` everywhere (constant), or the sign of column 0."""

    def __init__(self, value=None):
        self.value = value

    def predict(self, X):
        return np.full(len(X), self.value, dtype=float) if self.value is not None else np.where(X[:, 0] > 0, 1.0, -1.0)


class _Dictionary:
    """A weak-learner set of two constant learners and two that vary."""

    def fit_candidates(self, X, y, random_state):
        return [_Fixed(1.0), _Fixed(), _Fixed(-1.0), _Fixed()]


class _AllOf(WeightedVote):
    """Selects every candidate, as QBoost may: its constant learners act as its bias."""

    def __init__(self, weak_learners=None, cv=None, cv_rule="one_se", random_state=None):
        self.weak_learners, self.cv, self.cv_rule, self.random_state = weak_learners, cv, cv_rule, random_state

    def _choose_weights(self, X, y_pm, learner_set, rng):
        candidates = self._fit_candidates(learner_set, X, y_pm, rng)
        return Choice(candidates, np.array([0.5, 1.0, 0.25, 0.0]), 0.0, selected=np.arange(4))


def test_selected_counts_constant_learners_and_n_selected_varying_does_not():
    X = np.linspace(-1, 1, 20).reshape(-1, 1)
    y = (X[:, 0] > 0).astype(int)
    model = _AllOf(weak_learners=_Dictionary()).fit(X, y)
    assert len(model.selected_indices_) == 4  # the annealer's choice, a weight of 0 after a refit included
    assert model.n_selected_varying_ == 2


def test_a_baseline_with_an_intercept_selects_only_varying_learners():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    model = LassoClassifier(max_learners=5, random_state=0).fit(X, y)
    assert model.n_selected_varying_ == len(model.selected_indices_) >= 1
    assert isinstance(model.n_selected_varying_, int)
