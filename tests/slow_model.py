"""A classifier that takes as long as a test needs: ``model=sklearn model._target_=slow_model.SlowClassifier``.

The fault tests stop, kill or time out a job while it trains. A real job's
length depends on the machine's load; this one sleeps ``seconds`` (idle, so
it costs the shared machine nothing) and then fits a logistic regression, so
that the job is mid-training for a known window. Run with ``tests/`` on
PYTHONPATH (submitit's SLURM jobs inherit it).

``SLOW_MODEL_NO_SLEEP=1`` in the environment skips the sleep without
changing the job's config: a resumed sweep runs the job that was stopped
again, with the same composed config (so the same digest), at full speed.
"""

from __future__ import annotations

import os
import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class SlowClassifier(ClassifierMixin, BaseEstimator):
    """Sleep ``seconds``, then fit a standardised logistic regression."""

    def __init__(self, seconds: float = 0.0, random_state: int | None = None) -> None:
        self.seconds = seconds
        self.random_state = random_state

    def fit(self, X, y):
        if os.environ.get("SLOW_MODEL_NO_SLEEP") != "1":
            time.sleep(float(self.seconds))
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(random_state=self.random_state)).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def decision_function(self, X):
        return np.asarray(self.model_.decision_function(X))
