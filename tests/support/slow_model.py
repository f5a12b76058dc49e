"""A classifier that takes as long as a test needs: ``model=sklearn model._target_=slow_model.SlowClassifier``.

The fault tests stop, kill or time out a job while it trains. A real job's
length depends on the machine's load; this one sleeps ``seconds`` (idle, so
it costs the shared machine nothing) and then fits a logistic regression, so
that the job is mid-training for a known window. Run with ``tests/`` on
PYTHONPATH (submitit's SLURM jobs inherit it).

``SLOW_MODEL_NO_SLEEP=1`` in the environment skips the sleep without
changing the job's config: a resumed sweep runs the job that was stopped
again, with the same composed config (so the same digest), at full speed.

``SLOW_MODEL_MARKS=DIR`` in the environment makes ``fit`` create
``DIR/sleeping-<seconds>`` (``seconds`` as ``%g``) as its sleep begins: a test
waits for that file (:func:`wait_until_sleeping`), not for a guessed delay,
before it stops a job "mid-training".
"""

from __future__ import annotations

import os
import time
from pathlib import Path

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
            marks = os.environ.get("SLOW_MODEL_MARKS")
            if marks:
                Path(marks).mkdir(parents=True, exist_ok=True)
                mark(marks, self.seconds).touch()
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


def mark(marks: str | os.PathLike, seconds: float) -> Path:
    """The file a fit of ``seconds`` creates in ``marks`` when its sleep begins."""
    return Path(marks) / f"sleeping-{float(seconds):g}"


def wait_until_sleeping(marks: str | os.PathLike, seconds: float, process=None, timeout: float = 300) -> None:
    """Until a fit of ``seconds`` is in its sleep (its mark exists); fails if ``process`` ends first or after ``timeout``."""
    path = mark(marks, seconds)
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended ({process.returncode}) before a fit of {seconds:g} s began its sleep")
        if time.monotonic() > deadline:
            raise AssertionError(f"no fit of {seconds:g} s began its sleep within {timeout:g} s ({path} does not exist)")
        time.sleep(0.05)
