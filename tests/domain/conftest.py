"""Fixtures of the domain's tests."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split


@pytest.fixture(scope="module")
def wisc():
    """Wisconsin breast cancer as data frames: a stratified 60/40 split, ``(X_train, X_test, y_train, y_test)``."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.4, stratify=y, random_state=0)
