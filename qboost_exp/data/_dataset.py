"""The :class:`Dataset` record: one data set, already split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


# eq=False: the generated __eq__/__hash__ would compare numpy arrays, which
# raises; datasets compare by identity and by `digest`.
@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled data set split into training, validation and test parts.

    Attributes
    ----------
    name : str
        The data set's config name (``wisc``, ``digits``, ``synthetic``, ``csv``).
    X_train, X_val, X_test : ndarray of shape (n, n_features), float64
        ``X_val`` has 0 rows when ``split.validation_size`` is 0.
    y_train, y_val, y_test : ndarray of shape (n,)
        The original labels (int, float or str).
    feature_names : list of str
    source : str
        Where the data came from: file path(s) or the scikit-learn function.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    source: str

    @property
    def digest(self) -> str:
        """A short hex digest (16 characters of SHA-256) of the six arrays.

        Dtype and shape are hashed with the bytes, so equal digests mean equal
        splits; use it to tell data sets apart in experiment logs.
        """
        h = hashlib.sha256()
        for key in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
            arr = np.ascontiguousarray(getattr(self, key))
            h.update(f"{key}:{arr.dtype.str}:{arr.shape};".encode())
            h.update(arr.tobytes())
        return h.hexdigest()[:16]
